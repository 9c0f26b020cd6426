"""The evidence of a failure in an inventory (the grouping's symptoms and its path counts), kept from one
inventory of the watch to the next.

Every path that does not work on a connected host, every LUN a host sees (or runs a VM on) without a path,
every HBA offline, every LUN the truth reads as permanently lost or impaired on a host, every mount that fails
where the LUN's paths do not say why, every host vCenter cannot reach. Under a thousand path flaps a minute
each inventory differs from the one before in a few hosts: :class:`Evidence` reads a host's paths, HBAs and
LUNs again only when its object changed (the watch replaces exactly what changed), follows the VMs of the
changed hosts, VMs and datastores down to their LUNs (not all 20,000), and keeps the per-port, per-LUN and
per-HBA path counts by adding what the changed hosts changed. Its answers are a fresh look's, whatever came
before (tests/unit/test_incidents.py checks it with hypothesis).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping

from vsguesttruth.model import Host, Inventory, PathState, Vm
from vsguesttruth.truth import TruthContext, Verdict
from vsguesttruth.truth.rules import PDL

from .failure import Symptom
from .footprint import VmPrint

_WORKING = frozenset(s for s in PathState if s.working)
_NO_IO = frozenset({Verdict.CONNECTIVITY_LOST, Verdict.ALL_PATHS_DOWN, Verdict.MEDIA_FAILURE})
_NONE = (0, 0)


def offline(host: Host, device: str) -> bool:
    """An HBA that reports a status other than online, and not ``unknown`` (what idle local adapters say)."""
    hba = next((h for h in host.hbas if h.device == device), None)
    return hba is not None and not hba.online and hba.status.lower() != "unknown"


def _of_host(host: Host) -> tuple[tuple[Symptom, ...], frozenset[str], tuple[str, ...]]:
    """What a host's own lists show: (symptoms, LUNs with evidence, LUNs not ok whose paths look fine: the truth
    decides about those, with every host's view)."""
    h = host.moref
    if not host.connected:
        return (Symptom("host", h, "", state=host.connection_state),), frozenset(), ()
    found, seen, judge = [], set(), []
    with_paths = set()
    for p in host.paths:
        with_paths.add(p.lun)
        if p.state not in _WORKING:
            found.append(Symptom("path", h, p.name, p.lun, p.state.value))
            seen.add(p.lun)
    for hba in host.hbas:
        if offline(host, hba.device):
            found.append(Symptom("hba", h, hba.device, state=hba.status))
    for lun in host.luns:
        name = lun.canonical_name
        if not lun.local and name not in with_paths:
            found.append(Symptom("no_path", h, name, name))
            seen.add(name)
        elif not lun.ok:
            judge.append(name)
    return tuple(found), frozenset(seen), tuple(judge)


def _names(host: Host) -> tuple:
    """What a failure's description reads of a host besides its evidence (see grouping's ``_naming``)."""
    return (host.name, host.cluster, tuple((h.device, h.wwpn) for h in host.hbas),
            tuple((lun.canonical_name, lun.display_name) for lun in host.luns))


def _judged(h: str, name: str, ctx: TruthContext) -> Symptom | None:
    """A LUN that reports no I/O (or impaired I/O) though its paths are up on this host: lost, or impaired."""
    judged = ctx.lun_truth(h, name)
    here = next((e for e in judged.hosts if e.host_moref == h), None)
    if here is None:
        return None
    if here.permanently_lost or (judged.verdict in _NO_IO and here.total and here.available == here.total
                                 and not here.apd):
        return Symptom("lost", h, name, name, ",".join(here.operational_state))
    if judged.verdict is Verdict.DEGRADED and here.total and here.working == here.total:
        return Symptom("impaired", h, name, name, ",".join(here.operational_state))
    return None


