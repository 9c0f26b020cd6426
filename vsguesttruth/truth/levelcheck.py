"""A VM's service level as its host meets it: the fewest available paths to any of its LUNs against the level's
minimum, the usable disks against its minimum, in words; and whether vSphere is moving VMs off the host."""

from __future__ import annotations

from typing import Callable

from vsguesttruth.model import Host
from vsguesttruth.policy import ServiceLevel

from .results import DiskTruth, HostPaths, LevelCheck


def level_check(level: ServiceLevel, disks: tuple[DiskTruth, ...], sla_met: bool,
                 here_of: Callable[[str], HostPaths | None]) -> LevelCheck:
    """The VM's level from its host: the fewest available paths to any of its LUNs, and what falls short.
    ``here_of(lun)``: the host's view of a LUN among the LUN's judged hosts (None: it is not one of them)."""
    fewest: tuple[int, str] | None = None
    for disk in disks:
        for lun in disk.luns:
            here = here_of(lun.canonical_name)
            if here is not None and here.reported and (fewest is None or here.available < fewest[0]):
                fewest = (here.available, lun.canonical_name)
    usable = sum(1 for d in disks if d.verdict.usable)
    short = []
    if fewest is not None and fewest[0] < level.min_working_paths:
        gap = level.min_working_paths - fewest[0]
        short.append(f"{gap} path{'s' if gap != 1 else ''} short on {fewest[1]} ({fewest[0]} of "
                     f"{level.min_working_paths})")
    if level.min_reachable_devices is not None and usable < level.min_reachable_devices:
        short.append(f"{level.min_reachable_devices - usable} usable disk(s) short ({usable} of "
                     f"{level.min_reachable_devices})")
    if not sla_met and not short:
        short.append("storage not usable from the VM's host")
    return LevelCheck.of(level, sla_met, fewest[0] if fewest else None, usable, len(disks), "; ".join(short))


def evacuation(host: Host | None) -> str:
    """Whether vSphere is moving VMs off the host (Proactive HA's quarantine, maintenance mode)."""
    if host is None:
        return ""
    return "maintenance" if host.maintenance else "quarantine" if host.quarantine else ""
