"""The truth of a whole inventory: :class:`TruthContext` indexes one ``model.Inventory`` once, follows each
disk down its chain (disk -> datastores of its snapshot chain -> VMFS extents -> LUNs -> paths on the VM's
host and on every other host that sees the LUN, plus per-host mount accessibility), judges it with the
rules (:mod:`.rules`) and caches the answers per (host, LUN / datastore / backing, service level).

Build a ``TruthContext`` once per inventory when asking several questions; the module functions do that
for one question. Pure: no I/O, no pyVmomi.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Mapping, NamedTuple

from vsguesttruth.gcpause import paused as gc_paused
from vsguesttruth.model import Datastore, Disk, Host, Inventory, Lun, Mount, Path, PathState, Vm
from vsguesttruth.policy import ServiceLevel

from .events import loss_evidence, opened
from .levelcheck import evacuation, level_check
from .hostindex import HostIndex, Unchanged, _luns_by_name, _names, _paths_by_lun, unchanged
from .lunindex import Facts, LunIndex, patched
from .results import (
    DatastoreTruth,
    DiskTruth,
    HostLun,
    HostPaths,
    HostSummary,
    LunTruth,
    MountState,
    VmTruth,
    count_states,
)
from .rules import (
    PDL,
    DsFacts,
    LunFacts,
    flowing,
    is_local,
    judge_lun,
    judge_mount,
    judge_vm,
    summarize,
)
from .summary import summarize_host
from .verdict import Verdict

_DEFAULT_LEVEL = ServiceLevel()
_AVAILABLE = frozenset(s for s in PathState if s.available)


class _Backing(NamedTuple):
    """A judged backing (datastore chain or RDM LUN) from one host: what disks sharing it share."""

    verdict: Verdict
    explanation: str
    sla_met: bool
    datastores: tuple[DatastoreTruth, ...]
    luns: tuple[LunTruth, ...]
    mapping: DatastoreTruth | None = None


class _Cache:
    """Judgements for one service level, keyed by (host moref, LUN / datastore / backing)."""

    __slots__ = ("level", "luns", "datastores", "backings")

    def __init__(self, level: ServiceLevel) -> None:
        self.level = level
        self.luns: dict[tuple[str, str], LunTruth] = {}
        self.datastores: dict[tuple[str, str], DatastoreTruth] = {}
        self.backings: dict[tuple[Any, ...], _Backing] = {}


class _PerHost(dict):
    """host moref -> an index of that host, built on first access (KeyError for an unknown host)."""

    __slots__ = ("_hosts", "_build")

    def __init__(self, hosts: Mapping[str, Host], build: Any) -> None:
        super().__init__()
        self._hosts = hosts
        self._build = build

    def __missing__(self, moref: str) -> Any:
        value = self[moref] = self._build(self._hosts[moref])
        return value


_newest: tuple[Inventory | None, "TruthContext | None"] = (None, None)
_newest_lock = threading.Lock()


_hosts = HostIndex()  # the loop's per-host indexes, kept for the hosts a change did not touch


def shared_context(inv: Inventory) -> "TruthContext":
    """The TruthContext of ``inv``, one per inventory for the service's loop: the incident pass and the reconcile
    pass of the same inventory judge each LUN once. Only the newest inventory's is kept. Callers share it within
    one thread of work (the loop's), as its caches fill as they are asked."""
    global _newest
    with _newest_lock:
        held, ctx = _newest
        if held is not inv or ctx is None:
            ctx = TruthContext(inv, _hosts)
            _newest = (inv, ctx)
        return ctx


class TruthContext:
    """One inventory, indexed once, so each disk costs a few dict lookups instead of a scan of all hosts."""

    def __init__(self, inv: Inventory, index: HostIndex | None = None) -> None:
        self.inv = inv
        # Per-host indexes are built on first use: a question about one VM looks at a few hosts' paths,
        # and indexing every path of 2,000 hosts up front would cost more than the answer. ``index``: the
        # per-host indexes of the inventories before (a host that did not change keeps its own).
        hosts = inv.hosts  # (keyed by moref)
        if index is not None:
            index.keep_only(hosts)
            self._paths: Mapping[str, dict[str, list[Path]]] = _PerHost(hosts, index.paths)  # host -> lun -> paths
            self._luns: Mapping[str, dict[str, Lun]] = _PerHost(hosts, index.luns)  # host moref -> lun -> Lun
        else:
            self._paths = _PerHost(hosts, _paths_by_lun)
            self._luns = _PerHost(hosts, _luns_by_name)
        self._unchanged: Unchanged | None = None
        before = index.last if index is not None else None
        if before is not None:  # the inventory before (or the same one again: everything judged is kept)
            self._unchanged = unchanged(before.inv, inv)
        names = index.names if index is not None else _names
        luns = before._index.carried(inv, self._unchanged, names) if self._unchanged is not None else None
        self._carried = luns is not None  # no host gained or lost a LUN: a LUN's facts can be patched
        self._index = luns or LunIndex(inv, names)
        self._seen_by, self._any_lun = self._index.seen_by, self._index.any_lun
        self._by_uuid, self._lun_ds = self._index.by_uuid, self._index.lun_ds
        self._host_paths: dict[tuple[str, str], HostPaths] = {}
        self._local_ds: dict[str, dict[str, Datastore]] = {}  # a LUN name several datastores have: host -> its own
        self._lun_facts: dict[str, Facts] = {}
        # the judgements of the inventory before that nothing changed under (the watch's next inventory differs
        # in a few hosts: a LUN seen by 2,000 hosts is not judged again from 2,000 hosts' paths for one flap)
        self._kept_paths: Mapping[tuple[str, str], HostPaths] = {}
        #: LUN -> (facts judged in an inventory before, the hosts whose view changed since): what no pass asked
        #: for is carried on too (a LUN judged three flaps ago is patched, not rebuilt from 2,000 hosts)
        self._kept_facts: dict[str, tuple[Facts, frozenset[str]]] = {}
        self._kept_ds: dict[str, tuple[Datastore, DsFacts]] = {}
        if self._unchanged is not None:
            self._kept_paths = before._host_paths
            self._kept_facts = before._facts_after(self._unchanged, self._carried)
            self._kept_ds = before._ds_after(self._unchanged)
        if index is not None:
            index.last = self
        self._ds_facts: dict[str, tuple[Datastore, DsFacts]] = {}  # moref -> (the datastore, its facts)
        self._caches: dict[ServiceLevel, _Cache] = {}

    # -- public questions ---------------------------------------------------------------------------

    def disk_truths(self, level: ServiceLevel | None = None,
                    levels: Mapping[str, ServiceLevel] | None = None) -> tuple[DiskTruth, ...]:
        """Every disk of every VM, VMs in inventory order, disks in device order; each VM judged by its level
        in ``levels`` (VM moref -> level), else by ``level``."""
        levels = levels or {}
        with gc_paused():
            return tuple(d for vm in self.inv.vms.values()
                         for d in self._vm_disks(vm, self._cache(levels.get(vm.moref, level))))

    def vm_truths(self, level: ServiceLevel | None = None,
                  levels: Mapping[str, ServiceLevel] | None = None) -> tuple[VmTruth, ...]:
        levels = levels or {}
        with gc_paused():
            return tuple(self.vm_truth(moref, levels.get(moref, level)) for moref in self.inv.vms)

    def vm_truth(self, vm_moref: str, level: ServiceLevel | None = None) -> VmTruth:
        vm = self.inv.vms.get(vm_moref)
        if vm is None:
            raise KeyError(f"no VM {vm_moref!r} in the inventory")
        cache = self._cache(level)
        disks = self._vm_disks(vm, cache)
        host = self.inv.hosts.get(vm.host)
        verdict, explanation = judge_vm(host, disks, cache.level)
        sla_met = verdict.usable and all(d.sla_met for d in disks) and verdict is not Verdict.BELOW_SLA
        return VmTruth(
            vm=vm.moref, name=vm.name, uuid=vm.uuid, power_state=vm.power_state,
            host=host.name if host else "", host_moref=vm.host, cluster=host.cluster if host else "",
            verdict=verdict, explanation=explanation, sla_met=sla_met, disks=disks,
            level=level_check(cache.level, disks, sla_met, lambda name: self._view_in_facts(vm.host, name)),
            host_evacuation=evacuation(host),
        )

    def host_summary(self, host_moref: str) -> HostSummary:
        """One host's storage as its admin counts it (:func:`.summary.summarize_host`)."""
        host = self.inv.hosts.get(host_moref)
        if host is None:
            raise KeyError(f"no host {host_moref!r} in the inventory")
        names = sorted(self._luns[host.moref].keys() | self._paths[host.moref].keys())
        luns = tuple(self._host_lun(host, name) for name in names)
        reached = {name: flowing(self._paths_of(host.moref, name)) for name in names}
        return summarize_host(host, luns, reached, self._host_since(host))

    def lun_truth(self, host_moref: str, canonical_name: str, level: ServiceLevel | None = None) -> LunTruth:
        """One LUN judged from one host."""
        return self._lun(self._cache(level), host_moref, canonical_name)

    def datastore_truth(self, host_moref: str, ds: Datastore, level: ServiceLevel | None = None) -> DatastoreTruth:
        """One datastore judged from one host: its mount and its extents."""
        return self._datastore(self._cache(level), host_moref, ds)

    def rdm_lun(self, disk: Disk) -> str | None:
        """The canonical name of an RDM's LUN: by ``lun_uuid``, else from its device path."""
        if disk.lun_uuid and disk.lun_uuid in self._by_uuid:
            return self._by_uuid[disk.lun_uuid]
        name = disk.device_name.rsplit("/", 1)[-1]
        return name if name and name in self._seen_by else None

    def lun_names(self, host_moref: str) -> frozenset[str]:
        """The LUNs a host sees: its devices and its paths' LUNs."""
        return self._index.names_of(host_moref)  # type: ignore[return-value]

    def mount_of(self, ds: Datastore, host_moref: str) -> Mount | None:
        """A host's mount of a datastore (None: the host does not mount it)."""
        return self._ds(ds).by_host.get(host_moref)

    def datastores_of(self, name: str) -> list[Datastore]:
        """The datastores a LUN is an extent of."""
        return [self.inv.datastores[m] for m in self._lun_ds.get(name, ())]

    def paths_by_lun(self, host_moref: str) -> Mapping[str, list[Path]]:
        """One host's paths by LUN canonical name (the index the truth reads; do not change it)."""
        return self._paths[host_moref]

    # -- caching ------------------------------------------------------------------------------------

    def _cache(self, level: ServiceLevel | None) -> _Cache:
        level = level or _DEFAULT_LEVEL
        found = self._caches.get(level)
        if found is None:
            found = self._caches[level] = _Cache(level)
        return found

    def _lun(self, cache: _Cache, host_moref: str, name: str) -> LunTruth:
        found = cache.luns.get((host_moref, name))
        if found is None:
            found = cache.luns[host_moref, name] = self._judge_lun(host_moref, name, cache.level)
        return found

    def _datastore(self, cache: _Cache, host_moref: str, ds: Datastore) -> DatastoreTruth:
        found = cache.datastores.get((host_moref, ds.moref))
        if found is None:
            found = cache.datastores[host_moref, ds.moref] = self._judge_datastore(cache, host_moref, ds)
        return found

    # -- disks --------------------------------------------------------------------------------------

    def _vm_disks(self, vm: Vm, cache: _Cache) -> tuple[DiskTruth, ...]:
        host = self.inv.hosts.get(vm.host)
        host_name = host.name if host else ""
        out = []
        for disk in vm.disks:
            # Disks on the same host with the same backing share one judgement.
            key = (vm.host, disk.backing, disk.datastores, disk.lun_uuid, disk.device_name)
            backing = cache.backings.get(key)
            if backing is None:
                backing = cache.backings[key] = self._backing(cache, vm.host, disk)
            out.append(DiskTruth(
                vm=vm.moref, vm_name=vm.name, host=host_name, host_moref=vm.host, disk=disk,
                verdict=backing.verdict, explanation=backing.explanation, sla_met=backing.sla_met,
                datastores=backing.datastores, luns=backing.luns, mapping=backing.mapping,
            ))
        return tuple(out)

    def _backing(self, cache: _Cache, host_moref: str, disk: Disk) -> _Backing:
        """Follow a disk's backing down to datastores and LUNs, and judge it."""
        datastores: list[DatastoreTruth] = []
        luns: dict[str, LunTruth] = {}
        parts: list[tuple[Verdict, str]] = []
        chain: tuple[str, ...] = ()
        mapping: DatastoreTruth | None = None
        if disk.backing.startswith("rdm"):
            name = self.rdm_lun(disk)
            if name is None:
                parts.append((Verdict.UNKNOWN, f"RDM LUN {disk.lun_uuid or disk.device_name or '?'} "
                                               "is not seen by any host"))
            else:
                lun = luns[name] = self._lun(cache, host_moref, name)
                parts.append((lun.verdict, lun.explanation))
            chain = self._snapshot_datastores(disk)
            mapping = self._mapping(cache, host_moref, disk)
            if mapping is not None and not mapping.verdict.usable and (not parts or parts[0][0].usable):
                parts.append((Verdict.DEGRADED, f"its mapping file's datastore {mapping.name} is out of reach from "
                              f"{mapping.host} ({mapping.verdict.value}): I/O goes on to the LUN, but the disk "
                              "cannot be moved (vMotion) or powered on until it is back"))
        elif disk.backing == "vmdk" and disk.datastores:
            chain = disk.datastores
        else:
            parts.append((Verdict.UNKNOWN, f"{disk.backing} backing is not mapped to storage"))
        for moref in chain:
            ds = self.inv.datastores.get(moref)
            if ds is None:
                parts.append((Verdict.UNKNOWN, f"datastore {moref} is not in the inventory"))
                continue
            dt = self._datastore(cache, host_moref, ds)
            datastores.append(dt)
            parts.append((dt.verdict, dt.explanation))
            for name in ds.extents:
                if name not in luns:
                    luns[name] = self._lun(cache, host_moref, name)
        verdict, explanation = summarize(parts)
        if verdict is Verdict.HEALTHY and len(luns) > 1:  # one short line, not one clause per LUN
            here = [h for lun in luns.values() for h in lun.hosts if h.host_moref == host_moref]
            carrying = sum(h.io or 0 for h in here)
            explanation = (f"{sum(h.available for h in here)} paths to {len(luns)} LUNs available on "
                           f"{here[0].host if here else '?'}" + (f", {carrying} carrying I/O" if carrying else ""))
        sla_met = verdict.usable and all(lun.sla_met for lun in luns.values())
        return _Backing(verdict, explanation, sla_met, tuple(datastores), tuple(luns.values()), mapping)

    def _mapping(self, cache: _Cache, host_moref: str, disk: Disk) -> DatastoreTruth | None:
        """The datastore of an RDM's mapping file (its base file, the last of the chain), judged from the host."""
        if not disk.files or not disk.files[-1].startswith("[") or "]" not in disk.files[-1]:
            return None
        name = disk.files[-1][1:disk.files[-1].index("]")]
        ds = next((self.inv.datastores[m] for m in disk.datastores if m in self.inv.datastores
                   and self.inv.datastores[m].name == name), None)
        return self._datastore(cache, host_moref, ds) if ds is not None else None

    def _snapshot_datastores(self, disk: Disk) -> tuple[str, ...]:
        """An RDM's I/O goes to its LUN, not to the mapping file's datastore; but a virtual-mode RDM with
        snapshots writes to delta disks (every file but the last, the mapping file), so their datastores count."""
        names = {f[1:f.index("]")] for f in disk.files[:-1] if f.startswith("[") and "]" in f}
        return tuple(m for m in disk.datastores if m in self.inv.datastores and self.inv.datastores[m].name in names)

    # -- LUNs ---------------------------------------------------------------------------------------

    def _paths_of(self, host_moref: str, name: str) -> HostPaths:
        key = (host_moref, name)
        found = self._host_paths.get(key)
        if found is not None:
            return found
        if self._unchanged is not None and self._unchanged.keeps(host_moref, name):
            found = self._kept_paths.get(key)
            if found is not None:
                self._host_paths[key] = found
                return found
        host = self.inv.hosts[host_moref]
        lun = self._luns[host_moref].get(name)
        paths = tuple(self._paths[host_moref].get(name, ()))
        ds = self._datastore_of(name, host_moref)
        mount = self._ds(ds).by_host.get(host_moref) if ds else None
        accessible = (mount.mounted and mount.accessible) if mount else None
        reason = mount.inaccessible_reason if mount else ""
        events = self.inv.events_of(host_moref, name)
        pdl, apd, since, source = loss_evidence(events, accessible, reason)
        operational = lun.operational_state if lun else ()
        available = sum(p.state in _AVAILABLE for p in paths)
        reported = bool(paths) or lun is None or lun.claimed_by == "NMP"
        troubled = (available < len(paths) or not reported and accessible is False
                    or any(s not in ("ok", "unknownState") for s in operational))
        if since is None and troubled:
            since, source = self.inv.since.get(f"{host_moref}/{name}"), "watch"
        if since is None:
            source = ""
        if not host.connected:
            since, source = self._host_since(host), "watch"
        found = self._host_paths[key] = HostPaths(
            host=host.name, host_moref=host.moref, connected=host.connected, present=lun is not None,
            operational_state=operational, paths=paths, available=available,
            io=sum(1 for p in paths if p.io) if any(p.io is not None for p in paths) else None,
            reported=reported, path_selection_policy=lun.path_selection_policy if lun else "",
            satp=lun.satp if lun else "", mount_accessible=accessible, mount_reason=reason,
            pdl=pdl, apd=apd, since=since, since_source=source,
        )
        return found

    def _host_since(self, host: Host) -> datetime | None:
        """Since when a host that is not connected is so: its connection event, else when the watch saw it."""
        if host.connected:
            return None
        event = opened(self.inv.events_of(host.moref, ""), "not_connected")
        return event.since if event is not None else self.inv.since.get(host.moref)

    def _facts(self, name: str) -> LunFacts:
        found = self._lun_facts.get(name)
        if found is None:
            kept = self._kept_facts.get(name)
            if kept is not None:
                found = patched(kept[0], {m: self._shared_view(m, name) for m in kept[1]}) if kept[1] else kept[0]
            if found is not None:
                self._lun_facts[name] = found
        if found is None:
            shared = [m for m in self._seen_by.get(name, ()) if not is_local(self._luns[m].get(name))]
            found = self._lun_facts[name] = Facts(LunFacts(
                tuple(sorted((self._paths_of(m, name) for m in shared), key=lambda e: e.host))))
        return found.facts

    def _facts_after(self, changed: Unchanged, carried: bool) -> dict[str, tuple[Facts, frozenset[str]]]:
        """The LUN facts the next inventory can start from (``changed``: what it changed; ``carried``: no host
        gained or lost a LUN), each with the hosts whose view it must replace."""
        out = dict(self._kept_facts)
        out.update((name, (facts, frozenset())) for name, facts in self._lun_facts.items())
        for name in changed.names & out.keys():
            if not carried or name in changed.touched:
                del out[name]
            else:
                facts, hosts = out[name]
                out[name] = (facts, hosts | changed.on(name))
        return out

    def _ds_after(self, changed: Unchanged) -> dict[str, tuple[Datastore, DsFacts]]:
        """The datastores' mount facts the next inventory can start from: those whose hosts all kept their
        connection (the datastore object itself is compared when asked)."""
        out = {**self._kept_ds, **self._ds_facts}
        if changed.reconnected:
            out = {m: kept for m, kept in out.items() if changed.keeps_mounts(kept[1].by_host)}
        return out

    def _view_in_facts(self, host_moref: str, name: str) -> HostPaths | None:
        """The host's view of a LUN as its judgement from that host lists it (``LunTruth.hosts``)."""
        if host_moref in self.inv.hosts and is_local(self._luns[host_moref].get(name)):
            return self._paths_of(host_moref, name)  # a local LUN is judged from its own host alone
        self._facts(name)
        found = self._lun_facts[name]
        i = found.at.get(host_moref)
        return found.facts.hosts[i] if i is not None else None

    def _shared_view(self, host_moref: str, name: str) -> HostPaths | None:
        """A host's view of a LUN it sees as shared (None: it does not see it, or as a local device)."""
        if host_moref not in self.inv.hosts or name not in self._index.names_of(host_moref):
            return None
        return None if is_local(self._luns[host_moref].get(name)) else self._paths_of(host_moref, name)

    def _judge_lun(self, host_moref: str, name: str, level: ServiceLevel) -> LunTruth:
        host = self.inv.hosts.get(host_moref)
        lun = (self._luns[host_moref].get(name) if host else None) or self._any_lun.get(name)
        local = is_local(self._luns[host_moref].get(name)) if host else False
        here = self._paths_of(host_moref, name) if host else None
        facts = LunFacts((here,), (), ()) if local and here else self._facts(name)
        verdict, explanation, sla_met = judge_lun(host, name, here, facts, level)
        ds = self._datastore_of(name, host_moref)
        return LunTruth(
            canonical_name=name, host=host.name if host else "", datastore=ds.name if ds else "",
            verdict=verdict, explanation=explanation, sla_met=sla_met,
            display_name=lun.display_name if lun else "", media=lun.media if lun else "unknown",
            lun_type=lun.lun_type if lun else "", vaai=lun.vaai if lun else "", local=local,
            path_selection_policy=here.path_selection_policy if here else "", satp=here.satp if here else "",
            hosts=facts.hosts,
        )

    def _host_lun(self, host: Host, name: str) -> HostLun:
        judged = self.lun_truth(host.moref, name)
        here = self._paths_of(host.moref, name)
        by_hba = {hba: count_states(p for p in here.paths if p.hba == hba)
                  for hba in sorted({p.hba for p in here.paths})}
        return HostLun(
            canonical_name=name, display_name=judged.display_name, datastore=judged.datastore,
            verdict=judged.verdict, explanation=judged.explanation, media=judged.media,
            lun_type=judged.lun_type, vaai=judged.vaai, operational_state=here.operational_state,
            local=judged.local, path_selection_policy=here.path_selection_policy, satp=here.satp,
            counts=here.counts, available=here.available, io=here.io, total=here.total,
            by_hba=by_hba, paths=here.paths,
        )

    # -- datastores ---------------------------------------------------------------------------------

    def _datastore_of(self, name: str, host_moref: str) -> Datastore | None:
        """The datastore a LUN is an extent of. Local ``mpx.*`` names repeat across hosts, each host
        with its own local datastore: pick the one this host mounts."""
        candidates = self._lun_ds.get(name, ())
        if len(candidates) > 1:
            by_host = self._local_ds.get(name)
            if by_host is None:  # one look at the 2,000 local datastores of that name, not one per question
                by_host = self._local_ds[name] = {}
                for moref in reversed(candidates):  # the first one a host mounts wins, as a scan in order would
                    ds = self.inv.datastores[moref]
                    for host in self._ds(ds).by_host:
                        by_host[host] = ds
            return by_host.get(host_moref, self.inv.datastores[candidates[0]])
        return self.inv.datastores[candidates[0]] if candidates else None

    def _ds(self, ds: Datastore) -> DsFacts:
        known = self._ds_facts.get(ds.moref)
        if known is not None:
            return known[1]
        if self._unchanged is not None:  # the same datastore object: its mounts, judged before
            kept = self._kept_ds.get(ds.moref)
            if kept is not None and kept[0] is ds:
                self._ds_facts[ds.moref] = kept
                return kept[1]
        states = []
        for m in ds.mounts:
            host = self.inv.hosts.get(m.host)
            states.append(MountState(
                host=host.name if host else m.host, host_moref=m.host, connected=bool(host and host.connected),
                mounted=m.mounted, accessible=m.mounted and m.accessible, reason=m.inaccessible_reason,
            ))
        states.sort(key=lambda s: s.host)
        found = DsFacts(
            mounts=tuple(states), by_host={m.host: m for m in ds.mounts},
            accessible_on=tuple(s for s in states if s.connected and s.accessible),
            pdl_on=tuple(s for s in states if s.connected and s.reason == PDL),
        )
        self._ds_facts[ds.moref] = (ds, found)
        return found

    def _judge_datastore(self, cache: _Cache, host_moref: str, ds: Datastore) -> DatastoreTruth:
        host = self.inv.hosts.get(host_moref)
        facts = self._ds(ds)
        parts = [(t.verdict, t.explanation) for t in (self._lun(cache, host_moref, n) for n in ds.extents)]
        mount = judge_mount(host, ds, facts)
        # A healthy mount adds nothing to what the extents say; otherwise the mount is evidence too.
        if mount is not None and (mount[0] is not Verdict.HEALTHY or not parts):
            parts.append(mount)
        if not parts:
            parts.append((Verdict.UNKNOWN, f"no extents or mounts known for {ds.name}"))
        verdict, explanation = summarize(parts)
        return DatastoreTruth(
            moref=ds.moref, name=ds.name, kind=ds.kind, host=host.name if host else "", verdict=verdict,
            explanation=explanation, extents=ds.extents, remote=ds.remote, mounts=facts.mounts,
        )


# ---------------------------------------------------------------------------------------------------
# One question, one context


def disk_truths(inv: Inventory, level: ServiceLevel | None = None) -> tuple[DiskTruth, ...]:
    """The truth of every disk of every VM."""
    return TruthContext(inv).disk_truths(level)


def vm_truths(inv: Inventory, level: ServiceLevel | None = None) -> tuple[VmTruth, ...]:
    return TruthContext(inv).vm_truths(level)


def vm_truth(inv: Inventory, vm_moref: str, level: ServiceLevel | None = None) -> VmTruth:
    """One VM: identity, host, cluster, and its disks. KeyError for a VM not in the inventory."""
    return TruthContext(inv).vm_truth(vm_moref, level)


def host_summary(inv: Inventory, host_moref: str) -> HostSummary:
    """One host's storage, as its admin wants it. KeyError for a host not in the inventory."""
    return TruthContext(inv).host_summary(host_moref)
