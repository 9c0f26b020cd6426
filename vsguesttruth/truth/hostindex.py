"""Per-host indexes of a host's storage (its LUNs by name, its paths by LUN), and :class:`HostIndex`, which keeps
them from one inventory to the next for the hosts that did not change."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from vsguesttruth.model import Host, Lun, Path


class HostIndex:
    """Per-host indexes kept from one inventory to the next (the reconcile loop's): a host whose object is the
    same as before (nothing of it changed) keeps them. Under a storm of path flaps each pass sees a new
    inventory in which a few hosts changed; indexing the 200,000 paths of 2,000 hosts again was a tenth of
    the pass. Entries are filled on first use (a race computes one twice); forgetting is the owner's."""

    def __init__(self) -> None:
        self._by: dict[str, list[Any]] = {}  # moref -> [host, LUN names, paths by LUN, LUNs by name]

    def _entry(self, host: Host) -> list[Any]:
        found = self._by.get(host.moref)
        if found is None or found[0] is not host:
            names = {lun.canonical_name for lun in host.luns}
            names.update({path.lun for path in host.paths})
            found = self._by[host.moref] = [host, frozenset(names), None, None]
        return found

    def names(self, host: Host) -> frozenset[str]:
        """The LUNs the host sees: its devices and its paths' LUNs."""
        return self._entry(host)[1]

    def paths(self, host: Host) -> dict[str, list[Path]]:
        entry = self._entry(host)
        if entry[2] is None:
            entry[2] = _paths_by_lun(host)
        return entry[2]

    def luns(self, host: Host) -> dict[str, Lun]:
        entry = self._entry(host)
        if entry[3] is None:
            entry[3] = _luns_by_name(host)
        return entry[3]

    def keep_only(self, morefs: Any) -> None:
        """Forget the hosts not in ``morefs`` (gone from the inventory)."""
        for moref in [m for m in list(self._by) if m not in morefs]:
            del self._by[moref]


def _paths_by_lun(host: Host) -> dict[str, list[Path]]:
    by_lun: dict[str, list[Path]] = defaultdict(list)
    for path in host.paths:
        by_lun[path.lun].append(path)
    return by_lun


def _luns_by_name(host: Host) -> dict[str, Lun]:
    return {lun.canonical_name: lun for lun in host.luns}