class PathCounts:
    """Paths (total, working) per target port, LUN and (host, HBA), over the connected hosts: what "every path
    through it is down" reads. Kept by adding what each changed host changed."""

    def __init__(self) -> None:
        self.target: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.lun: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.hba: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        self._hosts: dict[str, tuple[Host, list[tuple[dict, Any, int, int]]]] = {}

    def update(self, inv: Inventory, hosts: Iterable[str]) -> None:
        """Take in ``hosts``: those whose object changed since the last update (or all, the first time)."""
        for moref in hosts:
            old = self._hosts.pop(moref, None)
            if old is not None:
                self._add(old[1], -1)
            host = inv.hosts.get(moref)
            if host is not None:
                parts = self._parts(host)
                self._add(parts, 1)
                self._hosts[moref] = (host, parts)

    def _parts(self, host: Host) -> list[tuple[dict, Any, int, int]]:
        """A host's share of the counts: (counts, key, paths, working paths), one per port, LUN and HBA."""
        if not host.connected:
            return []
        mine: dict[tuple[int, Any], list[int]] = {}
        for p in host.paths:
            working = int(p.state in _WORKING)
            for part in ((0, p.target), (1, p.lun), (2, (host.moref, p.hba))):
                c = mine.get(part)
                if c is None:
                    mine[part] = [1, working]
                else:
                    c[0] += 1
                    c[1] += working
        by = (self.target, self.lun, self.hba)
        return [(by[i], key, t, w) for (i, key), (t, w) in mine.items()]

    @staticmethod
    def _add(parts: list[tuple[dict, Any, int, int]], sign: int) -> None:
        for counts, key, total, working in parts:
            c = counts[key]
            c[0] += sign * total
            c[1] += sign * working
            if not c[0]:
                del counts[key]

    @staticmethod
    def dead(counts: Iterable[Any]) -> bool:
        total = working = 0
        for t, w in counts:
            total += t
            working += w
        return total > 0 and working == 0

    def of_target(self, wwpn: str) -> Any:
        return self.target.get(wwpn, _NONE)

    def of_lun(self, name: str) -> Any:
        return self.lun.get(name, _NONE)

    def of_hba(self, host: str, device: str) -> Any:
        return self.hba.get((host, device), _NONE)


class Placement:
    """The VMs on a host that has no way to one of their LUNs (not presented, no path) or does not mount one of
    their datastores at all (a superset of what their footprints can show), kept across inventories: looked
    at again are the VMs that changed, those on hosts that changed, those on datastores that changed, and
    those with an RDM (its LUN is found by uuid among every host's devices)."""

    def __init__(self) -> None:
        self._inv: Inventory | None = None
        self.misplaced: set[str] = set()
        self.mounted: dict[str, frozenset[str]] = {}  # datastore moref -> hosts with a mount of it
        self._by_host: dict[str, set[str]] = defaultdict(set)
        self._by_ds: dict[str, set[str]] = defaultdict(set)
        self._deps: dict[str, tuple[str, tuple[str, ...]]] = {}  # vm -> (host, datastores)
        self._rdm: set[str] = set()

    def vms_on(self, host_moref: str) -> set[str]:
        """The VMs on a host in the inventory of the last update."""
        return self._by_host.get(host_moref, set())

    def update(self, inv: Inventory, ctx: TruthContext, hosts: set[str]) -> None:
        """Take in ``inv``; ``hosts``: those whose object changed since the last update."""
        old = self._inv
        self._inv = inv
        if old is None:
            stores, vms = set(inv.datastores), set(inv.vms)
        else:
            stores, vms = inv.changed_since(old, "datastores"), inv.changed_since(old, "vms")
        for moref in vms:
            self._track(moref, inv.vms.get(moref))
        look = set(vms) | self._rdm
        for h in hosts:
            look |= self._by_host.get(h, set())
        for moref in stores:
            ds, was = inv.datastores.get(moref), old.datastores.get(moref) if old is not None else None
            mounted = frozenset(m.host for m in ds.mounts) if ds is not None else frozenset()
            if ds is None or was is None or ds.extents != was.extents:
                look |= self._by_ds.get(moref, set())
            else:  # its mount states changed: only a host that gained or lost a mount of it places VMs anew
                for h in mounted ^ self.mounted.get(moref, frozenset()):
                    look |= self._by_host.get(h, set()) & self._by_ds.get(moref, set())
            if ds is None:
                self.mounted.pop(moref, None)
            else:
                self.mounted[moref] = mounted
        for moref in look:
            vm = inv.vms.get(moref)
            if vm is not None and self._misplaced(vm, inv, ctx):
                self.misplaced.add(moref)
            else:
                self.misplaced.discard(moref)

    def _track(self, moref: str, vm: Vm | None) -> None:
        host, stores = self._deps.pop(moref, ("", ()))
        self._by_host[host].discard(moref)
        for d in stores:
            self._by_ds[d].discard(moref)
        self._rdm.discard(moref)
        if vm is None:
            return
        stores = tuple({d for disk in vm.disks for d in disk.datastores})
        self._deps[moref] = (vm.host, stores)
        self._by_host[vm.host].add(moref)
        for d in stores:
            self._by_ds[d].add(moref)
        if any(disk.backing.startswith("rdm") for disk in vm.disks):
            self._rdm.add(moref)

    def _misplaced(self, vm: Vm, inv: Inventory, ctx: TruthContext) -> bool:
        host = inv.hosts.get(vm.host)
        if host is None or not host.connected:
            return False
        luns = ctx.lun_names(host.moref)
        for disk in vm.disks:
            if disk.backing.startswith("rdm"):
                name = ctx.rdm_lun(disk)
                if name is not None and name not in luns:
                    return True
            for moref in disk.datastores:
                ds = inv.datastores.get(moref)
                if ds is not None and (host.moref not in self.mounted.get(moref, ()) or not luns.issuperset(ds.extents)):
                    return True
        return False


