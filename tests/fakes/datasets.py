"""VM data sets in memory, as vCenter's ``com.vmware.vcenter.vm.data_sets`` answers (the edge's ``VmDataSets``
calls, plain data): for the delivery channel's tests without a vCenter. Counts calls, can refuse VMs (older
hardware, missing privileges) and fail on demand."""

from __future__ import annotations

from dataclasses import dataclass

from vsguesttruth.errors import VsgtError


@dataclass(frozen=True)
class Spec:
    name: str
    description: str = ""
    host: str = "READ_WRITE"
    guest: str = "READ_ONLY"
    omit_from_snapshot_and_clone: bool = True


class FakeDataSets:
    def __init__(self, unusable: set[str] | frozenset[str] = frozenset()) -> None:
        self.sets: dict[str, dict[str, Spec]] = {}  # vm -> name -> spec
        self.entries: dict[tuple[str, str], dict[str, str]] = {}  # (vm, name) -> key -> value
        self.unusable = set(unusable)
        self.failing: set[str] = set()  # VMs whose calls fail (vCenter away)
        self.calls: list[tuple[str, ...]] = []

    def _call(self, *what: str) -> None:
        self.calls.append(what)
        if what[1] in self.failing:
            raise VsgtError(f"cannot reach vCenter's Automation API ({what[0]} {what[1]})")

    def count(self, op: str | None = None) -> int:
        return sum(1 for c in self.calls if op is None or c[0] == op)

    def names(self, vm):
        self._call("names", vm)
        return None if vm in self.unusable else set(self.sets.get(vm, {}))

    def info(self, vm, name):
        self._call("info", vm)
        return self.sets.get(vm, {}).get(name)

    def create(self, vm, spec):
        self._call("create", vm)
        self.sets.setdefault(vm, {}).setdefault(spec.name, spec)
        self.entries.setdefault((vm, spec.name), {})

    def update(self, vm, spec):
        self._call("update", vm)
        self.sets[vm][spec.name] = spec

    def keys(self, vm, name):
        self._call("keys", vm)
        return set(self.entries[(vm, name)]) if name in self.sets.get(vm, {}) else None

    def get(self, vm, name, key):
        self._call("get", vm)
        return self.entries.get((vm, name), {}).get(key) if name in self.sets.get(vm, {}) else None

    def set(self, vm, name, key, value):
        self._call("set", vm)
        if name not in self.sets.get(vm, {}):
            return False
        self.entries[(vm, name)][key] = value
        return True

    # what the guest does (vmtoolsd datasets-set-entry) and sees
    def guest_write(self, vm: str, name: str, key: str, value: str) -> None:
        self.entries[(vm, name)][key] = value

    def value(self, vm: str, name: str, key: str) -> str | None:
        return self.entries.get((vm, name), {}).get(key)
