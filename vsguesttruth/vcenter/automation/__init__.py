"""vCenter's Automation API (the vSphere Automation SDK, ``vmware-vcenter``): the one place that speaks it.

SOAP (pyVmomi) has no tags, no VM data sets and no clone-ticket endpoint; the Automation API has. Every use of
the SDK is in this package, in the vCenter edge; what leaves it is plain data and the project's errors
(:mod:`vsguesttruth.errors`), never a vAPI type:

- :mod:`.transport`: HTTP to ``/api`` with the connection's TLS trust (verified, pinned or ``--insecure``);
- :mod:`.session`: :class:`Automation`, the logged-in session (same settings as SOAP), logged in again when
  it ends, vAPI errors translated;
- :mod:`.tagging`: :class:`Tagging`, which objects carry which tags, in one batch; attach and detach;
- :mod:`.datasets`: :class:`VmDataSets`, a VM's data sets and their entries;
- :mod:`.ticket`: :class:`CloneTickets`, the vSphere Client user's clone ticket (plain HTTPS).

    api = connect_automation(settings)                   # ConnectionSettings, as for connect()
    found = Tagging(api).attached(tags=[("vsgt", "on")])  # {("vsgt", "on"): frozenset({ObjectRef(...)})}
    VmDataSets(api).get("vm-42", "vsguesttruth", "state")
"""

from __future__ import annotations

from .datasets import ACCESS, DataSetInfo, VmDataSets
from .session import Automation, connect_automation
from .tagging import KINDS, ObjectRef, Tagging, objects_of, split_tag
from .ticket import CloneTickets

__all__ = [
    "ACCESS", "Automation", "CloneTickets", "DataSetInfo", "KINDS", "ObjectRef", "Tagging", "VmDataSets",
    "connect_automation", "objects_of", "split_tag",
]
