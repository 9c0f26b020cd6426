"""A virtual disk's compact record, as `status --json`, the plugin's disk table and their filters use it: one
function of its truth and the target ports its host's paths to its LUNs go through (vSphere reports the ports by
WWN). The plugin's views and the service loop's verdicts build their rows with it."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

from vsguesttruth.model import Inventory
from vsguesttruth.truth import DiskTruth


def disk_record(d: DiskTruth, targets: Callable[[str, list[str]], list[str]]) -> dict:
    """A disk's compact record (the fields of ``status --json``, and what the filters need); ``targets(host
    moref, LUN names)``: the target ports of the host's paths to those LUNs."""
    luns = [lun.canonical_name for lun in d.luns]
    return {
        "vm": d.vm_name, "vm_moref": d.vm, "disk": d.label, "key": d.key, "host": d.host,
        "host_moref": d.host_moref, "controller": d.disk.controller, "bus": d.disk.bus, "unit": d.disk.unit,
        "uuid": d.disk.uuid, "backing": d.disk.backing, "capacity_bytes": d.disk.capacity_bytes,
        "datastores": [ds.name for ds in d.datastores], "datastore_morefs": [ds.moref for ds in d.datastores],
        "luns": luns, "targets": targets(d.host_moref, luns),
        "verdict": d.verdict.value, "advice": d.advice.value, "explanation": d.explanation,
        "sla_met": d.sla_met,
    }


class Targets:
    """``targets(host moref, LUN names)``: the target ports of the host's paths to those LUNs (each host's
    paths indexed by LUN on first use)."""

    def __init__(self, inv: Inventory) -> None:
        self.inv = inv
        self._by_host: dict[str, dict[str, set[str]]] = {}

    def __call__(self, host_moref: str, luns: list[str]) -> list[str]:
        by_lun = self._by_host.get(host_moref)
        if by_lun is None:
            by_lun = self._by_host[host_moref] = defaultdict(set)
            host = self.inv.hosts.get(host_moref)
            for p in host.paths if host else ():
                if p.target:
                    by_lun[p.lun].add(p.target)
        return sorted({t for lun in luns for t in by_lun.get(lun, ())})
