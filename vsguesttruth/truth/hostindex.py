"""Per-host indexes of a host's storage (its LUNs by name, its paths by LUN), and :class:`HostIndex`, which keeps
them from one inventory to the next for the hosts that did not change, and hands a new inventory's
TruthContext the judgements of the one before that nothing changed under (:func:`unchanged`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping

from vsguesttruth.model import Host, Inventory, Lun, Path


class HostIndex:
    """Per-host indexes kept from one inventory to the next (the reconcile loop's): a host whose object is the
    same as before (nothing of it changed) keeps them. Under a storm of path flaps each pass sees a new
    inventory in which a few hosts changed; indexing the 200,000 paths of 2,000 hosts again was a tenth of
    the pass. Entries are filled on first use (a race computes one twice); forgetting is the owner's."""

    def __init__(self) -> None:
        self._by: dict[str, list[Any]] = {}  # moref -> [host, LUN names, paths by LUN, LUNs by name]
        #: the TruthContext of the inventory before (it hands its judgements over, then is let go)
        self.last: Any = None

    def _entry(self, host: Host) -> list[Any]:
        found = self._by.get(host.moref)
        if found is None or found[0] is not host:
            found = self._by[host.moref] = [host, _names(host), None, None]
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

    def keep_only(self, hosts: Mapping[str, Host]) -> None:
        """Forget the hosts not in ``hosts`` (gone from the inventory)."""
        for moref in self._by.keys() - hosts.keys():
            del self._by[moref]


class Unchanged:
    """What stayed the same from one inventory to the next: the hosts that changed (their object, or their
    connection's events), the LUNs whose evidence changed on one host only (``pairs``: its open storage events,
    its mount of the LUN's datastore), the LUNs whose evidence changed everywhere (``touched``: a datastore's
    extents), and every LUN whose facts may have changed (``names``: all those, and the LUNs a changed host
    sees). A host's paths to a LUN (:meth:`keeps`) and a LUN's facts outside those are the ones before; a
    datastore's mount list is (:meth:`keeps_mounts`) while no host that mounts it changed name or connection."""

    def __init__(self, hosts: frozenset[str], names: frozenset[str], touched: frozenset[str],
                 pairs: frozenset[tuple[str, str]], reconnected: frozenset[str],
                 by_name: Mapping[str, set[str]] | None = None) -> None:
        self.hosts = hosts
        self.names = names
        self.touched = touched
        self.pairs = pairs
        self.reconnected = reconnected
        self._by_name = by_name or {}

    def on(self, name: str) -> set[str]:
        """The hosts whose view of LUN ``name`` may have changed (outside ``touched``)."""
        return self._by_name.get(name, set())

    def keeps(self, host_moref: str, name: str) -> bool:
        return host_moref not in self.hosts and name not in self.touched and (host_moref, name) not in self.pairs

    def keeps_mounts(self, mounted_on: Any) -> bool:
        """Whether a datastore's mount states (its object the same) still hold: ``mounted_on`` its hosts."""
        return not any(h in mounted_on for h in self.reconnected)


def unchanged(before: Inventory, inv: Inventory) -> Unchanged:
    """Compare two inventories of the watch by object identity (it replaces exactly what changed)."""
    hosts = inv.changed_since(before, "hosts")
    reconnected = {m for m in hosts if m not in inv.hosts or m not in before.hosts
                   or (before.hosts[m].name, before.hosts[m].connected) != (inv.hosts[m].name, inv.hosts[m].connected)}
    touched: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for moref in inv.changed_since(before, "datastores"):
        old_ds, new_ds = before.datastores.get(moref), inv.datastores.get(moref)
        if old_ds is None or new_ds is None or old_ds.extents != new_ds.extents:
            touched.update(old_ds.extents if old_ds is not None else ())
            touched.update(new_ds.extents if new_ds is not None else ())
            continue
        was = {m.host: m for m in old_ds.mounts}
        now = {m.host: m for m in new_ds.mounts}
        for host in {h for h in was.keys() | now.keys() if was.get(h) != now.get(h)}:
            pairs.update((host, name) for name in new_ds.extents)
    old, new = before.device_events, inv.device_events
    if old is not new:
        for key in {k for k in new if old.get(k) is not new[k]} | {k for k in old if k not in new}:
            host, device = key
            if device:
                pairs.add((host, device))
            else:
                hosts.add(host)  # the host's connection
                reconnected.add(host)
    by_name: dict[str, set[str]] = defaultdict(set)
    for host, name in pairs:
        by_name[name].add(host)
    for moref in hosts:
        for found in (before.hosts.get(moref), inv.hosts.get(moref)):
            if found is not None:
                for name in _names(found):
                    by_name[name].add(moref)
    names = set(touched)
    names.update(by_name)
    return Unchanged(frozenset(hosts), frozenset(names), frozenset(touched), frozenset(pairs),
                     frozenset(reconnected), by_name)


def _names(host: Host) -> frozenset[str]:
    """The LUNs a host sees: its devices and its paths' LUNs."""
    names = {lun.canonical_name for lun in host.luns}
    names.update({path.lun for path in host.paths})
    return frozenset(names)


def _paths_by_lun(host: Host) -> dict[str, list[Path]]:
    by_lun: dict[str, list[Path]] = defaultdict(list)
    for path in host.paths:
        by_lun[path.lun].append(path)
    return by_lun


def _luns_by_name(host: Host) -> dict[str, Lun]:
    return {lun.canonical_name: lun for lun in host.luns}
