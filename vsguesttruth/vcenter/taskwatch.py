"""Waiting for many tasks at once: one look at every task in flight, instead of a poll loop per task.

A ReconfigVM_Task runs about a second on vCenter. Each writer thread polling its own task's ``info`` (10 ms,
doubling) made seven calls per write and noticed the end up to a quarter second late, holding its slot
meanwhile; at a hundred writes a second those polls were most of the service's CPU. Here the writers
register their task and sleep; one thread reads ``info`` of every task in flight with one
RetrievePropertiesEx every :data:`LOOK_EVERY` seconds and wakes the writers whose task has ended.

When the batch read fails (vCenter restarted and lost the tasks, the session is being renewed) every waiter
falls back to following its own task (:func:`.task.wait_for_task`), which knows what those mean.

Beside a watch of the inventory (``serve``), a write's end shows first as its VM's change: :meth:`TaskWatch.hint`
names the VMs the watch saw change, their tasks are read at once (and every :data:`LOOK_EVERY` until they end),
and the look at every task in flight is only a safety net every ``look_every`` seconds (a reconfigure that
failed changes no VM). At a hundred writes a second that reads a tenth of the tasks, and frees each write's
slot as soon as its VM shows it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Collection

from pyVmomi import vim, vmodl

from . import fastdecode, task
from .errors import TaskFailed

log = logging.getLogger(__name__)

PC = vmodl.query.PropertyCollector

#: seconds between two looks at the tasks in flight (each look reads every task in flight: at a hundred
#: writes a second, looking every 50 ms cost twice the CPU for writes ended 25 ms sooner on average)
LOOK_EVERY = 0.1
_PROPS = PC.PropertySpec(type=vim.Task, pathSet=["info.state", "info.error"])


#: with hints, seconds between two looks at every task in flight (the hinted ones are read at once)
HINTED_LOOK_EVERY = 1.0


class _Waiter:
    __slots__ = ("task", "vm", "spec", "done", "info", "fallback")

    def __init__(self, task_moref: str, stub: Any, vm: str = "") -> None:
        self.task = task_moref
        self.vm = vm
        self.spec = PC.ObjectSpec(obj=vim.Task(task_moref, stub), skip=False)  # made once, read at every look
        self.done = threading.Event()
        self.info: Any = None
        self.fallback = False


class TaskWatch:
    """Follows the tasks of many threads with one reader thread (started on first use, ends when idle)."""

    def __init__(self, conn: Any, look_every: float = LOOK_EVERY) -> None:
        self.conn = conn
        self.look_every = look_every
        self.looks = 0  # batch reads made
        self.read = 0  # task states read
        self._waiters: dict[str, _Waiter] = {}
        self._hot: set[str] = set()  # tasks whose VM changed: read at every look until they end
        self._hinted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._all_at = 0.0  # when every task in flight was read last

    def hinted(self) -> None:
        """From now on, :meth:`hint` tells when VMs change: every task is read every :data:`HINTED_LOOK_EVERY`
        seconds only, the hinted ones at once."""
        self.look_every = HINTED_LOOK_EVERY

    def hint(self, vms: Collection[str]) -> None:
        """These VMs changed (a watch saw it): the tasks waited for on them may have ended."""
        with self._lock:
            if not self._waiters:
                return
            found = [t for t, w in self._waiters.items() if w.vm in vms]
            if found:
                self._hot.update(found)
                self._hinted.set()

    def wait(self, task_moref: str, what: str, timeout: float, vm: str = "") -> None:
        """Block until the task ends: return on success, raise as :func:`.task.wait_for_task` does. ``vm``: the
        VM it changes (what :meth:`hint` names)."""
        deadline = time.monotonic() + timeout
        waiter = _Waiter(task_moref, self.conn.si._stub, vm)
        with self._lock:
            self._waiters[task_moref] = waiter
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vsgt-tasks", daemon=True)
                self._thread.start()
        try:
            ended = waiter.done.wait(max(0.0, deadline - time.monotonic()))
        finally:
            with self._lock:
                self._waiters.pop(task_moref, None)
                self._hot.discard(task_moref)
        if not ended or waiter.fallback:
            # timed out (cancelled there), or the batch read failed: follow the task alone
            task.wait_for_task(self.conn, task_moref, what, max(0.0, deadline - time.monotonic()))
            return
        info = waiter.info
        if str(info.state) == "success":
            return
        fault = info.error
        if isinstance(fault, task.TRANSIENT_FAULTS):
            raise task.Transient(f"{what}: {task.fault_text(fault)}", fault)
        raise TaskFailed(f"{what} failed: {task.fault_text(fault) if fault is not None else 'vCenter did not say why'}")

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            with self._lock:
                if not self._waiters:
                    self._thread = None
                    return
                if now - self._all_at >= self.look_every:
                    waiting = dict(self._waiters)
                    self._all_at = now
                else:
                    waiting = {t: self._waiters[t] for t in self._hot if t in self._waiters}
                self._hinted.clear()
            if waiting:
                try:
                    self._look(waiting)
                except Exception as exc:  # noqa: BLE001 - each waiter follows its own task instead
                    log.debug("reading %d tasks at once failed (%s): each is followed alone", len(waiting), exc)
                    for waiter in waiting.values():
                        waiter.fallback = True
                        waiter.done.set()
                self.looks += 1
                self.read += len(waiting)
            with self._lock:
                hot = bool(self._hot)
            if self.look_every <= LOOK_EVERY or hot:
                time.sleep(min(LOOK_EVERY, self.look_every))
            else:  # until a hint, or the next look at every task
                self._hinted.wait(max(0.0, self._all_at + self.look_every - time.monotonic()))

    def _look(self, waiting: dict[str, _Waiter]) -> None:
        si = self.conn.si
        spec = PC.FilterSpec(objectSet=[w.spec for w in waiting.values()], propSet=[_PROPS])
        collector = self.conn.content.propertyCollector
        result = fastdecode.invoke(si, collector, "RetrievePropertiesEx", [spec], PC.RetrieveOptions())
        seen: set[str] = set()
        while result is not None:
            for content in result.objects or ():
                moref = content.obj._moId
                seen.add(moref)
                props = {p.name: p.val for p in content.propSet or ()}
                state = str(props.get("info.state", ""))
                if state in ("success", "error"):
                    waiter = waiting[moref]
                    waiter.info = _Info(state, props.get("info.error"))
                    waiter.done.set()
                    with self._lock:
                        self._hot.discard(moref)
            token = getattr(result, "token", None)
            result = fastdecode.invoke(si, collector, "ContinueRetrievePropertiesEx", token) if token else None
        for moref in waiting.keys() - seen:  # gone (vCenter restarted?): the waiter finds out alone
            waiting[moref].fallback = True
            waiting[moref].done.set()


class _Info:
    __slots__ = ("state", "error")

    def __init__(self, state: str, error: Any) -> None:
        self.state = state
        self.error = error
