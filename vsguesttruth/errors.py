"""The one error hierarchy users see. Every message is one line that says what to do.

The CLI catches :class:`VsgtError`, prints ``error: <message>`` on stderr and exits 3, never with a
traceback; the plugin API answers a :class:`MoveRefused` with 409 and a failed move with 502. Messages never carry a password. The tree, by
where it is raised::

    VsgtError                          vsguesttruth.errors: the base; any message is made one line
    ├── ConfigError                    a config file, option or setting is wrong or incomplete (file and key named)
    ├── policy.PolicyError             a service level or guest policy that cannot be accepted (also a ValueError)
    ├── MoveRefused                    the planner will not move this VM (healthy, APD, no fitting host): the reason
    ├── vcenter.ConnectError           vCenter unreachable: refused, timed out, reset, not a vSphere endpoint
    │   ├── vcenter.CertificateError   its TLS certificate is not trusted or not the pinned one (``seen_thumbprint``)
    │   └── vcenter.extension.PluginUrlError   the plugin URL does not answer like our plugin server
    ├── vcenter.AuthError              wrong user name or password, or a missing privilege (named)
    ├── vcenter.SessionExpired         the session ended and could not be renewed (or the connection is closed)
    ├── vcenter.NotFound               a named host, VM or datastore does not exist
    ├── vcenter.TaskFailed             a vCenter task failed, or did not finish in time (and was cancelled)
    ├── vcenter.ApiError               vCenter refused a call with a fault we did not expect
    │   └── vcenter.extension.PermissionDenied   an Extension.* privilege is missing
    ├── lab.LabError                   the SAN lab cannot be built, started, reached or faulted
    └── lab.LabGuestError              a lab VM's simulated guest cannot be built

Not errors of this tree: ``vcenter.Transient`` is a failure another attempt can cure (the retry policy
consumes it, a caller never sees it); ``guestinfo.DocumentError`` and ``guestinfo.RequestError`` (ValueError)
say why a value a guest wrote is refused, and become the guest's answer, not an error of ours.

The in-guest agent (``vsguesttruth_guest``, its own distribution) has its own tree, one exit code each::

    GuestError                         exit 7 unless said: the message is one line on stderr
    ├── NotInVm                        exit 3: no VMware hypervisor under this system
    ├── ToolsMissing                   exit 4: no vmware-rpctool / vmtoolsd
    ├── NoDocument                     exit 5: the key has no value yet
    ├── BadDocument                    exit 6: a value the agent cannot use
    │   └── NewerSchema                exit 6: written for a newer schema than the agent knows
    ├── RpcFailed                      exit 7: the RPC tool failed or did not answer in time
    └── WaitTimeout                    exit 8: ``--wait`` got no answer in time
"""

from __future__ import annotations


class VsgtError(Exception):
    """Base of every error vsguesttruth reports to a person."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # one line, whatever the cause said

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(VsgtError):
    """A config file, option or setting is wrong or incomplete."""


class MoveRefused(VsgtError):
    """A move the planner refuses (the VM is healthy, its storage is in APD, no host fits): nothing was tried."""
