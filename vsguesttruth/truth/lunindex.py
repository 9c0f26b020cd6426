"""Which hosts see each LUN, and a LUN's host-independent facts, carried from one inventory to the next.

In a datacenter whose LUNs are presented to every host of many clusters, one path flap changes one host; the
LUN's facts are every host's view of it. Building them again from 2,000 hosts' paths on every flap was the
largest cost of a pass. :class:`LunIndex` (LUN -> hosts that see it, some host's view of each LUN, ScsiLun
uuid -> name, LUN -> datastores it is an extent of) is reused whole while no host changed which LUNs it has;
:func:`patched` replaces, in a LUN's facts, the views of the hosts that changed and keeps the rest.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping

from vsguesttruth.model import Host, Inventory, Lun

from .hostindex import Unchanged
from .results import HostPaths
from .rules import LunFacts


def _luns_of(host: Host) -> frozenset[tuple[str, str]]:
    return frozenset((lun.canonical_name, lun.uuid) for lun in host.luns)


class LunIndex:
    """LUN-level indexes of one inventory (see the module docstring). ``names(host)``: the LUNs a host sees
    (its devices and its paths' LUNs)."""

    __slots__ = ("seen_by", "any_lun", "by_uuid", "lun_ds", "_source", "_hosts")

    def __init__(self, inv: Inventory, names: Callable[[Host], Iterable[str]]) -> None:
        self.seen_by: dict[str, list[str]] = defaultdict(list)  # lun -> host morefs, in inventory order
        self.any_lun: dict[str, Lun] = {}  # lun -> the first host's view of it (media, vaai, display name)
        self._source: dict[str, str] = {}  # lun -> the host any_lun took it from
        self.by_uuid: dict[str, str] = {}  # ScsiLun.uuid -> canonical name
        self._hosts: dict[str, tuple[Any, ...]] = {}  # host moref -> (LUN names, (name, uuid) of its LUNs)
        for host in inv.hosts.values():
            seen = names(host)
            for lun in host.luns:
                name = lun.canonical_name
                if name not in self.any_lun:
                    self.any_lun[name] = lun
                    self._source[name] = host.moref
                if lun.uuid and lun.uuid not in self.by_uuid:
                    self.by_uuid[lun.uuid] = name
            for name in seen:
                self.seen_by[name].append(host.moref)
            self._hosts[host.moref] = (seen, _luns_of(host))
        self.lun_ds = _lun_ds(inv)

    def names_of(self, host_moref: str) -> Iterable[str]:
        return self._hosts[host_moref][0]

    def carried(self, inv: Inventory, changed: Unchanged, names: Callable[[Host], Iterable[str]]) -> "LunIndex | None":
        """This index for ``inv``, the inventory after the one it was built for, when no host that changed
        gained or lost a LUN (and none came or went); else None (build it anew)."""
        if len(inv.hosts) != len(self._hosts):
            return None
        hosts = dict(self._hosts)
        for moref in changed.hosts:
            host = inv.hosts.get(moref)
            known = hosts.get(moref)
            if host is None or known is None:
                return None
            now = (names(host), _luns_of(host))
            if now != known:
                return None
            hosts[moref] = now
        out = LunIndex.__new__(LunIndex)
        out.seen_by, out.by_uuid, out._source, out._hosts = self.seen_by, self.by_uuid, self._source, hosts
        out.any_lun = self.any_lun
        for moref in changed.hosts:  # the first host's view of a LUN, when that host changed: its new one
            for lun in inv.hosts[moref].luns:
                if self._source.get(lun.canonical_name) == moref:
                    if out.any_lun is self.any_lun:
                        out.any_lun = dict(self.any_lun)
                    out.any_lun[lun.canonical_name] = lun
        out.lun_ds = self.lun_ds if not changed.touched else _lun_ds(inv)  # no datastore's extents changed
        return out


def _lun_ds(inv: Inventory) -> dict[str, list[str]]:
    """LUN -> the datastores it is an extent of (morefs, in inventory order)."""
    lun_ds: dict[str, list[str]] = defaultdict(list)
    for ds in inv.datastores.values():
        for name in ds.extents:
            lun_ds[name].append(ds.moref)
    return lun_ds


class Facts:
    """A LUN's facts and where each host's view sits in them (to replace one without looking at the others)."""

    __slots__ = ("facts", "at")

    def __init__(self, facts: LunFacts, at: Mapping[str, int] | None = None) -> None:
        self.facts = facts
        self.at = at if at is not None else {e.host_moref: i for i, e in enumerate(facts.hosts)}


def patched(kept: Facts, views: Mapping[str, HostPaths | None]) -> Facts | None:
    """``kept`` with the views of the hosts in ``views`` replaced (None: the host sees the LUN as local, or not
    at all, now). None when a host joins or leaves the LUN's shared hosts or changes name: build anew."""
    hosts = list(kept.facts.hosts)
    for moref, view in views.items():
        i = kept.at.get(moref)
        if (i is None) != (view is None):
            return None
        if view is not None:
            if hosts[i].host != view.host:  # type: ignore[index]
                return None
            hosts[i] = view  # type: ignore[index]
    return Facts(LunFacts(tuple(hosts)), kept.at)
