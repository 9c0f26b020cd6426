"""Which VMs a change of the inventory touches (client-go's indexer), so a pass recomputes only those.

A VM's document depends on its own record, its host, its datastores, and, only when a LUN or datastore is
not working from its host (connectivity_lost, all_paths_down, media_failure, unknown), on every other host
that sees them ("needs others": another host reaching the LUN is what makes it connectivity_lost rather
than all_paths_down): on another host's paths to those LUNs and its mounts of those datastores, and on the
host's own standing (connected, maintenance, cluster), not on its paths to other LUNs. A VM record that
changed only by the values we wrote ourselves is our write's echo, not a change. The service still checks
every VM every ``[publish] full_interval`` as a safety net (:mod:`.sweep`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from vsguesttruth.model import Datastore, Host, Inventory, Vm
from vsguesttruth.truth import Verdict, VmTruth

from .state import Keys

NOT_WORKING = frozenset({Verdict.CONNECTIVITY_LOST, Verdict.ALL_PATHS_DOWN, Verdict.MEDIA_FAILURE, Verdict.UNKNOWN})


class Index:
    """VMs by host and by datastore, and the VMs whose truth depends on other hosts too."""

    def __init__(self) -> None:
        self.by_host: dict[str, set[str]] = {}
        self.by_ds: dict[str, set[str]] = {}
        self.needs_others: set[str] = set()
        #: a VM -> the LUNs its disks are on (None: a disk whose LUN is not known, e.g. not mapped yet, so any)
        self._luns: dict[str, frozenset[str] | None] = {}
        self._deps: dict[str, tuple[str, frozenset[str]]] = {}  # vm -> (host, datastores) as tracked
        self._sets: dict[frozenset[str], frozenset[str]] = {}

    def changes(self, old: Inventory, new: Inventory, keys: Callable[[str], Keys | None],
                clusters_scoped: bool) -> tuple[set[str], set[str], bool]:
        """``(dirty, gone, rescope)``: the VMs of ``new`` whose document may differ from what ``old`` gave,
        the VMs gone since ``old`` (dropped from the index), and whether a host changed cluster while the
        scope names clusters (VMs may enter or leave it). ``keys(vm)``: our writes to it, to tell echoes."""
        dirty = set()
        gone = set()
        for moref in new.changed_since(old, "vms"):
            vm = new.vms.get(moref)
            if vm is None:
                gone.add(moref)
                self.drop(moref)
                continue
            ours = keys(moref)
            if ours is None or not ours.echo(old.vms.get(moref), vm):
                dirty.add(moref)
        hosts = new.changed_since(old, "hosts")
        stores = new.changed_since(old, "datastores")
        rescope = False
        luns: set[str] | None = set()  # the LUNs whose paths changed on some host (None: any may have)
        for h in hosts:
            if clusters_scoped and h in old.hosts and h in new.hosts and old.hosts[h].cluster != new.hosts[h].cluster:
                rescope = True
            on = self.by_host.get(h, set())
            changed = lun_changes(old.hosts.get(h), new.hosts.get(h))
            if changed is None:
                dirty |= on
                luns = None
            elif changed:  # a path flap: the VMs there on that LUN (a VM elsewhere on it, if it needs others)
                dirty.update(m for m in on if self._uses(m, changed))
                if luns is not None:
                    luns |= changed
        for d in stores:
            users = self.by_ds.get(d, set())
            hosts_of_mounts = mount_changes(old.datastores.get(d), new.datastores.get(d))
            if hosts_of_mounts is None:
                dirty |= users
            else:  # only some hosts' mounts changed: the VMs there (and those that need others)
                for h in hosts_of_mounts:
                    dirty |= users & self.by_host.get(h, set())
                dirty |= users & self.needs_others
        if luns is None:
            dirty |= self.needs_others
        elif luns:
            dirty.update(m for m in self.needs_others if self._uses(m, luns))
        return dirty & new.vms.keys(), gone, rescope

    def _uses(self, moref: str, luns: set[str]) -> bool:
        """Whether a VM's disks may be on one of ``luns`` (yes when not tracked or not known)."""
        mine = self._luns.get(moref)
        return mine is None or not luns.isdisjoint(mine)

    def track(self, vm: Vm, truth: VmTruth) -> None:
        """Remember what this VM's document depends on, to know which changes concern it."""
        host, datastores = self._deps.get(vm.moref, ("", frozenset()))
        wanted = frozenset(ds for disk in vm.disks for ds in disk.datastores)
        wanted = self._sets.setdefault(wanted, wanted)  # one object per distinct set: most VMs share theirs
        if host != vm.host:
            self.by_host.get(host, set()).discard(vm.moref)
            self.by_host.setdefault(vm.host, set()).add(vm.moref)
        if datastores != wanted:
            for ds in datastores - wanted:
                self.by_ds.get(ds, set()).discard(vm.moref)
            for ds in wanted - datastores:
                self.by_ds.setdefault(ds, set()).add(vm.moref)
        self._deps[vm.moref] = (vm.host, wanted)
        others = truth.verdict in NOT_WORKING or any(
            d.verdict in NOT_WORKING or any(lun.verdict in NOT_WORKING for lun in d.luns)
            or any(ds.verdict in NOT_WORKING for ds in d.datastores) for d in truth.disks)
        if others:
            self.needs_others.add(vm.moref)
        else:
            self.needs_others.discard(vm.moref)
        self._luns[vm.moref] = _luns_of(truth, self._sets)

    def drop(self, moref: str) -> None:
        self.needs_others.discard(moref)
        self._luns.pop(moref, None)
        deps = self._deps.pop(moref, None)
        if deps is not None:
            host, datastores = deps
            self.by_host.get(host, set()).discard(moref)
            for ds in datastores:
                self.by_ds.get(ds, set()).discard(moref)


