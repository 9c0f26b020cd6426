"""The VM data sets channel at run time: what each VM's data sets hold (read at first sight, then polled), the
inventory the reconciler plans on, and the writer that sends each value where it goes.

:class:`DataSetDelivery` sits between the watch and the reconciler. :meth:`~DataSetDelivery.prepare` takes
the watch's inventory and returns the one to plan on: a VM on data sets (:func:`.channel.uses_datasets`, in
scope) carries the values of its data sets as its four keys (:func:`.channel.view`). A VM seen for the first
time is read now (its two data sets, concurrently with the others: the data set is the state of record, so a
restart rewrites nothing that is right) and is left out of the pass when that fails. A VM whose data sets
cannot be used (the API refuses them: hardware, privileges) keeps guestinfo, logged, and is tried again an
hour later. :meth:`~DataSetDelivery.poll` reads the guest data sets that are due (:mod:`.poll`).
:meth:`~DataSetDelivery.writer` wraps the guestinfo writer: a value for a VM on data sets is an entry set (no
vCenter task), its answers go where its request came from, and a state document left in its guestinfo from
before is removed.

vCenter is reached through a :class:`DataSetPort` (the edge's ``VmDataSets``): plain data in and out.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Callable, Iterable, Protocol, Sequence

from vsguesttruth.config import Config
from vsguesttruth.errors import VsgtError
from vsguesttruth.gcpause import release_free_memory
from vsguesttruth.guestinfo import POLICY, REQUEST, RESPONSE, STATE, effective_policy
from vsguesttruth.model import Inventory, Vm
from vsguesttruth.ratelog import RateLog
from vsguesttruth.reconcile.ports import Write, Writer, WriteResult
from vsguesttruth_guest.datasets import ENTRIES, GUEST_SET, HOST_SET, SETS

from .channel import GUESTINFO, Held, stale_guestinfo_state, uses_datasets, view
from .poll import PollSchedule

log = logging.getLogger(__name__)

RETRY = 60.0  # seconds before a VM whose first read failed is read again
UNUSABLE_RETRY = 3600.0  # seconds before data sets the API refused are tried again
#: after this many VMs read or written at once, the C allocator gives its free pages back: the workers' SDK calls
#: free nearly everything they allocate, and glibc keeps it in their arenas (+360 MB at 20,000 VMs otherwise)
BATCH = 1000


class DataSetInfo(Protocol):
    host: str
    guest: str
    omit_from_snapshot_and_clone: bool


class DataSetPort(Protocol):
    """What the channel needs from vCenter (``vsguesttruth.vcenter.automation.VmDataSets``)."""

    def names(self, vm: str) -> set[str] | None: ...
    def info(self, vm: str, name: str) -> DataSetInfo | None: ...
    def create(self, vm: str, spec: DataSetInfo) -> None: ...
    def update(self, vm: str, spec: DataSetInfo) -> None: ...
    def keys(self, vm: str, name: str) -> set[str] | None: ...
    def get(self, vm: str, name: str, key: str) -> str | None: ...
    def set(self, vm: str, name: str, key: str, value: str) -> bool: ...


class DataSetDelivery:
    """The data sets of the VMs on that channel, and the reconciler's view of them (see the module docstring).

    ``spec(name, host, guest, description)`` makes the port's data set description (the edge's
    ``DataSetInfo``); ``includes(vm, inventory)``: the reconciler's scope; ``vcenter_major``: 8 for vCenter 8.0;
    ``gate(what)``: called before every write, raises (a VsgtError) when this instance may not act (the lease).
    """

    def __init__(self, config: Config, port: DataSetPort, spec: Callable[..., DataSetInfo], *,
                 includes: Callable[[Vm, Inventory], bool] = lambda vm, inv: True, vcenter_major: int = 8,
                 clock: Callable[[], float] = time.monotonic, on_close: Callable[[], None] | None = None,
                 calls: Callable[[], int] | None = None, gate: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.gate = gate
        self.port = port
        self.on_close = on_close
        self._calls = calls
        self.channel = config.delivery.channel
        self.vcenter_major = vcenter_major
        self.includes = includes
        self.clock = clock
        self.specs = {name: spec(name=name, host=host, guest=guest, description=text) for name, host, guest, text in SETS}
        self._ours = frozenset(self.specs)
        self.schedule = PollSchedule(config.delivery.poll_budget, sweep=config.delivery.sweep_interval,
                                     window=config.delivery.request_window,
                                     window_every=config.guest.min_refresh_interval, clock=clock)
        self.held: dict[str, Held] = {}
        self.answers: dict[str, str] = {}  # vm -> where its answers go (datasets / guestinfo)
        self._raw: dict[str, Vm] = {}  # vm -> the watch's record it was last viewed from
        self._views: dict[str, tuple[Vm, Held, Vm]] = {}  # vm -> (raw record, held, view): the same object while both stay
        self._retry: dict[str, float] = {}  # vm -> when to read it again after a failure
        self._unusable: dict[str, float] = {}  # vm -> when to try its data sets again
        self._errors = RateLog(log)
        self._pool = ThreadPoolExecutor(max(1, config.publish.concurrency), thread_name_prefix="vsgt-datasets")
        #: entries set, data sets created or fixed, first reads, polls: for metrics and the benchmark
        self.writes = self.creates = self.first_reads = self.polls = 0
        self._count = threading.Lock()  # the workers count too

    @property
    def calls(self) -> int:
        """Automation API calls made so far (when the port counts them)."""
        return self._calls() if self._calls is not None else 0

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self.on_close is not None:
            self.on_close()

    # -- the inventory the reconciler plans on ------------------------------------------------------

    def on_datasets(self, vm: Vm, inv: Inventory, now: float) -> bool:
        if not uses_datasets(vm, self.channel, self.vcenter_major) or not self.includes(vm, inv):
            return False
        return self._unusable.get(vm.moref, 0.0) <= now

    def prepare(self, inv: Inventory) -> Inventory:
        """The inventory to plan on (see the module docstring); reads the VMs seen for the first time."""
        now = self.clock()
        wanted = {m for m, vm in inv.vms.items() if self.on_datasets(vm, inv, now)}
        for moref in [m for m in self.held if m not in wanted]:
            self._forget(moref)
        new = [m for m in sorted(wanted) if m not in self.held and self._retry.get(m, 0.0) <= now]
        for moref, outcome in zip(new, self._pool.map(self._first_read, new)):
            self._first(moref, outcome, now)
        if len(new) >= BATCH:
            release_free_memory()  # the workers' SDK calls freed nearly all they made
        wanted -= self._unusable.keys()  # refused just now: guestinfo in this very pass
        if not wanted:
            return inv
        vms = {}
        for moref, vm in inv.vms.items():
            if moref not in wanted:
                vms[moref] = vm
            elif moref in self.held:
                vms[moref] = self._view(vm)
            # else: not read yet (failed or unusable just now): not planned in this pass
        return replace(inv, vms=vms)

    def _view(self, vm: Vm) -> Vm:
        held = self.held[vm.moref]
        self._raw[vm.moref] = vm
        cached = self._views.get(vm.moref)
        if cached is not None and cached[0] is vm and cached[1] is held:
            return cached[2]
        keys, answers = view(vm, held)
        self.answers[vm.moref] = answers
        viewed = replace(vm, guestinfo=keys)
        self._views[vm.moref] = (vm, held, viewed)
        return viewed

    def _first_read(self, moref: str) -> Held | None | Exception:
        """Both data sets of one VM (in a worker): Held, None when its data sets cannot be used, or the error."""
        try:
            names = self.port.names(moref)
            if names is None:
                return None
            ours = self._ours if self._ours <= names else frozenset(n for n in names if n in self.specs)
            values: dict[str, str] = {}
            if HOST_SET in ours:
                self._check_rules(moref, HOST_SET)
                for key in (STATE, RESPONSE):
                    values[key] = self.port.get(moref, HOST_SET, ENTRIES[key][1]) or ""
            if GUEST_SET in ours:
                self._check_rules(moref, GUEST_SET)
                values.update(self._guest_values(moref))
            return Held(ours, values)
        except VsgtError as err:
            return err

    def _check_rules(self, moref: str, name: str) -> None:
        """A data set of ours with other access modes than ours (or kept in clones) gets ours back."""
        info = self.port.info(moref, name)
        spec = self.specs[name]
        if info is not None and (info.host, info.guest, info.omit_from_snapshot_and_clone) != (
                spec.host, spec.guest, spec.omit_from_snapshot_and_clone):
            log.warning("data set %s of %s had host %s, guest %s, omit_from_snapshot_and_clone %s: set back to %s, "
                        "%s, %s", name, moref, info.host, info.guest, info.omit_from_snapshot_and_clone, spec.host,
                        spec.guest, spec.omit_from_snapshot_and_clone)
            self.port.update(moref, spec)
            self._add("creates")

    def _guest_values(self, moref: str) -> dict[str, str]:
        keys = self.port.keys(moref, GUEST_SET) or set()
        return {key: (self.port.get(moref, GUEST_SET, ENTRIES[key][1]) or "") if ENTRIES[key][1] in keys else ""
                for key in (POLICY, REQUEST)}

    def _first(self, moref: str, outcome: Held | None | Exception, now: float) -> None:
        if isinstance(outcome, Exception):
            self._retry[moref] = now + RETRY
            self._errors.log(logging.WARNING, moref, "cannot read the data sets of %s (tried again in %.0f s): %s",
                             moref, RETRY, outcome)
            return
        if outcome is None:
            self._unusable[moref] = now + UNUSABLE_RETRY
            self._errors.log(logging.WARNING, moref, "the data sets of %s cannot be used (hardware or privileges "
                             "VirtualMachine.DataSets.*): it keeps guestinfo", moref)
            return
        self.first_reads += 1
        self._retry.pop(moref, None)
        self._unusable.pop(moref, None)
        self.held[moref] = outcome
        self.schedule.read(moref, now, interval=self._interval(outcome), news=bool(outcome.get(REQUEST)))

    def _interval(self, held: Held) -> float:
        return float(effective_policy(held.get(POLICY) or None, self.config.guest).poll_interval)

    def _forget(self, moref: str) -> None:
        for table in (self.held, self.answers, self._raw, self._views):
            table.pop(moref, None)
        self.schedule.forget(moref)

    # -- polling what guests write ------------------------------------------------------------------

    def next_wake(self) -> float | None:
        return self.schedule.next_wake()

    def poll(self) -> bool:
        """Read the guest data sets that are due, within the budget; whether any value changed."""
        now = self.clock()
        due = [m for m in self.schedule.due(now) if m in self.held]
        changed = False
        for moref, outcome in zip(due, self._pool.map(self._poll_one, due)):
            values, calls = outcome
            held = self.held.get(moref)
            if held is None:
                continue
            if isinstance(values, Exception):
                self._errors.log(logging.WARNING, moref, "cannot read the guest data set of %s: %s", moref, values)
                self.schedule.read(moref, now, calls)
                continue
            self.polls += 1
            news = any(values[k] != held.get(k) for k in (POLICY, REQUEST))
            if news:
                self.held[moref] = replace(held, values={**held.values, **values})
                changed = True
            self.schedule.read(moref, now, calls, interval=self._interval(self.held[moref]), news=news)
        return changed

    def _poll_one(self, moref: str) -> tuple[dict[str, str] | Exception, int]:
        calls = 1
        try:
            values = self._guest_values(moref)
            calls += sum(1 for v in values.values() if v)
            return values, calls
        except VsgtError as err:
            return err, calls

    # -- writing ------------------------------------------------------------------------------------

    def writer(self, inner: Writer) -> "ChannelWriter":
        return ChannelWriter(self, inner)

    def route(self, write: Write) -> tuple[dict[str, str], dict[str, str]]:
        """A write's values for the VM's data sets and for its guestinfo."""
        if write.vm not in self.held:
            return {}, dict(write.values)
        sets: dict[str, str] = {}
        guestinfo: dict[str, str] = {}
        for key, value in write.values.items():
            if key == RESPONSE and self.answers.get(write.vm) == GUESTINFO:
                guestinfo[key] = value
            else:
                sets[key] = value
        raw = self._raw.get(write.vm)
        if STATE in sets and raw is not None and stale_guestinfo_state(raw):
            guestinfo[STATE] = ""  # an older agent would read that one forever
        return sets, guestinfo

    def write_sets(self, moref: str, values: dict[str, str]) -> tuple[bool, str]:
        """Set the entries (creating our data sets when missing), in a worker; (ok, error)."""
        held = self.held.get(moref)
        try:
            if self.gate is not None:
                self.gate(f"write the data sets of {moref}")
            if held is None or not {HOST_SET, GUEST_SET} <= held.sets:
                self._create(moref)
            for key, value in values.items():
                dataset, entry = ENTRIES[key]
                if not self.port.set(moref, dataset, entry, value):  # the data set went away meanwhile
                    self._create(moref)
                    if not self.port.set(moref, dataset, entry, value):
                        return False, f"data set {dataset} of {moref} cannot be written"
                self._add("writes")
        except VsgtError as err:
            return False, str(err)
        return True, ""

    def _create(self, moref: str) -> None:
        for spec in self.specs.values():
            self.port.create(moref, spec)
            self._add("creates")

    def _add(self, counter: str) -> None:
        with self._count:
            setattr(self, counter, getattr(self, counter) + 1)

    def wrote(self, moref: str, values: dict[str, str]) -> None:
        """What a successful write put in the VM's data sets (in the loop's thread)."""
        held = self.held.get(moref)
        if held is None:
            return
        self.held[moref] = Held(self._ours, {**held.values, **values})
        if RESPONSE in values:
            self.schedule.listen(moref, self.clock())  # the guest may answer the answer


class ChannelWriter:
    """The reconciler's :class:`~vsguesttruth.reconcile.ports.Writer`: guestinfo writes to ``inner`` (ReconfigVM
    tasks), data set writes as entry sets, each write's result the worse of its parts."""

    def __init__(self, delivery: DataSetDelivery, inner: Writer) -> None:
        self.delivery = delivery
        self.inner = inner

    def write(self, writes: Sequence[Write]) -> list[WriteResult]:
        routed = [self.delivery.route(w) for w in writes]
        extra = [Write(w.vm, w.name, gi) for w, (_, gi) in zip(writes, routed) if gi]
        guest_results = iter(self.inner.write(extra) if extra else [])
        jobs = [(w.vm, sets) for w, (sets, _) in zip(writes, routed) if sets]
        set_results = iter(self.delivery._pool.map(lambda job: self.delivery.write_sets(*job), jobs))
        out = []
        for w, (sets, gi) in zip(writes, routed):
            errors, attempts = [], 1
            if gi:
                res = next(guest_results)
                attempts = res.attempts or 1
                if not res.ok:
                    errors.append(res.error)
            if sets:
                ok, error = next(set_results)
                if ok:
                    self.delivery.wrote(w.vm, sets)
                else:
                    errors.append(error)
            out.append(WriteResult(w, not errors, "; ".join(errors), attempts))
        if len(jobs) >= BATCH:
            release_free_memory()
        return out

    def refresh(self, hosts: Iterable[str]) -> dict[str, str]:
        return self.inner.refresh(hosts)


def open_delivery(conn: Any, config: Config, includes: Callable[[Vm, Inventory], bool],
                  gate: Callable[[str], None] | None = None) -> DataSetDelivery | None:
    """The data set channel on the vCenter of ``conn`` (None when ``[delivery] channel`` is guestinfo): an
    Automation API session with the connection's settings; ``includes``: the reconciler's scope; ``gate``:
    the lease's check before every write."""
    if config.delivery.channel == GUESTINFO:
        return None
    from vsguesttruth.vcenter import vcenter_major
    from vsguesttruth.vcenter.automation import DataSetInfo, VmDataSets, connect_automation

    api = connect_automation(conn.settings, pool=max(1, config.publish.concurrency))
    return DataSetDelivery(config, VmDataSets(api), DataSetInfo, includes=includes, vcenter_major=vcenter_major(conn),
                           on_close=api.close, calls=lambda: api.calls, gate=gate)
