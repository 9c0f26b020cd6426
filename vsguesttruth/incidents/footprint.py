"""What each disk's I/O depends on, as the truth follows it: its LUNs and datastores (a VMDK: its snapshot
chain's datastores and their extents; an RDM: its LUN, its mapping file's datastore, and the datastores of
its snapshot deltas).

The grouping matches failures against these, so a disk is hit by exactly the evidence its verdict reads.
Taken from the truth's own answer (``TruthContext.vm_truth``) when first asked for, and kept while the VM's
host, name and disks stay (a new document in its guestinfo makes a new VM object, not a new footprint), so
:class:`Footprints` recomputes only the VMs that moved or were reconfigured, and a question about the VMs of a
few hosts judges only those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

from vsguesttruth.model import Datastore, Disk, Inventory, Vm
from vsguesttruth.truth import DiskTruth, TruthContext


@dataclass(frozen=True, slots=True)
class DiskPrint:
    key: int
    label: str
    luns: tuple[str, ...]  # canonical names
    datastores: tuple[str, ...]  # datastore morefs


@dataclass(frozen=True, slots=True)
class VmPrint:
    vm: str
    name: str
    host: str  # host moref
    disks: tuple[DiskPrint, ...]


def disk_print(d: DiskTruth) -> DiskPrint:
    """An RDM also depends on its mapping file's datastore (vMotion and power-on need it; the truth reads it)."""
    luns = tuple(lun.canonical_name for lun in d.luns)
    datastores = tuple(ds.moref for ds in d.datastores)
    if d.mapping is not None and d.mapping.moref not in datastores:
        datastores += (d.mapping.moref,)  # hit when the datastore fails there, not by a path to its LUN
    return DiskPrint(d.key, d.label, luns, datastores)


class Prints(Mapping[str, VmPrint]):
    """The footprints of one inventory's VMs by moref, each computed when first asked for (or kept from an
    earlier inventory when its VM's host, name and disks are the same)."""

    def __init__(self, inv: Inventory, ctx: TruthContext, kept: dict[str, tuple[tuple[Disk, ...], VmPrint]],
                 backings: dict[tuple, DiskPrint] | None = None) -> None:
        self.inv = inv
        self.ctx = ctx
        self._kept = kept
        # a disk's backing -> its print (this inventory's, or kept while no datastore's extents changed)
        self._backings: dict[tuple, DiskPrint] = {} if backings is None else backings

    def __getitem__(self, moref: str) -> VmPrint:
        vm = self.inv.vms[moref]
        found = self._kept.get(moref)
        if found is None or found[0] is not vm.disks and found[0] != vm.disks or \
                (found[1].host, found[1].name) != (vm.host, vm.name):
            found = self._kept[moref] = (vm.disks, self._print(vm))
        return found[1]

    def _print(self, vm: Vm) -> VmPrint:
        """A disk's LUNs and datastores follow from its backing alone (not from the host judging it), so disks
        that share a backing with one already followed (most: thousands of VMs on a few datastores) cost a
        lookup; the truth is asked only for a VM with a backing not seen yet."""
        known = self._backings
        keys = [(d.backing, d.datastores, d.lun_uuid, d.device_name) for d in vm.disks]
        if any(k not in known for k in keys):
            for k, d in zip(keys, self.ctx.vm_truth(vm.moref).disks):
                known[k] = disk_print(d)
        return VmPrint(vm.moref, vm.name, vm.host, tuple(
            DiskPrint(d.key, d.label, known[k].luns, known[k].datastores) for d, k in zip(vm.disks, keys)))

    def __iter__(self) -> Iterator[str]:
        return iter(self.inv.vms)

    def __len__(self) -> int:
        return len(self.inv.vms)


class Footprints:
    """The footprints of an inventory's VMs, kept across inventories (not thread-safe: one owner)."""

    def __init__(self) -> None:
        # VM moref -> (the disks it was computed from, the print): not the VM object, which holds the guest's
        # document of its time (a VM whose print was asked for once would keep a stale copy of it)
        self._kept: dict[str, tuple[tuple[Disk, ...], VmPrint]] = {}
        self._backings: dict[tuple, DiskPrint] = {}
        self._datastores: Mapping[str, Datastore] | None = None  # where the backings were followed

    def of(self, inv: Inventory, ctx: TruthContext) -> Prints:
        """The VMs' footprints; the truth is asked only for VMs that are new or changed, when asked for. A VM
        whose guest got a new document is a new object: its disks' backings are still followed already (a
        backing leads to the same LUNs and datastores while no datastore's extents changed)."""
        kept = self._kept
        if len(kept) > len(inv.vms):
            for moref in [m for m in kept if m not in inv.vms]:
                del kept[moref]
        if self._datastores is not None and not _same_extents(self._datastores, inv.datastores):
            self._backings = {}
        self._datastores = inv.datastores
        return Prints(inv, ctx, kept, self._backings)


def _same_extents(before: Mapping[str, Datastore], now: Mapping[str, Datastore]) -> bool:
    if before is now:
        return True
    if before.keys() != now.keys():
        return False
    return all(ds is before[m] or ds.extents == before[m].extents and ds.name == before[m].name
               for m, ds in now.items())


def footprints(inv: Inventory, ctx: TruthContext) -> Prints:
    """The VMs' footprints, each computed when first asked for."""
    return Footprints().of(inv, ctx)
