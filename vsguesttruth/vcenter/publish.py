"""Writing guestinfo: ReconfigVM_Task with only our extraConfig keys, and host storage re-probes.

A write sends ``vim.vm.ConfigSpec(extraConfig=[OptionValue(key, value), ...])`` naming only
``guestinfo.vsguesttruth.*`` keys: vCenter replaces those keys and leaves every other key of the VM as it
is (an empty value removes a key). Writes run with bounded concurrency (a thread pool) and are retried on
transient faults only (:mod:`.task`: a lost connection or session, TaskInProgress, ConcurrentAccess,
Timedout, HostCommunication); a fault that retrying cannot cure (InvalidArgument, NotSupported, no
permission) fails that write at once and is reported, never raised into the caller's loop.

:class:`Publisher` is the reconcile loop's writer: it takes and returns the reconciler's plain data
(:class:`~vsguesttruth.reconcile.ports.Write`, :class:`~vsguesttruth.reconcile.ports.WriteResult`).

Counters (:attr:`Publisher.tasks`, :attr:`Publisher.writes`, ...) and a short log of recent writes are
kept for tests and metrics. No pyVmomi object leaves this module.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Collection, Iterable, Mapping, Sequence

from pyVmomi import vim, vmodl

from vsguesttruth.reconcile.ports import Write, WriteResult
from vsguesttruth_guest.guestinfo import PREFIX

from . import fastdecode, task
from .connect import POOL_SIZE, Connection
from .errors import TaskFailed, VsgtError
from .lease import NotActive
from .pacing import Slots
from .taskwatch import TaskWatch

log = logging.getLogger(__name__)

LOG_SIZE = 1000


@dataclass
class _Counters:
    tasks: int = 0  # ReconfigVM_Task calls made (retries included)
    writes: int = 0  # writes that succeeded
    failures: int = 0  # writes that failed for good
    retries: int = 0
    refreshes: int = 0  # RefreshStorageSystem calls that succeeded
    log: deque[Write] = field(default_factory=lambda: deque(maxlen=LOG_SIZE))


class Publisher:
    """Writes guestinfo keys of many VMs: ``write([Write, ...]) -> [WriteResult, ...]`` (same order).

    ``dry_run``: nothing is sent; every write is reported as done (counted in :attr:`skipped`).
    ``gate(what)``: called before every ReconfigVM and re-probe, raises when this instance may not act (the
    single-instance lease of ``serve``): that write fails, nothing is sent.
    """

    def __init__(self, conn: Connection, *, concurrency: int = 8, attempts: int = 4, task_timeout: float = 120.0,
                 backoff: tuple[float, float] = (0.2, 5.0), dry_run: bool = False,
                 gate: Callable[[str], None] | None = None) -> None:
        self.conn = conn
        self.gate = gate
        self.concurrency = max(1, concurrency)
        self.attempts = max(1, attempts)
        self.task_timeout = task_timeout
        self.backoff = backoff
        self.dry_run = dry_run
        self.skipped = 0
        #: told of each write that succeeded: seconds it waited for a slot, seconds its task took (metrics)
        self.on_timed: Callable[[float, float], None] | None = None
        self._counters = _Counters()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._slots: Slots | None = None  # submitted writes (pipelined), at the pace of ``concurrency``
        self._tasks = TaskWatch(conn)  # the ReconfigVM tasks in flight, read together
        self._retry = task.retrying(attempts=self.attempts, first=backoff[0], longest=backoff[1],
                                    on_retry=lambda err, args: self._retrying(args[0], err))
        keep = getattr(conn, "keep_connections", None)
        if keep is not None and not dry_run:
            keep(self.concurrency + POOL_SIZE)  # one connection per writer, and the others' own

    # -- counters -----------------------------------------------------------------------------------

    @property
    def tasks(self) -> int:
        return self._counters.tasks

    @property
    def writes(self) -> int:
        return self._counters.writes

    @property
    def failures(self) -> int:
        return self._counters.failures

    @property
    def retries(self) -> int:
        return self._counters.retries

    @property
    def refreshes(self) -> int:
        return self._counters.refreshes

    def recent(self) -> list[Write]:
        """The latest successful writes, oldest first (at most 1000)."""
        with self._lock:
            return list(self._counters.log)

    # -- writing ------------------------------------------------------------------------------------

    def write(self, writes: Sequence[Write]) -> list[WriteResult]:
        """Send the writes, at most ``concurrency`` at once; never raises for one VM's failure."""
        for w in writes:
            self._check(w)
        if not writes:
            return []
        if self.dry_run:
            self.skipped += len(writes)
            return [WriteResult(w, True) for w in writes]
        if len(writes) == 1 or self.concurrency == 1:
            return [self._write_one(w) for w in writes]
        return list(self._executor().map(self._write_one, writes))

    def submit(self, w: Write, urgent: bool = False, first: bool = False) -> "Future[WriteResult]":
        """Queue one write and return at once: it runs when one of the ``concurrency`` slots is free (the pace:
        at most that many ReconfigVM tasks of ours in vCenter at a time), ``urgent`` ones (a change to show)
        before the others (a backlog), and ``first`` ones (worse news for a guest: a failure) before all. The future never raises for the VM's failure (a failed
        :class:`WriteResult`); a write still queued when the publisher closes with ``cancel`` is cancelled."""
        self._check(w)
        if self.dry_run:
            self.skipped += 1
            done: Future[WriteResult] = Future()
            done.set_result(WriteResult(w, True))
            return done
        with self._lock:
            if self._slots is None:
                self._slots = Slots(self.concurrency)
        queued = time.monotonic()
        return self._slots.submit(lambda: self._write_one(w, queued), urgent, first)

    @property
    def in_flight(self) -> int:
        """Writes submitted and not finished (running, or waiting for a slot)."""
        slots = self._slots
        return 0 if slots is None else slots.queued + slots.running

    @property
    def running(self) -> int:
        """ReconfigVM writes of ours running now (at most ``concurrency``)."""
        slots = self._slots
        return 0 if slots is None else slots.running

    def refresh(self, hosts: Iterable[str]) -> dict[str, str]:
        """Re-probe the storage of each host (one RefreshStorageSystem each, concurrently).

        Returns host moref -> error message for the hosts that failed ({} when all went well).
        """
        hosts = list(dict.fromkeys(hosts))
        if self.dry_run or not hosts:
            return {}

        def one(host: str) -> tuple[str, str]:
            try:
                if self.gate is not None:
                    self.gate(f"re-probe the storage of {host}")
                refresh_storage(self.conn, host)
            except VsgtError as err:
                log.log(logging.DEBUG if isinstance(err, NotActive) else logging.WARNING,
                        "re-probe of %s failed: %s", host, err)
                return host, str(err)
            with self._lock:
                self._counters.refreshes += 1
            return host, ""

        results = [one(h) for h in hosts] if len(hosts) == 1 else list(self._executor().map(one, hosts))
        return {h: err for h, err in results if err}

    def close(self, cancel: bool = False) -> None:
        """Wait for the writes in flight; ``cancel``: drop those still waiting for a slot first (level-triggered:
        the next start writes what is still not right)."""
        if self._slots is not None:
            self._slots.close(cancel)
            self._slots = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------------

    @staticmethod
    def _check(w: Write) -> None:
        bad = [k for k in w.values if not k.startswith(PREFIX)]
        if bad:
            raise ValueError(f"refusing to write {bad[0]!r}: only {PREFIX}* keys are ours")

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="vsgt-publish")
        return self._pool

    def _write_one(self, w: Write, queued: float | None = None) -> WriteResult:
        start = time.monotonic()
        tries = [0]
        try:
            self._retry(self._attempt, w, tries)
        except (VsgtError, task.Transient) as err:  # one VM's failure is reported, not raised
            with self._lock:
                self._counters.failures += 1
            # the lease running out is said once, by the service; not once per VM
            log.log(logging.DEBUG if isinstance(err, NotActive) else logging.WARNING,
                    "writing the guestinfo of %s failed after %d attempt(s): %s", w.name, tries[0], err)
            return WriteResult(w, False, str(err), tries[0], time.monotonic() - start)
        with self._lock:
            self._counters.writes += 1
            self._counters.log.append(w)
        took = time.monotonic() - start
        if self.on_timed is not None:
            self.on_timed(0.0 if queued is None else start - queued, took)
        return WriteResult(w, True, "", tries[0], took)

    def _attempt(self, w: Write, tries: list[int]) -> None:
        tries[0] += 1
        what = f"write the guestinfo of {w.name}"
        if self.gate is not None:
            self.gate(what)
        with self._lock:
            self._counters.tasks += 1
        task.call(self.conn, lambda: self._reconfigure(w.vm, w.values, what), what)

    def _retrying(self, w: Write, err: BaseException) -> None:
        with self._lock:
            self._counters.retries += 1
        log.info("writing the guestinfo of %s: %s; retrying", w.name, err)

    def _reconfigure(self, moref: str, values: Mapping[str, str], what: str) -> None:
        """One ReconfigVM_Task with only ``values`` in extraConfig, waited for."""
        spec = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=k, value=v) for k, v in values.items()])
        si = self.conn.si
        started = fastdecode.invoke(si, vim.VirtualMachine(moref, si._stub), "ReconfigVM_Task", spec)
        self._tasks.wait(started._moId, what, self.task_timeout, vm=moref)

    def follow_changes(self) -> None:
        """From now on :meth:`changed` tells which VMs changed (a watch of the inventory): a write ends when its
        VM shows it, not at the next look at every task in flight."""
        self._tasks.hinted()

    def changed(self, vms: Collection[str]) -> None:
        """The watch saw these VMs change: their writes in flight may have ended."""
        self._tasks.hint(vms)


