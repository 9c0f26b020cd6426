"""Which disks a failure hits: a disk on host H whose footprint (:mod:`.footprint`) holds a LUN or datastore
the failure reaches on H, or every disk on a host vCenter cannot reach. A disk hit by two failures is listed
under both. The verdicts shown beside the hits are the truth's, as the caller judged them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from vsguesttruth.gcpause import paused as gc_paused
from vsguesttruth.model import Inventory
from vsguesttruth.truth import Verdict, VmTruth

from .failure import Failure
from .footprint import VmPrint

DiskId = tuple[str, int]  # (vm moref, disk key)


@dataclass(frozen=True, slots=True)
class Hit:
    """One disk a failure hits, and its verdict now (``None`` when the caller judged no verdicts)."""

    vm: str
    vm_name: str
    key: int
    label: str
    host: str  # host moref
    host_name: str
    cluster: str
    verdict: Verdict | None = None
    explanation: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"vm": self.vm_name, "vm_moref": self.vm, "key": self.key, "disk": self.label,
                "host": self.host_name, "host_moref": self.host, "cluster": self.cluster,
                "verdict": self.verdict.value if self.verdict is not None else None,
                "explanation": self.explanation}


def disk_failures(failures: Iterable[Failure], prints: Mapping[str, VmPrint], inv: Inventory | None = None,
                  on_host: Callable[[str], Iterable[str]] | None = None) -> dict[DiskId, tuple[str, ...]]:
    """Every disk some failure hits -> the keys of those failures (in the order given). With ``inv``, only the
    footprints of VMs on hosts a failure reaches are asked for; ``on_host(host moref)``: the VMs on a host, kept
    by the caller (else found by a walk of every VM of ``inv``)."""
    with gc_paused():
        return _disk_failures(failures, prints, inv, on_host)


def _disk_failures(failures: Iterable[Failure], prints: Mapping[str, VmPrint], inv: Inventory | None = None,
                   on_host: Callable[[str], Iterable[str]] | None = None) -> dict[DiskId, tuple[str, ...]]:
    index: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for f in failures:
        for item in f.scope:
            index[item].append(f.key)
    if not index:
        return {}
    hosts = {h for h, _, _ in index}
    if inv is None:
        candidates: Iterable[VmPrint] = prints.values()
    elif on_host is not None:
        candidates = (prints[m] for h in sorted(hosts) for m in sorted(on_host(h)) if m in inv.vms)
    else:
        candidates = (prints[m] for m, vm in inv.vms.items() if vm.host in hosts)
    return _disks_hit(index, hosts, candidates)


def _disks_hit(index: Mapping[tuple[str, str, str], list[str]], hosts: set[str],
               candidates: Iterable[VmPrint]) -> dict[DiskId, tuple[str, ...]]:
    """The disks of ``candidates`` on ``hosts`` that some scope item of ``index`` reaches -> those failures' keys."""
    out: dict[DiskId, tuple[str, ...]] = {}
    known: dict[tuple[str, tuple[str, ...], tuple[str, ...]], tuple[str, ...]] = {}  # VMs of a host share disks'
    for p in candidates:
        if p.host not in hosts:
            continue
        for d in p.disks:
            where = (p.host, d.luns, d.datastores)
            found = known.get(where)
            if found is None:
                keys = list(index.get((p.host, "*", ""), ()))
                for name in d.luns:
                    keys.extend(index.get((p.host, "lun", name), ()))
                for moref in d.datastores:
                    keys.extend(index.get((p.host, "ds", moref), ()))
                found = known[where] = tuple(dict.fromkeys(keys))
            if found:
                out[p.vm, d.key] = found
    return out


