"""One host's storage as its admin counts it: "2/2 FC HBAs online, 1 local adapter, 7/7 LUNs ok, 25/25 paths
available, 12 carrying I/O".

Counted as vCenter and check_vsphere count: SAN adapters (FC, FC-NVMe, iSCSI) online of all, local adapters
apart (ESXi reports their status ``unknown``, which is normal, so a healthy host never reads "0/2 HBAs
online"); a LUN is "ok" when its own ``operationalState`` is ok and this host reaches it, "unreachable" when
it is ok but no path from this host is available. Pure: no I/O, no pyVmomi.
"""

from __future__ import annotations

from datetime import datetime
from typing import Mapping

from vsguesttruth.model import Hba, Host, Path

from .results import HbaSummary, HostLun, HostSummary, count_states
from .rules import stamp
from .verdict import Verdict


def summarize_host(host: Host, luns: tuple[HostLun, ...], reached: Mapping[str, bool],
                   since: datetime | None) -> HostSummary:
    """The summary of ``host`` from its judged LUNs; ``reached`` says per LUN whether a path from this host
    is available, ``since`` when a host that is not connected stopped being so (None when unknown)."""
    hbas = tuple(_hba_summary(hba, host.paths) for hba in host.hbas)
    san = [h for h in hbas if h.san]
    local = sum(1 for h in hbas if not h.san)
    online = sum(1 for h in san if h.online)
    available = sum(1 for p in host.paths if p.available)
    io = sum(1 for p in host.paths if p.io) if any(p.io is not None for p in host.paths) else None
    ok = sum(1 for lun in luns if _state_ok(lun.operational_state) and reached[lun.canonical_name])
    unreachable = sum(1 for lun in luns if _state_ok(lun.operational_state) and not reached[lun.canonical_name])
    others = _state_words([lun.operational_state for lun in luns if not _state_ok(lun.operational_state)])
    adapters = _adapter_words(san, local)
    lun_words = f"{ok}/{len(luns)} LUNs ok" + (f", {unreachable} unreachable" if unreachable else "") + others
    path_words = f"{available}/{len(host.paths)} paths available" + (f", {io} carrying I/O" if io is not None else "")
    line = f"{adapters}, {lun_words}, {path_words}"
    if not host.connected:
        age = f" since {stamp(since)}" if since is not None else ""
        line = (f"{host.connection_state}{age}: vCenter's data is from before then; last known {adapters}, "
                f"{path_words}, {len(luns)} LUNs")
    return HostSummary(
        moref=host.moref, name=host.name, cluster=host.cluster, connection_state=host.connection_state,
        maintenance=host.maintenance, line=line,
        verdict=Verdict.UNKNOWN if not host.connected else Verdict.worst(lun.verdict for lun in luns),
        hbas_online=online, hbas_total=len(san), local_adapters=local, luns_ok=ok,
        luns_unreachable=unreachable, luns_total=len(luns), paths_available=available, paths_io=io,
        paths_total=len(host.paths), since=since if not host.connected else None, hbas=hbas, luns=luns,
    )


def _hba_summary(hba: Hba, paths: tuple[Path, ...]) -> HbaSummary:
    mine = [p for p in paths if p.hba == hba.device]
    counts = count_states(mine)
    return HbaSummary(
        device=hba.device, kind=hba.kind, status=hba.status, online=hba.online, model=hba.model, wwpn=hba.wwpn,
        wwnn=hba.wwnn, protocol=hba.protocol, san=hba.san, words=hba.words, counts=counts,
        available=counts["active"] + counts["standby"], io=sum(1 for p in mine if p.io), total=len(mine),
    )


def _state_ok(state: tuple[str, ...]) -> bool:
    return state[:1] == ("ok",) or not state


def _state_words(states: list[tuple[str, ...]]) -> str:
    """", 1 lostCommunication, 2 error": the LUNs whose own state is not ok, by state."""
    counted: dict[str, int] = {}
    for state in states:
        word = ",".join(state)
        counted[word] = counted.get(word, 0) + 1
    return "".join(f", {n} {word}" for word, n in sorted(counted.items()))


def _adapter_words(san: list[HbaSummary], local: int) -> str:
    """"2/2 FC HBAs online, 1 local adapter": SAN adapters by kind, online of all; local adapters counted."""
    kinds: dict[str, list[HbaSummary]] = {}
    for hba in san:
        kinds.setdefault(hba.words, []).append(hba)
    parts = [f"{sum(1 for h in hbas if h.online)}/{len(hbas)} {words}{'s' if len(hbas) != 1 else ''} online"
             for words, hbas in kinds.items()]
    if local or not parts:
        parts.append(f"{local} local adapter{'s' if local != 1 else ''}")
    return ", ".join(parts)
