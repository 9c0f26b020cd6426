"""What changed between two inventory versions, for live pages: the disks whose verdict or explanation
changed, the hosts whose summary or badges changed, the VMs touched, the new counts. A page asks
``GET /api/v1/changes?after=V`` and gets only that (or ``reset`` when V is older than the feed remembers),
never the whole inventory again.

The feed compares digests of the versions it was asked about (a version nobody asked about is skipped:
its changes fold into the next), and keeps the last ``keep`` steps.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from .views import Views

DiskKey = tuple[str, int]


def _digest(views: Views) -> tuple[dict[DiskKey, tuple], dict[str, tuple], dict[str, dict], dict[str, dict]]:
    disks = {(d["vm_moref"], d["key"]): (d["verdict"], d["explanation"]) for d in views.disks}
    hosts = {h["moref"]: (h["verdict"], h["line"], tuple(b["text"] for b in h["badges"]), h["connection_state"])
             for h in views.hosts}
    return disks, hosts, {f"{d['vm_moref']}:{d['key']}": d for d in views.disks}, {h["moref"]: h for h in views.hosts}


class ChangeFeed:
    """The steps between the versions pages asked about (thread-safe)."""

    def __init__(self, keep: int = 64) -> None:
        self._lock = threading.Lock()
        self._steps: deque[tuple[int, int, dict[str, Any]]] = deque(maxlen=keep)  # (from, to, delta)
        self._version: int | None = None
        self._digest: tuple | None = None

    def advance(self, version: int, views: Views | None) -> None:
        """Take in ``version`` (the views of the latest inventory) if it is newer than the last one seen."""
        if views is None:
            return
        with self._lock:
            if self._version is not None and version <= self._version:
                return
            disks, hosts, records, rows = _digest(views)
            if self._digest is not None and self._version is not None:
                old_disks, old_hosts = self._digest
                changed = [records[f"{vm}:{key}"] for (vm, key), value in disks.items() if old_disks.get((vm, key)) != value]
                removed = [f"{vm}:{key}" for (vm, key) in old_disks if (vm, key) not in disks]
                host_rows = [rows[m] for m, value in hosts.items() if old_hosts.get(m) != value]
                gone = [m for m in old_hosts if m not in hosts]
                vms = sorted({d["vm_moref"] for d in changed} | {k.split(":", 1)[0] for k in removed})
                self._steps.append((self._version, version, {"disks": changed, "removed_disks": removed,
                                                             "hosts": host_rows, "removed_hosts": gone, "vms": vms}))
            self._digest, self._version = (disks, hosts), version

    def since(self, after: int, version: int, views: Views | None) -> dict[str, Any]:
        """What changed after version ``after`` up to ``version`` (``reset``: too old, fetch everything again)."""
        self.advance(version, views)
        out: dict[str, Any] = {"reset": False, "disks": [], "removed_disks": [], "hosts": [], "removed_hosts": [],
                               "vms": []}
        if after >= version:
            return out
        with self._lock:
            steps = [s for s in self._steps if after < s[1] <= version]  # (the feed may be further on)
            if not steps or steps[0][0] > after:
                out["reset"] = True
                return out
        disks: dict[str, dict] = {}
        hosts: dict[str, dict] = {}
        removed: set[str] = set()
        gone: set[str] = set()
        vms: set[str] = set()
        for _, _, delta in steps:  # oldest first: the latest state of each disk and host wins
            for d in delta["disks"]:
                key = f"{d['vm_moref']}:{d['key']}"
                disks[key] = d
                removed.discard(key)
            for key in delta["removed_disks"]:
                disks.pop(key, None)
                removed.add(key)
            for h in delta["hosts"]:
                hosts[h["moref"]] = h
                gone.discard(h["moref"])
            for m in delta["removed_hosts"]:
                hosts.pop(m, None)
                gone.add(m)
            vms.update(delta["vms"])
        out.update(disks=list(disks.values()), removed_disks=sorted(removed), hosts=list(hosts.values()),
                   removed_hosts=sorted(gone), vms=sorted(vms))
        return out