class Evidence:
    """The symptoms of a vCenter's inventories, kept from one to the next (see the module docstring); one owner
    (not thread-safe). A fresh one reads a whole inventory."""

    def __init__(self) -> None:
        self._hosts: dict[str, tuple[Host, tuple[tuple[Symptom, ...], frozenset[str], tuple[str, ...]]]] = {}
        self._troubled: dict[str, tuple[tuple[Symptom, ...], frozenset[str], tuple[str, ...]]] = {}  # any of them
        self._bad_mounts: dict[str, list[tuple[Any, Any]]] = {}  # datastore -> [(it, a mount not in use)], if any
        self._paths: dict[str, tuple[Host, dict[str, Any]]] = {}  # host -> (it, its paths by name), when asked
        self._inv: Inventory | None = None
        self.placement = Placement()
        self.counts = PathCounts()
        #: the grouping's failures as described from their evidence, kept while the names and datastores they
        #: read stay (:meth:`described`): under a storm of flaps most failures' evidence is the same as before
        self._described: dict[tuple, Any] = {}
        self._described_san: Any = None

    def described(self, san: Any) -> dict[tuple, Any]:
        """The failures described in the last grouping, by (kind, key, evidence), for the SAN map ``san``: what
        the grouping may take over instead of describing again (empty after a change of names or datastores)."""
        if san is not self._described_san:
            self._described, self._described_san = {}, san
        return self._described

    def keep_described(self, described: dict[tuple, Any]) -> None:
        """What this grouping described (the failures of the next one are looked up here)."""
        self._described = described

    def paths(self, inv: Inventory) -> "_PathsByName":
        """(host moref, path name) -> the path, in ``inv`` (each host's paths indexed once per host object)."""
        return _PathsByName(inv, self._paths)

    def symptoms(self, inv: Inventory, ctx: TruthContext, prints: Mapping[str, VmPrint]) -> list[Symptom]:
        """Every piece of evidence of a failure in ``inv`` (sorted)."""
        old = self._inv
        hosts = set(inv.hosts) if old is None else inv.changed_since(old, "hosts")
        stores = set(inv.datastores) if old is None else inv.changed_since(old, "datastores")
        self._inv = inv
        if stores:
            self._described = {}  # the failures' datastores, mounts and datastore names are read from these
        for moref in stores:
            ds = inv.datastores.get(moref)
            bad = [(ds, m) for m in ds.mounts if not (m.mounted and m.accessible)] if ds is not None else None
            if bad:
                self._bad_mounts[moref] = bad
            else:
                self._bad_mounts.pop(moref, None)
        for moref in hosts:
            host = inv.hosts.get(moref)
            self._troubled.pop(moref, None)
            self._paths.pop(moref, None)
            before = self._hosts.get(moref)
            if before is None or host is None or _names(before[0]) != _names(host):
                self._described = {}  # a failure's description names hosts, clusters, HBAs' WWPNs, LUNs
            if host is None:
                self._hosts.pop(moref, None)
            else:
                of_host = _of_host(host)
                self._hosts[moref] = (host, of_host)
                if any(of_host):
                    self._troubled[moref] = of_host
        self.counts.update(inv, hosts)
        self.placement.update(inv, ctx, hosts)
        found: list[Symptom] = []
        seen_on: dict[str, set[str]] = defaultdict(set)  # host -> LUNs with evidence there
        for moref, (own, seen, judge) in self._troubled.items():
            found.extend(own)
            if seen:
                seen_on[moref].update(seen)
            for name in judge:
                s = _judged(moref, name, ctx)
                if s is not None:
                    found.append(s)
                    seen_on[moref].add(name)
        found.extend(self._placed(inv, ctx, prints, seen_on))
        found.extend(_mounts(inv, seen_on, (pair for bad in self._bad_mounts.values() for pair in bad)))
        return sorted(set(found))

    def _placed(self, inv: Inventory, ctx: TruthContext, prints: Mapping[str, VmPrint],
                seen_on: dict[str, set[str]]) -> list[Symptom]:
        """Evidence on a host its own lists do not show, from the VMs placed there: a LUN of theirs it has no way
        to, a datastore of theirs it does not mount. Only misplaced VMs are followed down (their footprints)."""
        found = []
        mounted = self.placement.mounted
        vms = [(inv.vms[m].host, prints[m]) for m in self.placement.misplaced]
        for h, p in vms:
            luns = ctx.lun_names(h)
            for d in p.disks:
                for name in d.luns:
                    if name not in luns:
                        found.append(Symptom("no_path", h, name, name))
                        seen_on[h].add(name)
        for h, p in vms:  # a datastore not mounted where its LUNs' own evidence does not say why
            for d in p.disks:
                for ds_moref in d.datastores:
                    if ds_moref in inv.datastores and h not in mounted.get(ds_moref, ()):
                        if not set(inv.datastores[ds_moref].extents) & seen_on[h]:
                            found.append(Symptom("mount", h, ds_moref, state="not_mounted"))
        return found


