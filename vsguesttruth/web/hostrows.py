"""The host rows of the pages and of ``/status``: each host's path summary and the badges that say what is wrong
on it by name ("1 of 7 LUNs in APD", "vmhba2 offline") instead of painting the host with its worst LUN.

A row is judged from the host's own paths, except for a LUN the host does not reach (then other hosts decide
whether it is a host problem or an APD): the row of a host that is the same object as in the inventory before,
with every LUN working from it, is taken over from the views before (:func:`kept`). Under a storm of path flaps a
new inventory comes every second and changes a few of 2,000 hosts.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from vsguesttruth.model import Host, Inventory
from vsguesttruth.truth import Verdict

SEVERITY = {v.value: v.severity for v in Verdict}

#: verdicts other hosts decide (the LUN is not working from this host: does another host reach it?)
OTHERS_DECIDE = frozenset(v.value for v in (Verdict.CONNECTIVITY_LOST, Verdict.ALL_PATHS_DOWN,
                                            Verdict.MEDIA_FAILURE, Verdict.UNKNOWN))

#: how a host badge says what a LUN is in, from that host
LUN_WORDS = {
    "degraded": "degraded", "below_sla": "below service level", "connectivity_lost": "unreachable from this host",
    "all_paths_down": "in APD", "media_failure": "lost (PDL or failed)", "unknown": "not known",
}


def host_row(s: Any, vms: int) -> dict:
    """A host's row from its summary (:meth:`~vsguesttruth.truth.TruthContext.host_summary`) and its VM count."""
    return {
        "moref": s.moref, "name": s.name, "cluster": s.cluster, "connection_state": s.connection_state,
        "maintenance": s.maintenance, "verdict": s.verdict.value, "line": s.line,
        "hbas_online": s.hbas_online, "hbas_total": s.hbas_total, "local_adapters": s.local_adapters,
        "luns_ok": s.luns_ok, "luns_unreachable": s.luns_unreachable, "luns_total": s.luns_total,
        "paths_working": s.paths_available, "paths_available": s.paths_available, "paths_io": s.paths_io,
        "paths_total": s.paths_total,
        "badges": host_badges(s), "vms": vms,
        "hbas": [h.as_dict() for h in s.hbas],
    }


def kept(row: dict | None, old: Inventory | None, host: Host) -> dict | None:
    """``row`` (the host's row in the views of ``old``) when it still holds: the host is the same object, connected,
    and every LUN works from it; else None (judge it again)."""
    if row is None or old is None or old.hosts.get(host.moref) is not host or not host.connected:
        return None
    return row if not any(b["verdict"] in OTHERS_DECIDE for b in row["badges"]) else None


def datastore_names(inv: Inventory) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each datastore's name and extents: what a host row says of its LUNs besides its own paths."""
    return {m: (d.name, tuple(d.extents)) for m, d in inv.datastores.items()}


def host_badges(s: Any) -> list[dict]:
    """What is wrong on a host, each said by name and count, worst first: "1 of 7 LUNs in APD",
    "vmhba2 offline", "disconnected". Empty when all is well."""
    badges = []
    if s.connection_state != "connected":
        badges.append({"verdict": "unknown", "count": 1, "of": 1, "text": s.connection_state})
    for hba in s.hbas:
        if hba.san and not hba.online:
            badges.append({"verdict": "connectivity_lost", "count": 1, "of": 1, "text": f"{hba.device} {hba.status}"})
    by_verdict: dict[str, int] = defaultdict(int)
    for lun in s.luns:
        if lun.verdict is not Verdict.HEALTHY:
            by_verdict[lun.verdict.value] += 1
    total = len(s.luns)
    for verdict in sorted(by_verdict, key=lambda v: -SEVERITY[v]):
        n = by_verdict[verdict]
        badges.append({"verdict": verdict, "count": n, "of": total,
                       "text": f"{n} of {total} LUN{'s' if total != 1 else ''} {LUN_WORDS[verdict]}"})
    if s.maintenance:
        badges.append({"verdict": "unknown", "count": 1, "of": 1, "text": "maintenance mode"})
    return badges
