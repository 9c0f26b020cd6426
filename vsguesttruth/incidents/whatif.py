"""What if this failed? The failure applied to the model (never to vCenter), judged by the same truth and planned
by the same planner as the live service, so the answer is what the service would then do.

A :class:`Failure` to try (``hba``, ``target``, ``controller``, ``fabric``, ``host``, ``lun``) is applied the
way vSphere reports the real one (lab/README.md, "Fault semantics"): a pulled cable or a dead HBA: the HBA
offline and its paths dead; a dead array port: its paths dead on every host; a controller: every port of it;
a fabric (a switch): every HBA of it offline (no light) and their paths dead; a host: not responding (vCenter
keeps its last data, the truth calls its disks unknown; vSphere HA restarts its VMs, vsguesttruth does not
move them); a LUN in PDL: operational state lostCommunication, paths dead, mounts PermanentDeviceLoss; in
APD: paths dead, mounts AllPathsDown_Start.

:func:`what_if` answers: the disks whose verdict changes, the incidents the failure would open (the grouping
of the failed model), the planner's decisions (moves with where, refusals with why) and, beside the plan,
the guard rails that would pace it (hysteresis, concurrency, the hourly budget and what is used of it,
cooldowns), never applied to it. In the ``proactive-ha`` remediation mode vSphere's DRS places the VMs of
the hosts vsguesttruth reports unhealthy, so the answer names those hosts (:func:`unhealthy_hosts`) instead of
targets. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from vsguesttruth.config import RemediationConfig
from vsguesttruth.model import Host, Inventory, Mount, PathState, Vm
from vsguesttruth.plan import Plan, plan
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext, VerdictChange, by_disk, verdict_changes

from .failure import Failure as Grouped
from .grouping import failures
from .san import SanMap, san_map

KINDS = ("hba", "target", "controller", "fabric", "host", "lun")
#: the remediation mode in which vSphere (Proactive HA, DRS) places the VMs of hosts reported unhealthy
PROACTIVE_HA = "proactive-ha"


class WhatIfError(ValueError):
    """A failure that names nothing in the inventory; the message says what is there."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A failure to try: ``kind`` and what it names (a host and HBA; a target WWPN or port name; a controller,
    fabric, host or LUN by name); ``state`` for a LUN: ``pdl`` or ``apd``."""

    kind: str
    ref: str
    hba: str = ""
    state: str = ""

    def words(self) -> str:
        if self.kind == "hba":
            return f"{self.hba} on {self.ref} fails (cable pull)"
        if self.kind == "lun":
            return f"LUN {self.ref} in {'permanent device loss (PDL)' if self.state == 'pdl' else 'all paths down (APD)'}"
        return {"target": f"target port {self.ref} fails", "controller": f"controller {self.ref} fails",
                "fabric": f"fabric {self.ref} fails (switch down)",
                "host": f"host {self.ref} stops responding"}[self.kind]


@dataclass(frozen=True)
class Rails:
    """The guard rails beside the plan: what would pace the moves (not applied to the plan)."""

    mode: str
    stable_seconds: int
    max_concurrent: int
    max_per_hour: int
    cooldown_minutes: int
    moves: int
    used_last_hour: int | None  # moves the service made in the last hour (its vCenter events); None: not known
    in_cooldown: tuple[str, ...]  # VMs of the plan moved within the cooldown (names)

    @property
    def first_hour(self) -> int:
        """How many of the planned moves can start within the hour."""
        left = self.max_per_hour - (self.used_last_hour or 0)
        return max(0, min(self.moves - len(self.in_cooldown), left))

    def lines(self) -> list[str]:
        out = []
        if self.mode == "advise":
            out.append("mode advise: the plan would be posted as advice on the VMs; nothing moves")
        elif self.mode == "off":
            out.append("mode off: nothing would be planned or moved")
        if self.moves:
            out.append(f"hysteresis: each move waits for its verdict to hold {self.stable_seconds} s")
            waves = math.ceil(self.first_hour / self.max_concurrent) if self.max_concurrent else 0
            used = f", {self.used_last_hour} used in the last hour" if self.used_last_hour is not None else ""
            out.append(f"budget: {self.max_per_hour} moves per hour{used}: {self.first_hour} of {self.moves} can start "
                       f"within the hour, at most {self.max_concurrent} at once ({waves} wave{'s' if waves != 1 else ''})")
            if self.in_cooldown:
                out.append(f"cooldown {self.cooldown_minutes} min: {', '.join(self.in_cooldown)} moved lately and would "
                           "wait")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "stable_seconds": self.stable_seconds, "max_concurrent": self.max_concurrent,
                "max_per_hour": self.max_per_hour, "cooldown_minutes": self.cooldown_minutes, "moves": self.moves,
                "used_last_hour": self.used_last_hour, "first_hour": self.first_hour,
                "in_cooldown": list(self.in_cooldown), "lines": self.lines()}


@dataclass(frozen=True)
class WhatIf:
    failure: Failure
    description: str  # what was applied, in the inventory's words
    changes: tuple[VerdictChange, ...]  # disks whose verdict changes
    incidents: tuple[Grouped, ...]  # what the failure would open (the failed model's grouping, new ones only)
    plan: Plan  # the planner's decisions on the failed model (VMs the failure touches)
    rails: Rails
    unhealthy_hosts: tuple[tuple[str, str], ...] = ()  # (host name, red/yellow): what Proactive HA would newly be told
    hosts: tuple[str, ...] = field(default=())  # hosts with a disk that changes
    notes: tuple[str, ...] = ()

    @property
    def vms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.vm_name for c in self.changes))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            key = c.new.value if c.new is not None else "gone"
            out[key] = out.get(key, 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "failure": {"kind": self.failure.kind, "ref": self.failure.ref, "hba": self.failure.hba,
                        "state": self.failure.state, "words": self.failure.words()},
            "description": self.description, "counts": self.counts(), "disk_count": len(self.changes),
            "vm_count": len(self.vms), "hosts": list(self.hosts),
            "disks": [_change(c) for c in self.changes],
            "incidents": [f.as_dict() for f in self.incidents],
            "moves": [d.as_dict() for d in self.plan.moves], "refusals": [d.as_dict() for d in self.plan.refusals],
            "rails": self.rails.as_dict(), "notes": list(self.notes),
            "proactive_ha": {"mode": self.rails.mode == PROACTIVE_HA,
                             "unhealthy_hosts": [{"host": h, "health": s} for h, s in self.unhealthy_hosts]},
        }


def _change(c: VerdictChange) -> dict[str, Any]:
    return {"vm": c.vm_name, "vm_moref": c.vm, "key": c.key, "disk": c.label, "host": c.host,
            "before": c.old.value if c.old else None, "after": c.new.value if c.new else None,
            "explanation": c.explanation}


# ---------------------------------------------------------------------------------------------------


def apply(inv: Inventory, failure: Failure, san: SanMap | None = None) -> tuple[Inventory, str]:
    """The inventory as vCenter would report it with ``failure``, and what was applied (in its words)."""
    if failure.kind not in KINDS:
        raise WhatIfError(f"unknown failure kind {failure.kind!r}; known: {', '.join(KINDS)}")
    san = san or san_map(inv)
    if failure.kind == "hba":
        host = _host(inv, failure.ref)
        if not any(h.device == failure.hba for h in host.hbas):
            raise WhatIfError(f"{host.name} has no HBA {failure.hba!r}; it has {', '.join(h.device for h in host.hbas)}")
        return _hbas_down(inv, {(host.moref, failure.hba)}), f"{failure.hba} on {host.name} offline, its paths dead"
    if failure.kind == "host":
        host = _host(inv, failure.ref)
        return inv.with_host(replace(host, connection_state="notResponding")), f"{host.name} not responding"
    if failure.kind == "lun":
        return _lun_down(inv, failure)
    if failure.kind == "target":
        port = san.find_port(failure.ref)
        if port is None:
            raise WhatIfError(f"no path uses a target port {failure.ref!r} (a WWPN or the array's port name); "
                              f"known: {', '.join(p.label for p in list(san.ports.values())[:8])}"
                              + (" ..." if len(san.ports) > 8 else ""))
        return _targets_down(inv, {port.wwpn}), f"target {port.label} dead on every host"
    if failure.kind == "controller":
        ctl = san.find_controller(failure.ref)
        if ctl is None:
            known = ", ".join(c.name for c in san.controllers.values()) or "none (no port names or node WWNs known)"
            raise WhatIfError(f"no controller {failure.ref!r}; known: {known}")
        return _targets_down(inv, set(ctl.ports)), f"controller {ctl.name} dead: {len(ctl.ports)} ports"
    fabric = san.find_fabric(failure.ref)
    if fabric is None:
        raise WhatIfError(f"no fabric {failure.ref!r}; the paths show {', '.join(san.fabrics) or 'none'}")
    hosts = len({h for h, _ in fabric.hbas})
    return (_hbas_down(inv, set(fabric.hbas)),
            f"fabric {fabric.name} down: {len(fabric.hbas)} HBAs on {hosts} hosts offline, {len(fabric.ports)} target ports "
            "unreachable")


def _host(inv: Inventory, ref: str) -> Host:
    host = inv.hosts.get(ref) or inv.host_by_name(ref)
    if host is None:
        raise WhatIfError(f"no host named {ref!r}")
    return host


def _hbas_down(inv: Inventory, hbas: set[tuple[str, str]]) -> Inventory:
    hosts = dict(inv.hosts)
    for moref in {h for h, _ in hbas}:
        host = hosts[moref]
        down = {d for h, d in hbas if h == moref}
        hosts[moref] = replace(
            host, hbas=tuple(replace(a, status="offline") if a.device in down else a for a in host.hbas),
            paths=tuple(replace(p, state=PathState.DEAD, io=False) if p.hba in down else p for p in host.paths))
    return replace(inv, hosts=hosts)


def _targets_down(inv: Inventory, targets: set[str]) -> Inventory:
    hosts = {}
    for moref, host in inv.hosts.items():
        if any(p.target in targets for p in host.paths):
            host = replace(host, paths=tuple(replace(p, state=PathState.DEAD, io=False) if p.target in targets else p
                                             for p in host.paths))
        hosts[moref] = host
    return replace(inv, hosts=hosts)


def _lun_down(inv: Inventory, failure: Failure) -> tuple[Inventory, str]:
    if failure.state not in ("pdl", "apd"):
        raise WhatIfError("a LUN fails in PDL (--pdl) or in APD (--apd)")
    name = _lun_name(inv, failure.ref)
    pdl = failure.state == "pdl"
    hosts = {}
    for moref, host in inv.hosts.items():
        if host.lun(name) is not None or any(p.lun == name for p in host.paths):
            host = replace(host, paths=tuple(replace(p, state=PathState.DEAD, io=False) if p.lun == name else p
                                             for p in host.paths),
                           luns=tuple(replace(x, operational_state=("lostCommunication",))
                                      if pdl and x.canonical_name == name else x for x in host.luns))
        hosts[moref] = host
    reason = "PermanentDeviceLoss" if pdl else "AllPathsDown_Start"
    stores = {}
    for moref, ds in inv.datastores.items():
        if name in ds.extents:
            ds = replace(ds, accessible=False, mounts=tuple(
                Mount(m.host, m.mounted, False, reason) for m in ds.mounts))
        stores[moref] = ds
    words = f"{name} {'permanently lost (PDL)' if pdl else 'in APD'} on every host"
    return replace(inv, hosts=hosts, datastores=stores), words


def _lun_name(inv: Inventory, ref: str) -> str:
    """A LUN by canonical name, by the display name a host gives it, or by the datastore it is the only extent of."""
    names = set()
    for host in inv.hosts.values():
        for lun in host.luns:
            if not lun.local and ref in (lun.canonical_name, lun.display_name):
                names.add(lun.canonical_name)
    for ds in inv.datastores.values():
        if ds.name == ref and len(ds.extents) == 1:
            names.add(ds.extents[0])
    if len(names) != 1:
        raise WhatIfError(f"no LUN named {ref!r} (a canonical name naa..., its display name, or a datastore on one LUN)"
                          if not names else f"{ref!r} names {len(names)} LUNs: {', '.join(sorted(names))}")
    return names.pop()


# ---------------------------------------------------------------------------------------------------


def what_if(inv: Inventory, failure: Failure, config: RemediationConfig, *, level: ServiceLevel | None = None,
            level_of: Callable[[Vm], ServiceLevel] | None = None, replicas: Mapping[str, str] | None = None,
            recent_moves: Mapping[str, float] | None = None, san: SanMap | None = None) -> WhatIf:
    """Apply ``failure`` to the model and answer what would happen (see the module docstring).

    ``level_of(vm)``: the level each VM is judged by (its guest's policy within the admin's bounds), else
    ``level`` for all; ``replicas``: datastore name -> replica (custom attribute pairs; config pairs win in the
    planner); ``recent_moves``: VM moref -> seconds since the service last moved it (from its events), for the
    budget and cooldowns."""
    san = san or san_map(inv)
    after, description = apply(inv, failure, san)
    level = level or ServiceLevel()
    levels = {m: level_of(vm) for m, vm in inv.vms.items()} if level_of is not None else {}
    before_ctx, after_ctx = TruthContext(inv), TruthContext(after)
    before = by_disk(d for m in inv.vms for d in before_ctx.vm_truth(m, levels.get(m, level)).disks)
    truths = {m: after_ctx.vm_truth(m, levels.get(m, level)) for m in after.vms}
    changes = tuple(verdict_changes(before, by_disk(d for t in truths.values() for d in t.disks)))
    touched = {c.vm for c in changes}
    decided = plan(after, [truths[m] for m in sorted(touched)], config, level=level, levels=levels,
                   replicas=replicas, context=after_ctx)
    known = {f.key for f in failures(inv, before_ctx, san=san)}
    opened = tuple(f for f in failures(after, after_ctx, san=san_map(after)) if f.key not in known)
    moves = len(decided.moves)
    recent = recent_moves or {}
    cooldown = [d.vm_name for d in decided.moves if d.vm in recent and recent[d.vm] < config.cooldown_seconds]
    rails = Rails(config.mode, config.stable_seconds, config.max_concurrent, config.max_per_hour,
                  config.cooldown_minutes, moves,
                  sum(1 for s in recent.values() if s < 3600) if recent_moves is not None else None, tuple(cooldown))
    hosts = tuple(sorted({c.host for c in changes if c.host}))
    notes = []
    if failure.kind == "host":
        notes.append("vSphere HA restarts the VMs of a host that fails (if the cluster has HA); vsguesttruth does not "
                     "move VMs of a host vCenter cannot reach")
    if config.mode == PROACTIVE_HA and decided.moves:
        notes.append("proactive-ha: vsguesttruth reports the hosts below unhealthy; vSphere quarantines or evacuates "
                     "them and DRS places the VMs")
    reported = set(unhealthy_hosts(before_ctx, inv, level))
    told = tuple(h for h in unhealthy_hosts(after_ctx, after, level) if h not in reported)
    return WhatIf(failure, description, changes, opened, decided, rails, told, hosts, tuple(notes))


#: what a storage health provider posts for a host by the verdict of one of its LUNs or datastores from it: red
#: when the host lost every path to storage other hosts reach (its VMs must leave), yellow when its redundancy is
#: gone or below the level. APD on every host and PDL are the array's failures, not the host's: never red.


def unhealthy_hosts(ctx: TruthContext, inv: Inventory,
                    level: ServiceLevel | None = None) -> tuple[tuple[str, str], ...]:
    """The connected hosts a storage health provider would report unhealthy, by name, with ``red``/``yellow``:
    the ``proactive-ha`` mode's own rule (:func:`vsguesttruth.truth.hosthealth.unhealthy_hosts`); DRS then moves
    the VMs of the red ones."""
    from vsguesttruth.truth.hosthealth import unhealthy_hosts as judged

    return tuple(sorted((h.name, h.status.value) for h in judged(ctx, inv, level).values()))