class _PathsByName:
    """(host moref, path name) -> the path, read through a per-host index kept by the evidence."""

    __slots__ = ("_inv", "_kept")

    def __init__(self, inv: Inventory, kept: dict[str, tuple[Host, dict[str, Any]]]) -> None:
        self._inv, self._kept = inv, kept

    def __getitem__(self, key: tuple[str, str]) -> Any:
        moref, name = key
        host = self._inv.hosts[moref]
        found = self._kept.get(moref)
        if found is None or found[0] is not host:
            found = self._kept[moref] = (host, {p.name: p for p in host.paths})
        return found[1][name]


def _mounts(inv: Inventory, seen_on: dict[str, set[str]], not_in_use: Iterable[tuple[Any, Any]]) -> list[Symptom]:
    """Evidence from the datastores' mounts that are not in use (``not_in_use``: (datastore, mount))."""
    found = []
    for ds, m in not_in_use:
        host = inv.hosts.get(m.host)
        if host is None or not host.connected:
            continue
        if ds.extents and set(ds.extents) & seen_on[m.host] and m.inaccessible_reason != PDL:
            continue  # the extents' paths say why
        if ds.extents and m.inaccessible_reason == PDL:
            for name in ds.extents:
                found.append(Symptom("lost", m.host, name, name, PDL))
            continue
        found.append(Symptom("mount", m.host, ds.moref, state=m.inaccessible_reason
                             or ("inaccessible" if m.mounted else "not_mounted")))
    return found
