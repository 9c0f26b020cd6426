"""The rules: a LUN, a datastore mount or a VM judged from the evidence already gathered, with vSphere's
semantics. Pure functions; :class:`~.context.TruthContext` gathers the evidence and caches the answers.

Rules, per LUN, judged from the VM's current host (the README's verdict table gives each with its source):
- the host is missing, disconnected or not responding -> ``unknown``, saying how old its last data is;
- evidence of a permanent device loss on this host (its datastore mount's inaccessibleReason
  ``PermanentDeviceLoss``, or its open ``esx.problem.scsi.device.state.permanentloss`` event) and no
  available path here -> ``media_failure``. An operational state alone is no such evidence: the API defines
  ``lostCommunication`` as "no more paths are available" and an APD past its timeout reads ``error``/``timeout``;
- no I/O from this host (no available path, or an operational state that says none flows: ``off``, ``error``,
  ``lostCommunication``, ``timeout``): another connected host reaches it -> ``connectivity_lost`` (move the VM);
  none does -> ``media_failure`` when a host has evidence of permanent loss, else ``all_paths_down`` (APD: it
  stays an APD past the APD timeout, and what the mounts and events say of it is in the explanation);
- some paths dead, disabled or unknown, or the LUN degraded/quiesced, but one available -> ``degraded``
  (which outranks ``below_sla``: the explanation adds what the service level wants);
- fewer available paths than the service level asks -> ``below_sla``; else ``healthy``.
A path is available when it could carry I/O (active, ALUA optimized or not, or standby); the explanation
says which carry I/O (``isWorkingPath``) and which wait. A device whose paths the host does not report
(claimed by a plug-in other than NMP, without NVMe topology) is judged from its state and its mount,
never as "zero paths".
Per datastore, mounts add their own evidence (and are the only evidence for NFS, vSAN and friends):
PDL -> ``media_failure``; inaccessible here but accessible on another connected host ->
``connectivity_lost``; accessible nowhere (AllPathsDown_Start/_Timeout) -> ``all_paths_down``.
A local LUN (``Lun.local``) is never "reached" by another host, even if its canonical name (``mpx.*``)
repeats there. A disk takes the worst verdict of its datastores (VMDK) or of its LUN (RDM: I/O bypasses
the mapping file's datastore, but vMotion and power-on need it: a mapping file out of reach makes the disk
``degraded``; a virtual-mode RDM's snapshot deltas add their datastores).
A disk we cannot map (datastore not in the inventory, RDM LUN seen by no host) is ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from vsguesttruth.model import Datastore, Host, Lun, Mount
from vsguesttruth.policy import ServiceLevel

from .results import DiskTruth, HostPaths, MountState
from .verdict import Verdict

PDL = "PermanentDeviceLoss"
APD_REASONS = frozenset({"AllPathsDown_Start", "AllPathsDown_Timeout"})
# ScsiLun.operationalState values that say no I/O flows from the host, whatever the paths say (none of them
# says the device is gone for good: see the module's docstring).
NO_IO = frozenset({"off", "error", "lostCommunication", "timeout"})
# ... and those that impair I/O without stopping it. unknownState, or none reported, leaves the paths to decide.
IMPAIRED = frozenset({"degraded", "quiesced"})
_NAMES_SHOWN = 3  # hosts named in an explanation before "and N more"


class LunFacts:
    """Host-independent facts about a shared LUN: ``hosts`` that see it as a shared LUN (by name), and of them
    the ``reachers`` (connected, I/O flows from there) and those ``lost_on`` (connected, with evidence of a
    permanent device loss). The last two are read only when some host cannot reach the LUN: found then."""

    __slots__ = ("hosts", "_reachers", "_lost_on")

    def __init__(self, hosts: tuple[HostPaths, ...], reachers: tuple[HostPaths, ...] | None = None,
                 lost_on: tuple[HostPaths, ...] | None = None) -> None:
        self.hosts = hosts
        self._reachers = reachers
        self._lost_on = lost_on

    @property
    def reachers(self) -> tuple[HostPaths, ...]:
        if self._reachers is None:
            self._reachers = tuple(e for e in self.hosts if e.connected and flowing(e))
        return self._reachers

    @property
    def lost_on(self) -> tuple[HostPaths, ...]:
        if self._lost_on is None:
            self._lost_on = tuple(e for e in self.hosts if e.connected and e.pdl and not flowing(e))
        return self._lost_on


@dataclass(frozen=True, slots=True)
class DsFacts:
    """Every host's mount of a datastore, and which connected hosts can (or report PDL)."""

    mounts: tuple[MountState, ...]
    by_host: Mapping[str, Mount]
    accessible_on: tuple[MountState, ...]  # connected hosts with an accessible mount
    pdl_on: tuple[MountState, ...]  # connected hosts reporting PermanentDeviceLoss


