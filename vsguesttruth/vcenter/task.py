"""Calling vCenter: one fault classifier, one retry policy, one wait for a task.

Every call the edge makes goes through :func:`call`: a lost session or connection (NotAuthenticated, a
dropped socket) logs in again (:meth:`Connection.reconnect`) and is worth another attempt, as is a fault
that says "not now" (:data:`TRANSIENT_FAULTS`); anything else is a refusal, translated into one line
(:func:`~.faults.translate`: a missing privilege is named). :func:`retrying` is the one retry policy
(tenacity: exponential backoff, a bounded number of attempts or a deadline); :func:`run` is an idempotent
call under it. :func:`wait_for_task` follows a task to its end, reports progress, and cancels it at its
timeout.

The transient faults, one list for writes, migrations and reads: ``TaskInProgress`` (the VM is busy with
another task), ``ConcurrentAccess`` (another client changed the object meanwhile, e.g. extraConfig's
``changeVersion``), ``Timedout`` (vCenter abandoned an operation taking longer than expected: MigrateVM_Task
and RelocateVM_Task throw it, and a migration re-reads the VM's placement before it tries again, so a
retry never moves a VM twice), ``HostCommunication`` (vCenter could not reach the host for a moment).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, Callable, TypeVar

import tenacity
from pyVmomi import vim, vmodl

from .errors import TaskFailed, VsgtError
from .faults import fault_text, is_connection_lost, is_session_lost, translate

log = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[int], None]

#: Faults worth another try: the same call can succeed a moment later.
TRANSIENT_FAULTS: tuple[type, ...] = tuple(
    t for t in (
        getattr(vim.fault, "TaskInProgress", None),
        getattr(vim.fault, "ConcurrentAccess", None),
        getattr(vim.fault, "Timedout", None),
        getattr(vim.fault, "HostCommunication", None),
        getattr(vmodl.fault, "HostCommunication", None),
    ) if isinstance(t, type)
)


class Transient(Exception):
    """A failure another attempt of the same call can cure; ``cause`` is what happened."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


def is_transient(exc: BaseException) -> bool:
    """Whether another try of the same call can succeed (a transient fault, a lost session or connection)."""
    return isinstance(exc, TRANSIENT_FAULTS) or is_session_lost(exc) or is_connection_lost(exc)


def call(conn: Any, fn: Callable[[], T], what: str) -> T:
    """One vCenter call: its result, :class:`Transient` (after logging in again when the session or the
    connection was lost; raises when that cannot be cured), or a one-line :class:`VsgtError`."""
    generation = conn.generation
    try:
        return fn()
    except (VsgtError, Transient):
        raise
    except Exception as exc:  # noqa: BLE001 - classified below
        raise classify(conn, exc, what, generation) from None


def classify(conn: Any, exc: BaseException, what: str, generation: int) -> Exception:
    """What a failed call means: :class:`Transient`, or the one-line error to raise. A lost session or
    connection is renewed here (``generation``: the one the call ran under)."""
    if is_session_lost(exc) or is_connection_lost(exc):
        conn.reconnect(generation)
        return Transient(f"{what}: connection to vCenter lost ({translate(exc, conn.settings)})", exc)
    if isinstance(exc, TRANSIENT_FAULTS):
        return Transient(f"{what}: {fault_text(exc)}", exc)
    return translate(exc, conn.settings, what)


def retrying(*, attempts: int | None = None, within: float | None = None, first: float = 0.2, longest: float = 5.0,
             retry_if: Callable[[BaseException], bool] = lambda exc: isinstance(exc, Transient),
             on_retry: Callable[[BaseException, tuple], None] | None = None) -> tenacity.Retrying:
    """The retry policy: what ``retry_if`` accepts (default :class:`Transient`) is tried again after an
    exponential pause (``first`` doubling up to ``longest`` seconds), at most ``attempts`` times or for
    ``within`` seconds; then the last error is raised as it is. ``on_retry(error, args)`` before each pause
    (``args``: the call's). Make one per purpose and call it many times (from any thread): each new
    ``tenacity.Retrying`` leaves a reference cycle behind for the cyclic GC."""
    stops = [tenacity.stop_after_attempt(attempts)] if attempts is not None else []
    stops += [tenacity.stop_after_delay(within)] if within is not None else []
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(retry_if),
        stop=tenacity.stop_any(*stops) if stops else tenacity.stop_never,
        wait=tenacity.wait_exponential(multiplier=first, min=first, max=longest),
        before_sleep=(lambda state: on_retry(state.outcome.exception(), state.args)) if on_retry else None,
        reraise=True,
    )


def run(conn: Any, fn: Callable[[], T], what: str, *, attempts: int = 2) -> T:
    """An idempotent call (a read, a re-probe, an event), tried again on a transient failure; errors come
    out as one-line :class:`VsgtError`."""
    try:
        return _calls(attempts)(call, conn, fn, what)
    except Transient as err:
        cause = err.cause
        raise translate(cause, conn.settings, what) if cause is not None else TaskFailed(str(err)) from None


@functools.lru_cache(maxsize=8)
def _calls(attempts: int) -> tenacity.Retrying:
    return retrying(attempts=attempts)


def wait_for_task(conn: Any, task_moref: str, what: str, timeout: float, *, progress: Progress | None = None,
                  poll: float = 1.0) -> None:
    """Follow a task until it ends, polling ``info`` (a property filter is not shared between threads that
    each wait for their own task), every 10 ms at first, then up to every ``poll`` seconds.

    ``progress(percent)`` is called on every change. A transient fault of the task, or a task vCenter lost
    (it restarted meanwhile: its tasks are gone, and the caller should look again at what it changed), is
    :class:`Transient`; another fault is :class:`TaskFailed`, as is a task still running after ``timeout``
    seconds (it is cancelled, best effort: not every task can be).
    """
    deadline = time.monotonic() + timeout
    delay = 0.01
    last = -1
    generation = conn.generation
    while True:
        try:
            info = call(conn, lambda: vim.Task(task_moref, conn.si._stub).info, what)
        except VsgtError:
            if conn.generation == generation:
                raise
            raise Transient(f"{what}: vCenter lost task {task_moref} (restarted?)") from None
        state = str(info.state)
        pct = 100 if state == "success" else int(info.progress or 0)
        if progress is not None and pct != last:
            last = pct
            progress(pct)
        if state == "success":
            return
        if state == "error":
            fault = info.error
            if isinstance(fault, TRANSIENT_FAULTS):
                raise Transient(f"{what}: {fault_text(fault)}", fault)
            raise TaskFailed(f"{what} failed: {fault_text(fault) if fault is not None else 'vCenter did not say why'}")
        if time.monotonic() >= deadline:
            try:
                vim.Task(task_moref, conn.si._stub).CancelTask()
            except Exception:  # noqa: BLE001 - best effort: some tasks cannot be cancelled
                pass
            raise TaskFailed(f"{what} did not finish within {timeout:.0f} s; cancelled task {task_moref}")
        time.sleep(delay)
        delay = min(delay * 2, poll)


__all__ = ["TRANSIENT_FAULTS", "Transient", "call", "classify", "is_transient", "retrying", "run", "wait_for_task"]
