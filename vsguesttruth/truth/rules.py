"""The rules: a LUN, a datastore mount or a VM judged from the evidence already gathered, with vSphere's
semantics. Pure functions; :class:`~.context.TruthContext` gathers the evidence and caches the answers.

Rules, per LUN, judged from the VM's current host (ALUA standby paths are working paths):
- the host is missing, disconnected or not responding -> ``unknown`` (its data is stale);
- the LUN is permanently lost here (operational state error/off/lostCommunication, PDL) -> ``media_failure``;
- no working path here: another connected host has one -> ``connectivity_lost`` (move the VM); none has
  -> ``all_paths_down`` (APD), or ``media_failure`` when a host reports the LUN permanently lost;
- some paths dead/disabled/unknown (or the LUN is degraded/quiesced/timeout) but one works -> ``degraded``
  (which outranks ``below_sla``: the explanation then adds what the service level wants);
- fewer working paths than the service level asks -> ``below_sla``; else ``healthy``.
Per datastore, mounts add their own evidence (and are the only evidence for NFS, vSAN and friends):
PDL -> ``media_failure``; inaccessible here but accessible on another connected host ->
``connectivity_lost``; accessible nowhere (AllPathsDown_Start/_Timeout) -> ``all_paths_down``.
A local LUN (``Lun.local``) is never "reached" by another host, even if its canonical name (``mpx.*``)
repeats there. A disk takes the worst verdict of its datastores (VMDK) or of its LUN (RDM: I/O bypasses
the mapping file's datastore; only a virtual-mode RDM's snapshot deltas add their datastores).
A disk we cannot map (datastore not in the inventory, RDM LUN seen by no host) is ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from vsguesttruth.model import Datastore, Host, Lun, Mount
from vsguesttruth.policy import ServiceLevel

from .results import DiskTruth, HostPaths, MountState
from .verdict import Verdict

PDL = "PermanentDeviceLoss"
# ScsiLun.operationalState values that impair I/O without losing the LUN (error/off/lostCommunication are
# Lun.permanently_lost; unknownState, or none reported, says nothing and leaves the paths to decide).
_IMPAIRED = frozenset({"degraded", "quiesced", "timeout"})
_NAMES_SHOWN = 3  # hosts named in an explanation before "and N more"


@dataclass(frozen=True, slots=True)
class LunFacts:
    """Host-independent facts about a shared LUN."""

    hosts: tuple[HostPaths, ...]  # hosts that see it as a shared LUN, by name
    reachers: tuple[HostPaths, ...]  # connected, not lost, >= 1 working path
    lost_on: tuple[HostPaths, ...]  # connected and reporting it permanently lost


@dataclass(frozen=True, slots=True)
class DsFacts:
    """Every host's mount of a datastore, and which connected hosts can (or report PDL)."""

    mounts: tuple[MountState, ...]
    by_host: Mapping[str, Mount]
    accessible_on: tuple[MountState, ...]  # connected hosts with an accessible mount
    pdl_on: tuple[MountState, ...]  # connected hosts reporting PermanentDeviceLoss


def judge_lun(host: Host | None, name: str, here: HostPaths | None, facts: LunFacts,
              level: ServiceLevel) -> tuple[Verdict, str, bool]:
    """Verdict, explanation and sla_met for LUN ``name`` as seen from ``host``."""
    if host is None or here is None or not host.connected:
        return Verdict.UNKNOWN, _no_data(host), False
    where = host.name
    if not here.present and not here.paths and not facts.hosts:
        return Verdict.UNKNOWN, f"no host sees {name}: it is not mapped to a device", False
    if here.permanently_lost:
        return Verdict.MEDIA_FAILURE, f"{name} {_lost_words(here.operational_state)} on {where}", False
    if here.working == 0:
        why = f" ({_bad_paths(here, host)})" if here.paths else ""
        others = [e.host for e in facts.reachers if e.host_moref != host.moref]
        if others:
            return (Verdict.CONNECTIVITY_LOST,
                    f"no working path to {name} on {where}{why}; {_names(others)} reach it: move the VM", False)
        if facts.lost_on:
            words = _lost_words(facts.lost_on[0].operational_state)
            return (Verdict.MEDIA_FAILURE,
                    f"no host reaches {name}, {words} on {_names([e.host for e in facts.lost_on])}", False)
        if all(e.host_moref == host.moref for e in facts.hosts):
            only = f"all paths down to {name} on {where}, the only host that sees it (APD)"
            return Verdict.ALL_PATHS_DOWN, only, False
        return Verdict.ALL_PATHS_DOWN, f"all paths down to {name} on every host (APD)", False
    below = here.working < level.min_working_paths
    want = f", service level wants {level.min_working_paths}"
    if here.working < here.total:
        working_hbas = sorted({p.hba for p in here.paths if p.state.working})
        text = (f"{here.total - here.working} of {here.total} paths to {name} {_bad_words(here)} on {where} "
                f"({_bad_paths(here, host)}); I/O continues on {', '.join(working_hbas)}")
        return Verdict.DEGRADED, text + (want if below else ""), not below
    if _IMPAIRED.intersection(here.operational_state):
        text = f"{name} reports operational state {', '.join(here.operational_state) or '?'} on {where}"
        return Verdict.DEGRADED, text + (want if below else ""), not below
    if below:
        return Verdict.BELOW_SLA, f"{here.working} of {here.total} paths to {name} working on {where}{want}", False
    count = f"all {here.total} paths" if here.total > 1 else "the only path"
    return Verdict.HEALTHY, f"{count} to {name} working on {where}", True