def flowing(here: HostPaths) -> bool:
    """Whether I/O to the LUN flows from this host: an available path (or, when the host reports no paths
    for the device, an accessible mount) and no operational state that says otherwise."""
    if NO_IO.intersection(here.operational_state):
        return False
    if here.reported:
        return here.available > 0
    return here.mount_accessible is not False and here.present


def judge_lun(host: Host | None, name: str, here: HostPaths | None, facts: LunFacts,
              level: ServiceLevel) -> tuple[Verdict, str, bool]:
    """Verdict, explanation and sla_met for LUN ``name`` as seen from ``host``."""
    if host is None or here is None or not host.connected:
        return Verdict.UNKNOWN, no_data(host, here.since if here else None), False
    where = host.name
    if not here.present and not here.paths and not facts.hosts:
        return Verdict.UNKNOWN, f"no host sees {name}: it is not mapped to a device", False
    if here.pdl and not flowing(here):
        return Verdict.MEDIA_FAILURE, f"{name} permanently lost (PDL) on {where}: {here.pdl}{when(here)}", False
    if not flowing(here):
        why = f" ({stopped_words(here, host)})"
        reachers = facts.reachers  # I/O flows from each of them, not from this host: all others
        if reachers:
            others = _names([e.host for e in reachers[:_NAMES_SHOWN]], len(reachers))
            return (Verdict.CONNECTIVITY_LOST, f"no I/O path to {name} from {where}{why}; {others} reach it: move the VM",
                    False)
        if facts.lost_on:
            first = facts.lost_on[0]
            return (Verdict.MEDIA_FAILURE, f"no host reaches {name}; permanently lost (PDL) on "
                    f"{_names([e.host for e in facts.lost_on])}: {first.pdl}{when(first)}", False)
        scope = "on every host" if any(e.host_moref != host.moref for e in facts.hosts) else \
            f"on {where}, the only host that sees it"
        return (Verdict.ALL_PATHS_DOWN, f"all paths down to {name} {scope} (APD{apd_words(here)}){when(here)}; "
                "no evidence of a permanent device loss: retry, do not fail over", False)
    if not here.reported:
        text = (f"{name} reached from {where} (its paths are not reported by vSphere: the device is not claimed "
                f"by NMP); operational state {', '.join(here.operational_state) or 'not reported'}")
        return Verdict.HEALTHY, text, True  # the level's path count cannot be checked: not counted against it
    below = here.available < level.min_working_paths
    want = f"; service level wants {level.min_working_paths} available"
    if here.available < here.total:
        text = (f"{here.total - here.available} of {here.total} paths to {name} {_bad_words(here)} on {where} "
                f"({_bad_paths(here, host)}){when(here)}; {io_words(here)}")
        return Verdict.DEGRADED, text + (want if below else ""), not below
    if IMPAIRED.intersection(here.operational_state):
        text = f"{name} reports operational state {', '.join(here.operational_state)} on {where}; {io_words(here)}"
        return Verdict.DEGRADED, text + (want if below else ""), not below
    if below:
        return Verdict.BELOW_SLA, f"{name} on {where}: {io_words(here)}{want}", False
    return Verdict.HEALTHY, f"{name} on {where}: {io_words(here)}", True


def judge_mount(host: Host | None, ds: Datastore, facts: DsFacts) -> tuple[Verdict, str] | None:
    """The verdict the mounts give; None when there are no mounts and extents can speak instead."""
    if host is None or not host.connected:
        return Verdict.UNKNOWN, no_data(host, None)
    if not facts.mounts:
        return None if ds.extents else (Verdict.UNKNOWN, f"no mount information for {ds.name}")
    mount = facts.by_host.get(host.moref)
    reason = mount.inaccessible_reason if mount else ""
    if mount is not None and not mount.accessible and reason == PDL:
        return Verdict.MEDIA_FAILURE, f"{ds.name} permanently lost (PDL) on {host.name}"
    if mount is not None and mount.mounted and mount.accessible:
        return Verdict.HEALTHY, f"{ds.name} accessible on {host.name}"
    why = "not mounted" if mount is None or not mount.mounted else "inaccessible" + (f" ({reason})" if reason else "")
    mounting = facts.accessible_on  # each of them has it accessible, this host does not: all others
    if mounting:
        others = _names([s.host for s in mounting[:_NAMES_SHOWN]], len(mounting))
        return Verdict.CONNECTIVITY_LOST, f"{ds.name} {why} on {host.name}; {others} mount it: move the VM"
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


