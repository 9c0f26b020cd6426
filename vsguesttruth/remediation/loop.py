"""The remediation loop: the guard rails (:mod:`.rails`) run on the truths, their moves on a worker pool.

One loop, two ways to run it:

- inside ``vsguesttruth serve``: the service calls :meth:`RemediationLoop.step` after every publish pass
  with the published truths of the VMs that are not healthy (and again at :meth:`~RemediationLoop.next_wake`
  while a verdict waits out its hysteresis); a guest's ``migrate`` request arrives through
  :meth:`~RemediationLoop.request` and is answered through the request's own ``respond``;
- ``vsguesttruth remediate --once`` (cron): :meth:`RemediationLoop.run_once` plans, moves, and looks again
  until nothing more can move now.

Either way it starts (:meth:`~RemediationLoop.start`) by reading back what vCenter's events remember of our
moves (cooldowns, the hourly budget) and the datastores' replica attribute and replica tags (``serve`` keeps
``replicas`` current with its tag reads), and by adopting the migrations our account started that still run in
vCenter (an instance killed mid-vMotion): they count against ``max_concurrent`` and the budget, are never
started a second time, and their outcome is recorded when their task ends (a "moved" event, or a failure).
The state of record is vCenter's.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from vsguesttruth.config import RemediationConfig
from vsguesttruth.errors import VsgtError
from vsguesttruth.model import Inventory
from vsguesttruth.plan import Action as PlanAction, Decision, MoveRequest
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext, Verdict, VmTruth
from vsguesttruth.truth.hostindex import HostIndex

from .executor import Executor, VcenterExecutor
from .manual import ManualMoves
from .rails import Action, Remediator

log = logging.getLogger(__name__)

#: guard rails that clear by themselves soon: the loop looks again in a second
_WAITING = ("stable", "retry", "concurrency", "in_flight")


@dataclass
class OnceReport:
    """What ``remediate --once`` did: the last action per VM, the moves run (VM name, succeeded), seconds."""

    actions: list[Action] = field(default_factory=list)
    moves: list[tuple[str, bool]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def moved(self) -> int:
        return sum(1 for _, ok in self.moves if ok)

    @property
    def failed(self) -> int:
        return sum(1 for _, ok in self.moves if not ok)


class RemediationLoop:
    """The remediation controller of one vCenter: guard rails, a pool of ``max_concurrent`` movers, the
    guests' pending requests. ``on_done(ok)`` is called after each move (metrics)."""

    def __init__(self, conn: Any, config: RemediationConfig, *, executor: Executor | None = None,
                 on_done: Callable[[bool], None] | None = None, lease: Any = None, proactive: Any = None) -> None:
        self.conn = conn
        #: mode proactive-ha in serve: the host health posted to Proactive HA (``proactive.ProactiveHa``)
        self.proactive = proactive
        self.config = config
        self.on_done = on_done
        self.executor = executor or VcenterExecutor(conn, config, lease=lease)
        self.remediator = Remediator(config, self.executor, on_request_result=self._answer)
        #: the steps' per-host indexes and judgements, carried from one inventory to the next (steps run on one
        #: thread: the stepper's, or a one-off command's)
        self._hosts = HostIndex()
        self.pool = ThreadPoolExecutor(max(config.max_concurrent, 1), thread_name_prefix="vsgt-move")
        self.replicas: dict[str, str] = {}
        #: the plugin's move action
        self.manual = ManualMoves(conn, config, self.executor, lambda: self.replicas)
        self._requests: list[MoveRequest] = []
        self._respond: dict[str, tuple[str, Callable[[str, str], None]]] = {}  # vm -> (request id, respond)
        self._lock = threading.Lock()
        self._wake: float | None = None
        self.started = False

    def start(self, follow: bool = True) -> "RemediationLoop":
        """Read back what vCenter's events remember (cooldowns, budget) and the replica attribute and tags, and
        adopt our migrations still running in vCenter (in flight; ``follow``: wait for each and record its
        outcome, not in a dry run, which only plans around them). Once; later calls do nothing."""
        from vsguesttruth.vcenter import events, replicas, running_migrations

        if self.started:
            return self
        if self.proactive is not None:
            try:
                self.proactive.start()
            except VsgtError as err:  # publishing and moves go on; the next pass tries again
                log.warning("Proactive HA health provider: %s", err)
        for vm, ago in events.recent_moves(self.conn, max(self.config.cooldown_seconds, 3600)):
            self.remediator.remember(vm, self.remediator.clock() - ago)
        if self.config.replica_attribute or self.config.replica_tag_category:
            self.replicas = replicas(self.conn, self.config.replica_attribute, self.config.replica_tag_category)
        for move in running_migrations(self.conn):
            action = self.remediator.adopt(adopted_decision(move), move.task, move.seconds)
            if follow:
                self.pool.submit(self._execute, action)
        self.started = True
        return self

    # -- inside the service -------------------------------------------------------------------------

    def request(self, req: Any) -> None:
        """A guest's migrate request (``reconcile.MigrationRequest``): queued, answered later through
        ``req.respond`` (accepted when its move starts, then done or failed; or refused)."""
        with self._lock:
            self._requests.append(MoveRequest(vm=req.vm, id=req.request.id, reason=req.request.reason))
            self._respond[req.vm] = (req.request.id, req.respond)
            self._wake = self.remediator.clock()
        return None

    def _answer(self, vm: str, request_id: str, status: str, message: str) -> None:
        with self._lock:
            found = self._respond.get(vm)
            if found is None or found[0] != request_id:
                return
            if status != "accepted":
                del self._respond[vm]
        found[1](status, message)

    def next_wake(self) -> float | None:
        """When the service should step again: a verdict waiting out its hysteresis, a guest's request, and
        every second while moves run in worker threads (their answers to guests are written at once)."""
        wake = self._wake
        health = self.proactive.next_wake() if self.proactive is not None else None
        if health is not None:
            wake = health if wake is None else min(wake, health)
        if self.remediator.in_flight:
            soon = self.remediator.clock() + 1.0
            wake = soon if wake is None else min(wake, soon)
        return wake

    def step(self, inv: Inventory, truths: Mapping[str, VmTruth], levels: Mapping[str, ServiceLevel] | None = None,
             level: ServiceLevel | None = None) -> list[Action]:
        """One pass over the published truths of the VMs that are not healthy; starts the moves it may."""
        with self._lock:
            requests, self._requests = self._requests, []
        ctx, levels, level = TruthContext(inv, self._hosts), levels or {}, level or ServiceLevel()
        if self.proactive is not None:
            try:
                self.proactive.step(inv, ctx, level)
            except VsgtError as err:
                log.warning("Proactive HA health: %s", err)
        if not requests and not truths and not self.remediator.in_flight:
            self._wake = None
            return []
        # a guest may ask for a move of a healthy VM: judge it now
        asked = {r.vm for r in requests}.union(self.remediator.requested)
        truths = {**{vm: ctx.vm_truth(vm, levels.get(vm, level)) for vm in asked
                     if vm in inv.vms and vm not in truths}, **truths}
        actions = self.remediator.step(inv, truths, requests, level=level, levels=levels,
                                       replicas=self.replicas, context=ctx)
        for action in actions:
            if action.kind == "move":
                self.pool.submit(self._execute, action)
        waiting = [a for a in actions if a.kind == "hold" and a.rail in _WAITING]
        self._wake = self.remediator.clock() + 1.0 if waiting else None
        return actions

    def _execute(self, action: Action) -> bool:
        ok = self.remediator.execute(action)
        if self.on_done is not None:
            self.on_done(ok)
        return ok

    # -- one pass for cron --------------------------------------------------------------------------

    def run_once(self, *, level: ServiceLevel | None = None, levels: Any = None, vms: Sequence[str] = (),
                 max_wait: float | None = None, act: bool = True) -> OnceReport:
        """``remediate --once``: plan on a fresh snapshot, run the moves the guard rails allow, and look again
        until nothing more can move now; VMs whose verdict has not held ``stable_seconds`` yet are looked at
        again once it has (up to ``max_wait`` seconds, default ``stable_seconds + 60``). ``vms``: VM name
        patterns to consider (each must match a VM). ``act=False``: one look, nothing run (dry run)."""
        from vsguesttruth.vcenter import snapshot

        level = level or ServiceLevel()
        deadline = time.monotonic() + (max_wait if max_wait is not None else self.config.stable_seconds + 60)
        start = time.monotonic()
        latest: dict[str, Action] = {}
        report = OnceReport()
        while True:
            inv = snapshot(self.conn)
            for pattern in vms:
                if not any(fnmatch.fnmatchcase(vm.name, pattern) for vm in inv.vms.values()):
                    raise VsgtError(f"no VM named {pattern!r} in vCenter")
            ctx = TruthContext(inv)
            by_vm = levels.all(inv.vms.values()) if levels is not None else {}  # guestinfo.Levels: each VM's own
            truths = [t for t in ctx.vm_truths(level, by_vm)
                      if not vms or any(fnmatch.fnmatchcase(t.name, p) for p in vms)]
            actions = self.remediator.step(inv, truths, level=level, levels=by_vm, replicas=self.replicas, context=ctx)
            latest.update((action.vm, action) for action in actions)
            moves = [a for a in actions if a.kind == "move"]
            if not act:
                break
            if moves:
                done = list(self.pool.map(self._execute, moves))
                report.moves += [(a.decision.vm_name, ok) for a, ok in zip(moves, done)]
                continue
            waiting = [a for a in actions if a.kind == "hold" and a.rail in ("stable", "retry")]
            if waiting and time.monotonic() < deadline:
                time.sleep(min(max(self.config.stable_seconds / 4, 0.5), 5.0, max(deadline - time.monotonic(), 0.1)))
                continue
            break
        report.actions = list(latest.values())
        report.seconds = time.monotonic() - start
        return report

    def stop(self) -> None:
        """Let moves in flight finish (their tasks run in vCenter anyway), start no new one."""
        self.pool.shutdown(wait=True, cancel_futures=True)


def adopted_decision(move: Any) -> Decision:
    """The decision behind a migration still running in vCenter (``vcenter.RunningMove``): where it goes is
    known when it ends."""
    action = PlanAction.VMOTION if move.kind == "vmotion" else PlanAction.STORAGE_VMOTION
    return Decision(vm=move.vm, vm_name=move.vm_name, action=action, verdict=Verdict.UNKNOWN, trigger="adopted",
                    why=f"{move.task} started before this instance did", from_host=move.from_host,
                    from_host_name=move.from_host_name, to_host_name="?" if move.kind == "vmotion" else "")
