"""Waiting for many tasks at once: one look at every task in flight, instead of a poll loop per task.

A ReconfigVM_Task runs about a second on vCenter. Each writer thread polling its own task's ``info`` (10 ms,
doubling) made seven calls per write and noticed the end up to a quarter second late, holding its slot
meanwhile; at a hundred writes a second those polls were most of the service's CPU. Here the writers
register their task and sleep; one thread reads ``info`` of every task in flight with one
RetrievePropertiesEx every :data:`LOOK_EVERY` seconds and wakes the writers whose task has ended.

When the batch read fails (vCenter restarted and lost the tasks, the session is being renewed) every waiter
falls back to following its own task (:func:`.task.wait_for_task`), which knows what those mean.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from pyVmomi import vim, vmodl

from . import fastdecode, task
from .errors import TaskFailed

log = logging.getLogger(__name__)

PC = vmodl.query.PropertyCollector

#: seconds between two looks at the tasks in flight (each look reads every task in flight: at a hundred
#: writes a second, looking every 50 ms cost twice the CPU for writes ended 25 ms sooner on average)
LOOK_EVERY = 0.1
_PROPS = PC.PropertySpec(type=vim.Task, pathSet=["info.state", "info.error"])


class _Waiter:
    __slots__ = ("task", "spec", "done", "info", "fallback")

    def __init__(self, task_moref: str, stub: Any) -> None:
        self.task = task_moref
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
        self._waiters: dict[str, _Waiter] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wait(self, task_moref: str, what: str, timeout: float) -> None:
        """Block until the task ends: return on success, raise as :func:`.task.wait_for_task` does."""
        deadline = time.monotonic() + timeout
        waiter = _Waiter(task_moref, self.conn.si._stub)
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
            with self._lock:
                waiting = dict(self._waiters)
                if not waiting:
                    self._thread = None
                    return
            try:
                self._look(waiting)
            except Exception as exc:  # noqa: BLE001 - each waiter follows its own task instead
                log.debug("reading %d tasks at once failed (%s): each is followed alone", len(waiting), exc)
                for waiter in waiting.values():
                    waiter.fallback = True
                    waiter.done.set()
            self.looks += 1
            time.sleep(self.look_every)

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
