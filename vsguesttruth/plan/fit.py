"""Judging a host for a VM with the truth's own rules: from the candidate host, every disk of the VM must be
usable within the guest's service level, exactly as the verdicts that called the source unhealthy judge it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from vsguesttruth.model import Host, Vm
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext, Verdict


@dataclass(frozen=True, slots=True)
class Fit:
    """A host that can run the VM, and how well: the planner ranks fits by tier, then working paths."""

    host: Host
    tier: int  # 0: every disk healthy there; 1: usable within the level
    working: int  # working paths to the VM's LUNs from the host
    total: int
    disks: int


def judge_host(ctx: TruthContext, vm: Vm, host: Host, level: ServiceLevel,
               remap: Mapping[str, str] | None = None) -> Fit | str:
    """A fit, or a short reason why ``host`` cannot run ``vm`` (its disks' datastores remapped by ``remap``)."""
    inv = ctx.inv
    remap = remap or {}
    verdicts: list[Verdict] = []
    luns: dict[str, tuple[int, int, bool]] = {}
    for disk in vm.disks:
        if disk.backing.startswith("rdm"):
            name = ctx.rdm_lun(disk)
            if name is None:
                return f"{disk.label}'s RDM LUN is not seen by any host"
            lt = ctx.lun_truth(host.moref, name, level)
            if lt.verdict not in (Verdict.HEALTHY, Verdict.DEGRADED, Verdict.BELOW_SLA) or not lt.sla_met:
                return f"{disk.label} (RDM {lt.display_name or name}) {lt.verdict.value}"
            verdicts.append(lt.verdict)
            luns[name] = paths_on(lt, host.moref) + (lt.sla_met,)
        for moref in disk.datastores:
            ds = inv.datastores.get(remap.get(moref, moref))
            if ds is None:
                return f"{disk.label}: datastore {moref} is not in the inventory"
            dt = ctx.datastore_truth(host.moref, ds, level)
            if not dt.verdict.usable:
                return f"{ds.name} {not_reached(dt.verdict, dt.explanation, host.name)}"
            verdicts.append(dt.verdict)
            if disk.backing.startswith("rdm"):
                continue  # the mapping file must be reachable; I/O goes to the LUN
            for name in ds.extents:
                lt = ctx.lun_truth(host.moref, name, level)
                luns[name] = paths_on(lt, host.moref) + (lt.sla_met,)
    missed = [name for name, (_, _, met) in luns.items() if not met]
    if missed:
        return f"below the service level on {len(missed)} LUN{'s' if len(missed) > 1 else ''} ({missed[0]})"
    tier = 0 if all(v is Verdict.HEALTHY for v in verdicts) else 1
    return Fit(host, tier, sum(w for w, _, _ in luns.values()), sum(t for _, t, _ in luns.values()),
                len(vm.disks))


def paths_on(lt: Any, host_moref: str) -> tuple[int, int]:
    here = next((h for h in lt.hosts if h.host_moref == host_moref), None)
    return (here.working, here.total) if here else (0, 0)


def not_reached(verdict: Verdict, explanation: str, host: str) -> str:
    if f"not mounted on {host}" in explanation:
        return "not mounted"
    if verdict is Verdict.CONNECTIVITY_LOST:
        return "not reached (connectivity_lost)"
    return verdict.value