class DiskFailures:
    """:func:`disk_failures` kept across inventories, host by host: a host whose scope items (and the failures
    reaching them) are the same as before, and none of whose VMs changed their host, disks or name since (the
    watch's delta says which VMs changed: mostly a guest document written), keeps its disks' entries. Under a
    storm of path flaps dozens of hosts have a failure and an inventory changes one or two of them."""

    def __init__(self) -> None:
        #: host moref -> (its scope items and their failures' keys, its disks' entries)
        self._hosts: dict[str, tuple[tuple, dict[DiskId, tuple[str, ...]]]] = {}
        self._inv: Inventory | None = None

    def __call__(self, failures: Iterable[Failure], prints: Mapping[str, VmPrint], inv: Inventory,
                 on_host: Callable[[str], Iterable[str]]) -> dict[DiskId, tuple[str, ...]]:
        """What :func:`disk_failures` gives for the same arguments (``on_host``: the VMs on a host in ``inv``)."""
        with gc_paused():
            moved = _placed_anew(self._inv, inv)
            self._inv = inv
            per_host: dict[str, dict[tuple[str, str], list[str]]] = defaultdict(dict)
            for f in failures:
                for host, kind, what in f.scope:
                    per_host[host].setdefault((kind, what), []).append(f.key)
            out: dict[DiskId, tuple[str, ...]] = {}
            kept = {}
            for host in sorted(per_host):
                items = per_host[host]
                scope = tuple(sorted((item, tuple(keys)) for item, keys in items.items()))
                old = self._hosts.get(host)
                if old is not None and old[0] == scope and moved is not None and host not in moved:
                    mine = old[1]
                else:
                    index = {(host, kind, what): keys for (kind, what), keys in items.items()}
                    mine = _disks_hit(index, {host}, (prints[m] for m in sorted(on_host(host)) if m in inv.vms))
                kept[host] = (scope, mine)
                out.update(mine)
            self._hosts = kept
            return out


def _placed_anew(old: Inventory | None, new: Inventory) -> set[str] | None:
    """The hosts whose VMs' footprints may differ between ``old`` and ``new``: those a VM left or came to, or one
    of whose VMs changed its disks or name (None: any host, when the watch's delta does not tell, or a datastore's
    extents or name changed: a disk's LUNs follow from them)."""
    if old is None or new.delta is None or new.delta.base != old.serial:
        return None
    for moref in new.delta.datastores:
        a, b = old.datastores.get(moref), new.datastores.get(moref)
        if a is None or b is None or a.extents != b.extents or a.name != b.name:
            return None
    hosts: set[str] = set()
    for moref in new.delta.vms:
        a, b = old.vms.get(moref), new.vms.get(moref)
        same = a is not None and b is not None and (a.host, a.name) == (b.host, b.name) and (
            a.disks is b.disks or a.disks == b.disks)
        if not same:
            hosts.update(vm.host for vm in (a, b) if vm is not None)
    return hosts


def hits(failures: Iterable[Failure], prints: Mapping[str, VmPrint], inv: Inventory,
         truths: Mapping[str, VmTruth] | None = None) -> dict[str, tuple[Hit, ...]]:
    """Failure key -> the disks it hits (VM name, disk order), with their verdicts from ``truths`` if given."""
    with gc_paused():
        return _hits(failures, prints, inv, truths)


def _hits(failures: Iterable[Failure], prints: Mapping[str, VmPrint], inv: Inventory,
          truths: Mapping[str, VmTruth] | None = None) -> dict[str, tuple[Hit, ...]]:
    failures = list(failures)
    by_disk = disk_failures(failures, prints, inv)
    out: dict[str, list[Hit]] = {f.key: [] for f in failures}
    for (vm, key), keys in by_disk.items():
        p = prints[vm]
        label = next(d.label for d in p.disks if d.key == key)
        host = inv.hosts.get(p.host)
        verdict, explanation = None, ""
        truth = truths.get(vm) if truths is not None else None
        if truth is not None:
            disk = next((d for d in truth.disks if d.key == key), None)
            if disk is not None:
                verdict, explanation = disk.verdict, disk.explanation
        hit = Hit(vm, p.name, key, label, p.host, host.name if host else p.host,
                  host.cluster if host else "", verdict, explanation)
        for k in keys:
            out[k].append(hit)
    return {k: tuple(sorted(v, key=lambda h: (h.vm_name, h.vm, h.key))) for k, v in out.items()}
