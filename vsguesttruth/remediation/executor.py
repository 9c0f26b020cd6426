"""Who runs a decision: the :class:`Executor` protocol the guard rails talk to, the real one on vCenter
(:class:`VcenterExecutor`: vMotion or Storage vMotion, and events on the VM), and :class:`DryRun`, which
runs nothing and posts nothing (``remediate --dry-run``).

Under ``vsguesttruth serve`` only the instance holding the single-instance lease acts: ``lease.confirm()``
(a renewal in vCenter) before every migration it starts, ``lease.check()`` before every event it posts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Protocol

from vsguesttruth.config import RemediationConfig
from vsguesttruth.errors import VsgtError
from vsguesttruth.plan import Action as PlanAction, Decision


class TaskGone(VsgtError):
    """A migration task vCenter no longer knows (it restarted): the move never happened."""


class Executor(Protocol):
    """The edge: runs a decision and posts events. Raise ``VsgtError`` (``TaskFailed``) on failure."""

    def migrate(self, decision: Decision, progress: Callable[[int], None] | None = None) -> str: ...

    def follow(self, decision: Decision, task: str, progress: Callable[[int], None] | None = None) -> Decision:
        """Wait for a migration task already running (started before a restart); the decision with where the
        VM went. ``TaskFailed`` when it failed, :class:`TaskGone` when vCenter lost it."""
        ...

    def post_event(self, vm: str, message: str) -> None: ...


class VcenterExecutor:
    """Runs decisions with the vCenter edge's migrations and posts events on the VM, on a Connection."""

    def __init__(self, conn: Any, config: RemediationConfig | None = None, lease: Any = None) -> None:
        self.conn = conn
        self.config = config or RemediationConfig()
        self.lease = lease

    def migrate(self, decision: Decision, progress: Callable[[int], None] | None = None) -> str:
        from vsguesttruth.vcenter import relocate, vmotion

        if self.lease is not None:
            self.lease.confirm(f"move {decision.vm_name}")
        timeout = self.config.task_timeout_seconds
        if decision.action is PlanAction.VMOTION:
            result = vmotion(self.conn, decision.vm, decision.to_host, timeout=timeout, progress=progress)
        elif decision.action in (PlanAction.RELOCATE_TO_REPLICA, PlanAction.STORAGE_VMOTION):
            result = relocate(self.conn, decision.vm, decision.to_datastore,
                              host=decision.to_host if decision.changes_host else "",
                              disks=decision.disks, timeout=timeout, progress=progress)
        else:
            raise VsgtError(f"nothing to run for {decision.vm_name}: {decision.why}")
        return result.summary()

    def follow(self, decision: Decision, task: str, progress: Callable[[int], None] | None = None) -> Decision:
        from vsguesttruth.vcenter import RunningMove, Transient, follow

        kind = "vmotion" if decision.action is PlanAction.VMOTION else "relocate"
        move = RunningMove(task, decision.vm, decision.vm_name, kind, decision.from_host, decision.from_host_name,
                           0.0, 0)
        try:
            host, datastore = follow(self.conn, move, timeout=self.config.task_timeout_seconds, progress=progress)
        except Transient as err:
            raise TaskGone(str(err)) from None
        return replace(decision, to_host_name=host, to_datastore_name=datastore)

    def post_event(self, vm: str, message: str) -> None:
        from vsguesttruth.vcenter import events

        if self.lease is not None:
            self.lease.check("post an event")
        events.post(self.conn, vm, message)


class DryRun:
    """An executor that runs nothing and posts nothing (``remediate --dry-run``)."""

    def migrate(self, decision: Decision, progress: Callable[[int], None] | None = None) -> str:
        raise VsgtError("dry run")

    def follow(self, decision: Decision, task: str, progress: Callable[[int], None] | None = None) -> Decision:
        raise VsgtError("dry run")

    def post_event(self, vm: str, message: str) -> None:
        pass