def _luns_of(truth: VmTruth, shared: dict[frozenset[str], frozenset[str]]) -> frozenset[str] | None:
    """The LUNs a VM's disks are on; None when a disk's LUN is not known (a disk on NFS has none, and needs none)."""
    luns = set()
    for d in truth.disks:
        if d.luns:
            luns.update(lun.canonical_name for lun in d.luns)
        elif not d.datastores or not all(ds.kind.upper().startswith("NFS") for ds in d.datastores):
            return None
    found = frozenset(luns)
    return shared.setdefault(found, found)


def lun_changes(old: Host | None, new: Host | None) -> set[str] | None:
    """The LUNs whose paths or device changed on a host, when nothing else about it did (its connection,
    maintenance, cluster, HBAs); else None.

    A path flap changes one host's paths to one LUN: of the VMs there only those on that LUN need a look (a
    few of a dozen), and of the VMs elsewhere that need other hosts' views (their disks do not work) those on
    that LUN (under a LUN burst: hundreds of VMs judged again for every flap anywhere, otherwise)."""
    if old is None or new is None or old.hbas != new.hbas or (
            replace(old, paths=(), luns=()) != replace(new, paths=(), luns=())):
        return None
    before: dict[str, list] = {}
    for p in old.paths:
        before.setdefault(p.lun, []).append(p)
    after: dict[str, list] = {}
    for p in new.paths:
        after.setdefault(p.lun, []).append(p)
    found = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    was = {lun.canonical_name: lun for lun in old.luns}
    now = {lun.canonical_name: lun for lun in new.luns}
    found.update(name for name in was.keys() | now.keys() if was.get(name) != now.get(name))
    return found


def mount_changes(old: Datastore | None, new: Datastore | None) -> set[str] | None:
    """The hosts whose mount of a datastore changed, when nothing else about it did; else None.

    One host losing a LUN changes that host's mount of a datastore thousands of VMs use. A VM elsewhere
    whose disks work does not depend on that mount (a VM whose disks don't is in ``needs_others``), so only
    the VMs on the changed hosts need their truth again: a second per pass saved at 20,000 VMs.
    """
    if old is None or new is None or replace(old, mounts=()) != replace(new, mounts=()):
        return None
    return {m.host for m in set(old.mounts) ^ set(new.mounts)}