def stamp(at: datetime) -> str:
    """A moment as the explanations say it: UTC to the second (stable: a document never changes by itself)."""
    return at.strftime("%Y-%m-%d %H:%M:%SZ")


def when(here: HostPaths) -> str:
    """" since 2024-05-01 10:42:01Z" (from the host's events) / " seen since ..." (the watch); "" unknown."""
    if here.since is None:
        return ""
    return f" {'since' if here.since_source == 'event' else 'seen since'} {stamp(here.since)}"


def no_data(host: Host | None, since: datetime | None) -> str:
    if host is None:
        return "the VM's host is not known"
    age = f" since {stamp(since)}" if since is not None else ""
    return f"{host.name} is {host.connection_state}{age}: vCenter's data about it is from before then, not current"


def apd_words(here: HostPaths) -> str:
    """What the mount and the events say of the APD on this host: ", past the APD timeout" and the like."""
    if "timeout" in here.apd.lower() or here.mount_reason == "AllPathsDown_Timeout":
        phase = ", past the APD timeout: I/O other than the VMs' fails fast, VM I/O is retried"
    else:
        phase = ""
    state = ", ".join(s for s in here.operational_state if s != "ok")
    return phase + (f"; operational state {state}" if state else "")


def stopped_words(here: HostPaths, host: Host) -> str:
    if not here.reported:
        return f"datastore mount inaccessible{': ' + here.mount_reason if here.mount_reason else ''}"
    if here.available == 0:
        return _bad_paths(here, host) or "no paths"
    return f"operational state {', '.join(here.operational_state)}"


def io_words(here: HostPaths) -> str:
    """Which paths carry I/O and which wait: "I/O on 2 optimized paths via vmhba2 and vmhba3; 2
    non-optimized ready (VMW_PSP_RR)". "Optimized" only where it follows from the API: on an ALUA array
    under Round Robin, the paths carrying I/O are the optimized ones when some active paths do not."""
    up = [p for p in here.paths if p.available]
    policy = f" ({here.path_selection_policy})" if here.path_selection_policy else ""
    if here.io is None:
        return f"{len(up)} path{_s(len(up))} available{policy}"
    carrying = [p for p in up if p.io]
    ready = [p for p in up if not p.io and p.state.value == "active"]
    standby = [p for p in up if not p.io and p.state.value == "standby"]
    alua = here.satp == "VMW_SATP_ALUA" and here.path_selection_policy == "VMW_PSP_RR" and bool(ready)
    words = []
    if carrying:
        hbas = _and(sorted({p.hba for p in carrying}))
        words.append(f"I/O on {len(carrying)}{' optimized' if alua else ''} path{_s(len(carrying))} via {hbas}")
    else:
        words.append("no path carries I/O yet")
    if ready:
        words.append(f"{len(ready)}{' non-optimized' if alua else ' more'} ready")
    if standby:
        words.append(f"{len(standby)} standby")
    return "; ".join(words) + policy


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _bad_words(here: HostPaths) -> str:
    bad = {s for s, n in here.counts.items() if n and s not in ("active", "standby")}
    if len(bad) == 1:
        return {"dead": "dead", "disabled": "disabled"}.get(bad.pop(), "in unknown state")
    return "not available"


def _bad_paths(here: HostPaths, host: Host) -> str:
    """Which HBAs carry the broken paths ("vmhba2 offline"), and the target if they share one."""
    bad = [p for p in here.paths if not p.available]
    offline = {h.device for h in host.hbas if h.san and not h.online}
    hbas = ", ".join(f"{hba} offline" if hba in offline else hba for hba in sorted({p.hba for p in bad}))
    targets = {p.target for p in bad}
    if len(targets) == 1 and "" not in targets and len({p.target for p in here.paths}) > 1:
        target = targets.pop()
        named = next((p.target_port_name for p in bad if p.target_port_name not in ("", target)), "")
        return f"{hbas}, target {named + ' ' if named else ''}{target}"
    return hbas


def _names(names: list[str], count: int | None = None) -> str:
    """The first names, and how many more of ``count`` (default: all of ``names``)."""
    count = len(names) if count is None else count
    if count <= _NAMES_SHOWN:
        return ", ".join(names[:count])
    return f"{', '.join(names[:_NAMES_SHOWN])} and {count - _NAMES_SHOWN} more"


def is_local(lun: Lun | None) -> bool:
    return bool(lun and lun.local)