def judge_mount(host: Host | None, ds: Datastore, facts: DsFacts) -> tuple[Verdict, str] | None:
    """The verdict the mounts give; None when there are no mounts and extents can speak instead."""
    if host is None or not host.connected:
        return Verdict.UNKNOWN, _no_data(host)
    if not facts.mounts:
        return None if ds.extents else (Verdict.UNKNOWN, f"no mount information for {ds.name}")
    mount = facts.by_host.get(host.moref)
    reason = mount.inaccessible_reason if mount else ""
    if mount is not None and not mount.accessible and reason == PDL:
        return Verdict.MEDIA_FAILURE, f"{ds.name} permanently lost (PDL) on {host.name}"
    if mount is not None and mount.mounted and mount.accessible:
        return Verdict.HEALTHY, f"{ds.name} accessible on {host.name}"
    why = "not mounted" if mount is None or not mount.mounted else "inaccessible" + (f" ({reason})" if reason else "")
    others = [s.host for s in facts.accessible_on if s.host_moref != host.moref]
    if others:
        return (Verdict.CONNECTIVITY_LOST,
                f"{ds.name} {why} on {host.name}; {_names(others)} mount it: move the VM")
    if facts.pdl_on:
        return (Verdict.MEDIA_FAILURE,
                f"{ds.name} {why} on {host.name}, permanently lost (PDL) on {_names([s.host for s in facts.pdl_on])}")
    return Verdict.ALL_PATHS_DOWN, f"{ds.name} inaccessible on every host (APD{': ' + reason if reason else ''})"


def judge_vm(host: Host | None, disks: tuple[DiskTruth, ...], level: ServiceLevel) -> tuple[Verdict, str]:
    if not disks:
        return Verdict.UNKNOWN, "no virtual disks"
    parts = [(d.verdict, f"{d.label}: {d.explanation}") for d in disks]
    verdict, explanation = summarize(parts, shown=2)
    if verdict is Verdict.HEALTHY:
        explanation = f"{len(disks)} disk{'s' if len(disks) > 1 else ''} healthy on {host.name if host else '?'}"
    wanted = level.min_reachable_devices
    usable = sum(1 for d in disks if d.verdict.usable)
    if wanted is not None and usable < wanted:
        below = f"{usable} of {len(disks)} disks usable, service level wants {wanted}"
        explanation = below if verdict is Verdict.HEALTHY else f"{explanation}; {below}"
        verdict = max(verdict, Verdict.BELOW_SLA)
    return verdict, explanation


def summarize(parts: list[tuple[Verdict, str]], shown: int = 3) -> tuple[Verdict, str]:
    """The worst verdict, explained by the (distinct) explanations that gave it."""
    if len(parts) == 1:
        return parts[0]
    worst = Verdict.worst(v for v, _ in parts)
    texts = list(dict.fromkeys(text for v, text in parts if v is worst))
    more = f"; and {len(texts) - shown} more" if len(texts) > shown else ""
    return worst, "; ".join(texts[:shown]) + more


# ---------------------------------------------------------------------------------------------------
# Wording


def _no_data(host: Host | None) -> str:
    if host is None:
        return "the VM's host is not known"
    return f"{host.name} is {host.connection_state}: no current storage data"


def _lost_words(state: tuple[str, ...]) -> str:
    if {"lostCommunication", "permanentDeviceLoss"}.intersection(state):
        return "permanently lost (PDL)"
    return f"failed (operational state {', '.join(state)})"


def _bad_words(here: HostPaths) -> str:
    bad = {s for s, n in here.counts.items() if n and s not in ("active", "standby")}
    if len(bad) == 1:
        return {"dead": "dead", "disabled": "disabled"}.get(bad.pop(), "in unknown state")
    return "not working"


def _bad_paths(here: HostPaths, host: Host) -> str:
    """Which HBAs carry the broken paths ("vmhba2 offline"), and the target if they share one."""
    bad = [p for p in here.paths if not p.state.working]
    offline = {h.device for h in host.hbas if not h.online and h.status.lower() != "unknown"}
    hbas = ", ".join(f"{hba} offline" if hba in offline else hba for hba in sorted({p.hba for p in bad}))
    targets = {p.target for p in bad}
    if len(targets) == 1 and "" not in targets and len({p.target for p in here.paths}) > 1:
        return f"{hbas}, target {targets.pop()}"
    return hbas


def _names(names: list[str]) -> str:
    if len(names) <= _NAMES_SHOWN:
        return ", ".join(names)
    return f"{', '.join(names[:_NAMES_SHOWN])} and {len(names) - _NAMES_SHOWN} more"


def is_local(lun: Lun | None) -> bool:
    return bool(lun and lun.local)