def refresh_storage(conn: Connection, host_moref: str) -> None:
    """HostStorageSystem.RefreshStorageSystem on one host: the host re-reads its storage (paths, LUNs,
    mounts), as a multipathing daemon's path re-probe would. Raises :class:`VsgtError`."""

    def call() -> None:
        host = vim.HostSystem(host_moref, conn.si._stub)
        storage = host.configManager.storageSystem
        if storage is None:
            raise TaskFailed(f"host {host_moref} has no storage system to refresh")
        storage.RefreshStorageSystem()

    conn.run(call, f"re-probe the storage of {host_moref}")


def read_guestinfo(conn: Connection, moref: str) -> dict[str, str]:
    """Every extraConfig key of one VM (ours and everybody else's), read now: for tests and checks."""

    def call() -> dict[str, str]:
        vm = vim.VirtualMachine(moref, conn.si._stub)
        return {str(o.key): "" if o.value is None else str(o.value) for o in (vm.config.extraConfig or ())}

    return conn.run(call, f"read the extraConfig of {moref}")


def get_extra_config(conn: Connection, moref: str, key: str) -> str | None:
    """One extraConfig key of one VM (any key, not only ours), read now; ``None`` when the VM has no such key.

    One RetrievePropertiesEx of ``config.extraConfig``. Raises :class:`VsgtError`.
    """
    collector = vmodl.query.PropertyCollector
    spec = collector.FilterSpec(
        objectSet=[collector.ObjectSpec(obj=vim.VirtualMachine(moref, conn.si._stub))],
        propSet=[collector.PropertySpec(type=vim.VirtualMachine, pathSet=["config.extraConfig"])],
    )

    def call() -> str | None:
        result = conn.content.propertyCollector.RetrievePropertiesEx([spec], collector.RetrieveOptions())
        for content in (result.objects if result is not None else None) or ():
            for prop in content.propSet or ():
                for option in prop.val or ():
                    if option.key == key:
                        return "" if option.value is None else str(option.value)
        return None

    return conn.run(call, f"read the extraConfig of {moref}")


def set_extra_config(conn: Connection, moref: str, key: str, value: str, timeout: float = 30.0) -> None:
    """Set one extraConfig key of one VM (any key: unlike :meth:`Publisher.write`, not only ours) with one
    ReconfigVM_Task, and wait for it; an empty ``value`` removes the key, as vCenter does. Raises
    :class:`VsgtError` (:class:`TaskFailed` when the task takes longer than ``timeout`` seconds)."""

    what = f"set {key} of {moref}"

    def call() -> None:
        vm = vim.VirtualMachine(moref, conn.si._stub)
        spec = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=key, value=value)])
        task.wait_for_task(conn, vm.ReconfigVM_Task(spec)._moId, what, timeout)

    conn.run(call, what)


__all__ = ["Publisher", "get_extra_config", "read_guestinfo", "refresh_storage", "set_extra_config"]
