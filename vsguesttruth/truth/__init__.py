"""The truth: what backs every virtual disk, what state it is really in, and what the guest should do.

Pure functions over a ``model.Inventory`` (no I/O, no pyVmomi), with vSphere's semantics:

- :mod:`.verdict`: the vocabulary, :class:`Verdict` (worst wins) and :class:`Advice`;
- :mod:`.results`: the answers as plain frozen data, from a path's host evidence to a VM's truth;
- :mod:`.rules`: how a LUN, a datastore mount and a VM are judged from the evidence (APD is not PDL, an
  ALUA non-optimized or standby path is available, a local LUN is never reached by another host);
- :mod:`.context`: :class:`TruthContext`, one inventory indexed once, each disk followed down its chain;
- :mod:`.events`: the hosts' storage events folded into open conditions (evidence and "since");
- :mod:`.summary`: one host's storage as its admin counts it (adapters, LUNs, paths);
- :mod:`.changes`: the verdicts that changed between two truths.

    ctx = TruthContext(inventory)
    for vm in ctx.vm_truths(level):
        print(vm.name, vm.verdict.value, vm.explanation)
"""

from __future__ import annotations

from .changes import by_disk, verdict_changes
from .context import TruthContext, disk_truths, host_summary, vm_truth, vm_truths
from .results import (
    DatastoreTruth,
    DiskId,
    DiskTruth,
    HbaSummary,
    HostLun,
    HostPaths,
    HostSummary,
    LevelCheck,
    LunTruth,
    MountState,
    VerdictChange,
    VmTruth,
    judged_only,
    of_host,
    to_json,
)
from .verdict import Advice, Verdict

__all__ = [
    "Advice", "DatastoreTruth", "DiskId", "DiskTruth", "HbaSummary", "HostLun", "HostPaths", "HostSummary",
    "LevelCheck", "LunTruth", "MountState", "TruthContext", "Verdict", "VerdictChange", "VmTruth", "by_disk", "disk_truths",
    "host_summary", "judged_only", "of_host", "to_json", "verdict_changes", "vm_truth", "vm_truths",
]
