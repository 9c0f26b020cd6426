"""The SAN lab from Python: a simulated vCenter (``lab/``, a Go program on the govmomi simulator) with a
real SAN topology and fault injection, and simulated guests of its VMs for the in-guest agent.

- :mod:`.control`: build, start, inspect, fault, crash and stop the lab (:class:`Lab`, its HTTP control API);
- :mod:`.guest`: a lab VM seen from inside (:func:`build_guest`, :func:`run_agent`: ``vsguesttruth lab guest``),
  made of :mod:`.sysfs` (the devices Linux shows for the VM's virtual disks) and :mod:`.rpctool` (a stand-in
  ``vmware-rpctool`` serving the VM's guestinfo from its extraConfig).

Lab tooling, not the product: the service never imports it; the CLI's ``lab`` commands, the tests, the
benchmark and the demo do.
"""

from __future__ import annotations

from .control import FAULT_KINDS, TASK_MODES, Lab, LabError, LabInfo
from .guest import Guest, agent_command, build_guest, run_agent
from .sysfs import VMWARE, FakeSys, LabGuestError, naa_of

__all__ = [
    "FAULT_KINDS", "TASK_MODES", "VMWARE", "FakeSys", "Guest", "Lab", "LabError", "LabGuestError", "LabInfo",
    "agent_command", "build_guest", "naa_of", "run_agent",
]
