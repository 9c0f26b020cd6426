"""What can go wrong inside the guest: one exception per case, each with its own exit code.

| code | meaning |
|---|---|
| 0 | fine (``status``: every disk healthy; requests: accepted or done) |
| 1 | something is not healthy (``status``), or a request was refused or failed |
| 2 | wrong usage (bad option, invalid policy or request) |
| 3 | not running in a VMware virtual machine |
| 4 | VMware Tools missing: no ``vmware-rpctool`` / ``vmtoolsd`` to talk to the host |
| 5 | nothing published yet (no state document, no response, no policy) |
| 6 | the document cannot be used: a newer schema than this agent knows, or undecodable |
| 7 | the guest RPC failed (the tool errored or did not answer in time) |
| 8 | ``--wait`` gave up: no answer within ``--timeout`` |
| 130 | interrupted |
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNHEALTHY = 1
EXIT_USAGE = 2
EXIT_NOT_VM = 3
EXIT_NO_TOOLS = 4
EXIT_NO_DOCUMENT = 5
EXIT_BAD_DOCUMENT = 6
EXIT_RPC = 7
EXIT_TIMEOUT = 8
EXIT_INTERRUPTED = 130


class GuestError(Exception):
    """An expected failure: the CLI prints its message as one line and exits with ``exit_code``."""

    exit_code = EXIT_RPC


class NotInVm(GuestError):
    """No VMware hypervisor under this system."""

    exit_code = EXIT_NOT_VM


class ToolsMissing(GuestError):
    """No guest RPC tool (VMware Tools / open-vm-tools not installed, or the given path is wrong)."""

    exit_code = EXIT_NO_TOOLS


class NoDocument(GuestError):
    """The key has no value yet."""

    exit_code = EXIT_NO_DOCUMENT


class BadDocument(GuestError):
    """A value that this agent cannot use (undecodable, wrong shape)."""

    exit_code = EXIT_BAD_DOCUMENT


class NewerSchema(BadDocument):
    """A document written for a newer schema version than this agent understands."""


class RpcFailed(GuestError):
    """The RPC tool ran but failed, or did not answer within its timeout."""

    exit_code = EXIT_RPC


class WaitTimeout(GuestError):
    """No answer arrived within the time allowed."""

    exit_code = EXIT_TIMEOUT
