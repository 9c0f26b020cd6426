"""The reconciler on plain data: a stand-in vCenter that applies writes the way ReconfigVM does (our keys
only) and shows them in the next inventory, as the watch would; a hand-driven clock."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

from vsguesttruth.config import Config
from vsguesttruth.guestinfo import RESPONSE, STATE, decode_state
from vsguesttruth.model import Inventory
from vsguesttruth.reconcile import Reconciler, Write, WriteResult

from . import inventory as f
from .clock import Clock


class FakeVcenter:
    """Holds an inventory; a write replaces the VM object with new guestinfo, as the watch would show it."""

    def __init__(self, inv: Inventory) -> None:
        self.inv = inv
        self.writes: list[Write] = []
        self.probes: list[str] = []
        self.fail: set[str] = set()  # VM names whose writes fail

    def write(self, writes):
        results = []
        for w in writes:
            if w.name in self.fail:
                results.append(WriteResult(w, False, "InvalidArgument"))
                continue
            self.writes.append(w)
            self.set(w.vm, **w.values)
            results.append(WriteResult(w, True))
        return results

    def refresh(self, hosts):
        self.probes.extend(hosts)
        return {}

    def set(self, moref: str, **values: str) -> None:
        vm = self.inv.vms[moref]
        info = {**vm.guestinfo, **values}
        self.inv = self.inv.with_vm(replace(vm, guestinfo={k: v for k, v in info.items() if v}))

    def guest(self, name: str, key: str, value: str) -> None:
        """The guest's info-set."""
        self.set(f.vm_moref(name), **{key: value})

    def info(self, name: str, key: str) -> str | None:
        return self.inv.vms[f.vm_moref(name)].guestinfo.get(key)

    def doc(self, name: str) -> dict:
        return decode_state(self.info(name, STATE))

    def response(self, name: str) -> dict:
        return json.loads(self.info(name, RESPONSE))

    def written(self) -> list[str]:
        names = sorted(w.name for w in self.writes)
        self.writes.clear()
        return names


def reconciler(inv: Inventory | None = None, config: Config | None = None, **kw):
    """A Reconciler writing into a FakeVcenter of ``inv`` (default: the lab topology) on a hand clock:
    ``(vcenter, reconciler, clock)``; ``kw`` goes to the Reconciler (``remediation``, ``level``, ...)."""
    vc = FakeVcenter(inv or f.lab_inventory())
    clock = Clock()
    rec = Reconciler(config or Config(), vc, clock=clock,
                     wallclock=lambda: datetime(2025, 1, 1, tzinfo=timezone.utc), **kw)
    return vc, rec, clock
