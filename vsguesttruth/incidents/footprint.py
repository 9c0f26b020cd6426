"""What each disk's I/O depends on, as the truth follows it: its LUNs and datastores (a VMDK: its snapshot
chain's datastores and their extents; an RDM: its LUN, and only the datastores of its snapshot deltas).

The grouping matches failures against these, so a disk is hit by exactly the evidence its verdict reads.
Taken from the truth's own answer (``TruthContext.vm_truth``), once per VM object: the inventory keeps an
unchanged VM as the same object from one version to the next, so :class:`Footprints` recomputes only the
VMs that changed (moved, reconfigured) and the steady state costs a dictionary lookup per VM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from vsguesttruth.model import Inventory, Vm
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
    return DiskPrint(d.key, d.label, tuple(lun.canonical_name for lun in d.luns), tuple(ds.moref for ds in d.datastores))


def vm_print(vm: Vm, disks: Iterable[DiskTruth]) -> VmPrint:
    return VmPrint(vm.moref, vm.name, vm.host, tuple(disk_print(d) for d in disks))


class Footprints:
    """The footprints of an inventory's VMs, kept across inventories (not thread-safe: one owner)."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[Vm, VmPrint]] = {}

    def of(self, inv: Inventory, ctx: TruthContext) -> dict[str, VmPrint]:
        """Every VM's footprint; the truth is asked only for VMs that are new or changed."""
        kept, out = self._kept, {}
        for moref, vm in inv.vms.items():
            found = kept.get(moref)
            if found is None or found[0] is not vm:
                found = kept[moref] = (vm, vm_print(vm, ctx.vm_truth(moref).disks))
            out[moref] = found[1]
        if len(kept) > len(out):
            for moref in [m for m in kept if m not in out]:
                del kept[moref]
        return out


def footprints(inv: Inventory, ctx: TruthContext) -> dict[str, VmPrint]:
    """Every VM's footprint, all computed now."""
    return Footprints().of(inv, ctx)
