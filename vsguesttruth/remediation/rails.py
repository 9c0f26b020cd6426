"""The guard rails of remediation: act on the plan, or hold, and say why. A level-triggered controller;
no pyVmomi here.

Each pass, :meth:`Remediator.step` takes the current inventory and truths, asks the planner
(``vsguesttruth.plan``) what should move, and passes every decision through the guard rails:

- ``mode``: ``off`` (nothing, guest requests refused), ``advise`` (the plan is posted as events, nothing
  moves), ``auto`` (moves), ``proactive-ha`` (a host's connectivity problems, ``connectivity_lost`` and
  ``degraded``, are left to vSphere's Proactive HA, which the host's health is posted to; the rest moves as
  in ``auto``);
- hysteresis: a VM's trigger (verdict) must hold for ``stable_seconds`` before anything is done about it
  (a flapping path never moves a VM); guest requests skip this wait;
- at most ``max_concurrent`` migrations in flight; at most ``max_per_hour`` started per rolling hour;
- a cooldown per VM after a move (``cooldown_minutes``): a VM just moved is not moved again, nor back;
- a failed migration of a VM is retried after ``retry_seconds`` (doubling), at most ``attempts`` times, then
  it waits out the cooldown; the edge itself retries transient faults inside one attempt;
- a circuit breaker: after ``breaker_failures`` consecutive failed migrations (any VMs) nothing moves for
  ``breaker_open_seconds``; then one trial migration (half-open) closes it on success or reopens it.

It returns one :class:`Action` per decision: ``move`` (start it now), ``advise``, ``hold`` (a guard rail
said not now: ``rail`` and ``reason`` say which and why) or ``refuse`` (the planner found nothing sensible).
Every decision, move, failure and refusal is posted as a vCenter event on the VM ("vsguesttruth: ..."),
once per change rather than once per pass, and logged. A guest's ``migrate`` request gets its answer through
``on_request_result(vm_moref, request_id, status, message)`` with the response schema's statuses:
``accepted`` (started), ``done``, ``failed``, ``refused``.

The remediation loop (:mod:`.loop`) calls it each pass::

    actions = remediator.step(inv, vm_truths, requests,                # every pass
                              levels=levels, replicas=replicas, context=ctx)
    for action in actions:
        if action.kind == "move":
            pool.submit(remediator.execute, action)

``requests`` are the guests' ``migrate`` requests (``plan.MoveRequest``); the remediator keeps them until
it answers them. ``replicas`` are the custom-attribute replica pairs (``vcenter.replica_pairs``). ``step``
never blocks on vCenter except to post events; ``execute`` blocks for the task's duration (run it in a
thread).

The state of record lives in vCenter: on start, :meth:`Remediator.remember` can be fed the moves our own
events record (``vcenter.events.recent_moves``), so a restart (or a cron ``remediate --once``) keeps the
cooldowns and the hourly budget.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping

from vsguesttruth.config import RemediationConfig
from vsguesttruth.errors import VsgtError
from vsguesttruth.model import Inventory
from vsguesttruth.plan import Decision, MoveRequest, Plan, plan
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext, VmTruth

from .executor import Executor, TaskGone

log = logging.getLogger(__name__)

EVENT_PREFIX = "vsguesttruth: "
REQUEST_TIMEOUT = 900.0  # seconds a guest's migrate request may wait (for a free slot) before it is refused
#: guard rails worth an event when they hold a VM (the others are momentary)
_NOTABLE_RAILS = {"cooldown", "gave_up", "breaker", "budget", "mode", "proactive_ha"}
#: triggers that are the host's fault: in proactive-ha mode, Proactive HA evacuates the host instead
HOST_TRIGGERS = frozenset({"connectivity_lost", "degraded"})

RequestCallback = Callable[[str, str, str, str], None]  # (vm moref, request id, status, message)


@dataclass(frozen=True, slots=True)
class Action:
    """What the controller does about one decision now."""

    decision: Decision
    kind: str  # move / advise / hold / refuse
    rail: str = ""  # hold: stable, in_flight, cooldown, retry, gave_up, breaker, concurrency, budget; move: adopted
    reason: str = ""  # hold: why not now
    task: str = ""  # adopted: the migration task already running in vCenter

    @property
    def vm(self) -> str:
        return self.decision.vm

    def line(self) -> str:
        d = self.decision
        if self.kind == "move":
            return f"moving: {d.line()}"
        if self.kind == "advise":
            return f"advice (advise mode, not moving): {d.line()}"
        if self.kind == "hold":
            return f"holding {d.vm_name} ({self.reason}): {d.line()}"
        return d.line()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rail": self.rail, "reason": self.reason, "decision": self.decision.as_dict()}


@dataclass
class _Failures:
    count: int
    last: float


class Remediator:
    """The controller. Thread-safe: ``step`` in the loop, ``execute`` in worker threads."""

    def __init__(self, config: RemediationConfig, executor: Executor, *, clock: Callable[[], float] = time.monotonic,
                 on_request_result: RequestCallback | None = None, mode: str | None = None) -> None:
        self.config = config if mode is None else replace(config, mode=mode)
        self.executor = executor
        self.clock = clock
        self.on_request_result = on_request_result
        self._lock = threading.RLock()
        self._seen: dict[str, tuple[tuple[str, str], float]] = {}  # vm -> (trigger key, first seen)
        self._last_move: dict[str, float] = {}  # vm -> when its last move finished (or was recorded)
        self._started: deque[float] = deque()  # start times of moves in the last hour
        self._failures: dict[str, _Failures] = {}
        self._in_flight: dict[str, Action] = {}
        self._consecutive_failures = 0
        self._breaker_until: float | None = None  # open until; None: closed
        self._trial: str | None = None  # half-open: the VM of the trial move
        self._posted: dict[str, tuple[Any, ...]] = {}  # vm -> what we last said about it
        self._requests: dict[str, tuple[MoveRequest, float]] = {}
        self.last_plan = Plan()
        self._decided: dict[str, Decision] = {}  # vm -> its decision in the last plan
        self.moves_done = 0
        self.moves_failed = 0

    # -- state --------------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def in_flight(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._in_flight)

    @property
    def requested(self) -> tuple[str, ...]:
        """The VMs whose guests asked for a move that is not answered yet."""
        with self._lock:
            return tuple(self._requests)

    @property
    def breaker(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        with self._lock:
            if self._breaker_until is None:
                return "closed"
            return "open" if self.clock() < self._breaker_until else "half-open"

    def remember(self, vm: str, at: float) -> None:
        """Record a move that happened at ``at`` (this clock), e.g. read back from vCenter events."""
        with self._lock:
            if at > self._last_move.get(vm, float("-inf")):
                self._last_move[vm] = at
            if self.clock() - at < 3600:
                self._started.append(at)
                self._started = deque(sorted(self._started))

    def adopt(self, decision: Decision, task: str, running_for: float) -> Action:
        """A migration still running in vCenter that an earlier instance started (``task``, running for
        ``running_for`` seconds): in flight from now, counted against ``max_concurrent`` and the hourly budget,
        never started again. Run it with :meth:`execute`, which waits for the task and records its outcome."""
        now = self.clock()
        action = Action(decision, "move", "adopted", f"{task} was running when this instance started", task)
        with self._lock:
            self._in_flight[decision.vm] = action
            if running_for < 3600:
                self._started.append(now - running_for)
                self._started = deque(sorted(self._started))
        log.info("adopted the running migration %s of %s (%s, for %.0f s)", task, decision.vm_name,
                 decision.action.value, running_for)
        return action

    # -- the pass -----------------------------------------------------------------------------------

    def step(self, inv: Inventory, truths: Iterable[VmTruth] | Mapping[str, VmTruth],
             requests: Iterable[MoveRequest] = (), *, level: ServiceLevel | None = None,
             levels: Mapping[str, ServiceLevel] | None = None, replicas: Mapping[str, str] | None = None,
             context: TruthContext | None = None) -> list[Action]:
        """Plan, apply the guard rails, post what changed; return one Action per decision."""
        now = self.clock()
        with self._lock:
            for request in requests:
                self._requests[request.vm] = (request, now)
            self._expire_requests(now)
            pending = [r for r, _ in self._requests.values()]
        items = list(truths.values()) if isinstance(truths, Mapping) else list(truths)
        with self._lock:
            kept = self._held_anyway(inv, items, {r.vm for r in pending}, now)
        current = plan(inv, [t for t in items if t.vm not in kept], self.config, level=level, levels=levels,
                       requests=pending, replicas=replicas, context=context)
        if kept:
            current = Plan(tuple(sorted(current.decisions + tuple(kept.values()), key=lambda d: (d.vm_name, d.vm))))
        actions: list[Action] = []
        with self._lock:
            self.last_plan = current
            self._decided = {d.vm: d for d in current.decisions}
            self._forget_cleared(current, now)
            if self.mode == "off":
                for decision in current.decisions:
                    if decision.request_id:
                        self._answer(decision, "refused", "remediation is off on this vCenter")
                return []
            while self._started and now - self._started[0] >= 3600:
                self._started.popleft()
            starting = 0
            for decision in current.decisions:
                action = self._judge(decision, now, starting)
                if action.kind == "move":
                    starting += 1
                    self._in_flight[decision.vm] = action
                    self._started.append(now)
                    if self._breaker_until is not None:
                        self._trial = decision.vm
                actions.append(action)
        for action in actions:
            self._report(action)
        return actions

    def _held_anyway(self, inv: Inventory, truths: list[VmTruth], asked: set[str], now: float) -> dict[str, Decision]:
        """The VMs whose last decision (a move) stands while a guard rail holds them whatever the plan says:
        the same verdict on the same host, waiting out its hysteresis, moving already, in its cooldown, or
        the hourly budget spent. Planning them again (judging every host of the cluster) would change nothing
        that is done now; they are planned afresh as soon as the rail would let them go."""
        if not self._decided:
            return {}
        started = sum(1 for t in self._started if now - t < 3600)
        budget_spent = started >= self.config.max_per_hour
        kept = {}
        for truth in truths:
            last = self._decided.get(truth.vm)
            if last is None or not last.moves or last.request_id or truth.vm in asked:
                continue
            vm = inv.vms.get(truth.vm)
            if vm is None or vm.host != last.from_host or last.verdict is not truth.verdict \
                    or last.trigger != truth.verdict.value or vm.power_state != "poweredOn":
                continue
            seen = self._seen.get(truth.vm)
            waiting = seen is not None and seen[0] == (last.trigger, last.verdict.value) \
                and now - seen[1] < self.config.stable_seconds
            moved = self._last_move.get(truth.vm)
            cooling = moved is not None and now - moved < self.config.cooldown_seconds
            if waiting or truth.vm in self._in_flight or cooling or budget_spent:
                kept[truth.vm] = last
        return kept

    def _judge(self, decision: Decision, now: float, starting: int) -> Action:
        cfg = self.config
        if not decision.moves:
            return Action(decision, "refuse")
        if self.mode == "proactive-ha" and decision.trigger in HOST_TRIGGERS and not decision.request_id:
            host = decision.from_host_name or "the host"
            return Action(decision, "hold", "proactive_ha",
                          f"left to Proactive HA: {host} is reported to vCenter as unhealthy, DRS moves its VMs")
        key = (decision.trigger, decision.verdict.value)
        seen = self._seen.get(decision.vm)
        if seen is None or seen[0] != key:
            seen = self._seen[decision.vm] = (key, now)
        held_for = now - seen[1]
        if not decision.request_id and held_for < cfg.stable_seconds:
            return Action(decision, "hold", "stable", f"waiting for {decision.trigger} to hold {cfg.stable_seconds} s "
                          f"({cfg.stable_seconds - held_for:.0f} s to go)")
        if self.mode == "advise":
            return Action(decision, "advise")
        if decision.vm in self._in_flight:
            return Action(decision, "hold", "in_flight", "a migration of this VM is in progress")
        last = self._last_move.get(decision.vm)
        if last is not None and now - last < cfg.cooldown_seconds:
            return Action(decision, "hold", "cooldown", f"moved {_ago(now - last)} ago; cooldown "
                          f"{cfg.cooldown_minutes} min ({_ago(cfg.cooldown_seconds - (now - last))} left)")
        failed = self._failures.get(decision.vm)
        if failed is not None:
            if failed.count >= cfg.attempts:
                if now - failed.last < cfg.cooldown_seconds:
                    return Action(decision, "hold", "gave_up", f"{failed.count} migrations failed; next try in "
                                  f"{_ago(cfg.cooldown_seconds - (now - failed.last))}")
                del self._failures[decision.vm]
            else:
                wait = min(cfg.retry_seconds * 2 ** (failed.count - 1), cfg.cooldown_seconds)
                if now - failed.last < wait:
                    return Action(decision, "hold", "retry", f"migration failed {failed.count}x; retry "
                                  f"{failed.count + 1} of {cfg.attempts} in {_ago(wait - (now - failed.last))}")
        if self._breaker_until is not None:
            if now < self._breaker_until:
                return Action(decision, "hold", "breaker", f"circuit breaker open after {self._consecutive_failures} "
                              f"failed migrations; half-open in {_ago(self._breaker_until - now)}")
            if self._trial is not None or starting:
                return Action(decision, "hold", "breaker", "circuit breaker half-open: waiting for the trial migration")
        if len(self._in_flight) >= cfg.max_concurrent:
            return Action(decision, "hold", "concurrency", f"{len(self._in_flight)} migrations in flight "
                          f"(max_concurrent {cfg.max_concurrent})")
        if len(self._started) >= cfg.max_per_hour:
            return Action(decision, "hold", "budget", f"{len(self._started)} migrations started in the last hour "
                          f"(max_per_hour {cfg.max_per_hour}); next slot in {_ago(3600 - (now - self._started[0]))}")
        return Action(decision, "move")

    def _forget_cleared(self, current: Plan, now: float) -> None:
        """VMs no longer in the plan: their hysteresis restarts, and what we said about them is history."""
        planned = {d.vm for d in current.decisions}
        for vm in list(self._seen):
            if vm not in planned:
                del self._seen[vm]
        for vm in list(self._posted):
            if vm not in planned and vm not in self._in_flight:
                del self._posted[vm]

    def _expire_requests(self, now: float) -> None:
        for vm, (request, at) in list(self._requests.items()):
            if now - at > REQUEST_TIMEOUT:
                del self._requests[vm]
                self._callback(vm, request.id, "refused", f"no migration slot within {REQUEST_TIMEOUT:.0f} s; ask again later")

    # -- reporting ----------------------------------------------------------------------------------

    def _report(self, action: Action) -> None:
        d = action.decision
        if action.kind == "move":
            if d.request_id:
                self._answer(d, "accepted", f"moving: {d.target_words()}")
            return  # execute() posts the start
        if action.kind == "hold":
            if d.request_id and action.rail in _NOTABLE_RAILS:
                self._answer(d, "refused", f"not now: {action.reason}")
            if action.rail not in _NOTABLE_RAILS:
                log.debug("%s", action.line())
                return
            self._say(d.vm, ("hold", action.rail, d.key), f"holding {d.vm_name}: {action.reason} (plan: {d.line()})")
            return
        if action.kind == "advise":
            if d.request_id:
                self._answer(d, "refused", f"advise mode: the administrator reviews moves; proposed {d.target_words()}")
            self._say(d.vm, ("advise", d.key), f"advice: {d.line()}")
            return
        if d.request_id:
            self._answer(d, "refused", d.why)
        self._say(d.vm, ("refuse", d.key), d.line())

    def _say(self, vm: str, what: tuple[Any, ...], message: str) -> None:
        """Post an event (and log it) unless it says what we last said about this VM."""
        with self._lock:
            if self._posted.get(vm) == what:
                return
            self._posted[vm] = what
        self._event(vm, message)

    def _event(self, vm: str, message: str, level: int = logging.INFO) -> None:
        log.log(level, "%s", message)
        try:
            self.executor.post_event(vm, EVENT_PREFIX + message)
        except VsgtError as err:
            log.warning("could not post the event on %s: %s", vm, err)

    def _answer(self, decision: Decision, status: str, message: str) -> None:
        with self._lock:
            pending = self._requests.get(decision.vm)
            if pending is not None and pending[0].id == decision.request_id and status != "accepted":
                del self._requests[decision.vm]
        self._callback(decision.vm, decision.request_id, status, message)

    def _callback(self, vm: str, request_id: str, status: str, message: str) -> None:
        if self.on_request_result is None or not request_id:
            return
        try:
            self.on_request_result(vm, request_id, status, message)
        except Exception:  # noqa: BLE001 - a failing writer must not stop the loop
            log.exception("request result callback failed for %s", vm)

    # -- execution ----------------------------------------------------------------------------------

    def execute(self, action: Action, progress: Callable[[int], None] | None = None) -> bool:
        """Run one ``move`` action (blocking: call it from a worker thread); True when it succeeded. An adopted
        one (:meth:`adopt`) is not started again: its task is waited for, and its outcome recorded."""
        d = action.decision
        start = self.clock()
        adopted = action.rail == "adopted"
        if not adopted:
            self._event(d.vm, f"moving {d.vm_name} {d.target_words()} ({d.action.value}, {d.trigger}, verdict "
                              f"{d.verdict.value}): {d.why}")
        try:
            if adopted:
                d, outcome = self.executor.follow(d, action.task, progress), f"task {action.task}"
            else:
                outcome = self.executor.migrate(d, progress)
        except TaskGone as err:
            with self._lock:
                self._in_flight.pop(d.vm, None)
            log.warning("%s: the migration never happened; %s is planned again", err, d.vm_name)
            return False
        except VsgtError as err:
            self._failed(action, str(err))
            return False
        except Exception as err:  # noqa: BLE001 - a bug in the edge still counts as a failed move
            log.exception("migration of %s raised", d.vm_name)
            self._failed(action, f"{type(err).__name__}: {err}")
            return False
        seconds = self.clock() - start
        with self._lock:
            self._in_flight.pop(d.vm, None)
            self._last_move[d.vm] = self.clock()
            self._failures.pop(d.vm, None)
            self._seen.pop(d.vm, None)
            self._consecutive_failures = 0
            self._breaker_until = None
            self._trial = None
            self._posted.pop(d.vm, None)
            self.moves_done += 1
            self._requests.pop(d.vm, None)
        extra = f"; {outcome}" if outcome else ""
        how = "waited for after a restart" if adopted else d.trigger
        self._event(d.vm, f"moved {d.vm_name} {d.target_words()} in {seconds:.1f} s ({d.action.value}, "
                          f"{how}){extra}")
        if d.request_id:
            self._callback(d.vm, d.request_id, "done", f"moved {d.target_words()}")
        return True

    def _failed(self, action: Action, message: str) -> None:
        d = action.decision
        now = self.clock()
        with self._lock:
            self._in_flight.pop(d.vm, None)
            failed = self._failures.setdefault(d.vm, _Failures(0, now))
            failed.count += 1
            failed.last = now
            self._consecutive_failures += 1
            self.moves_failed += 1
            tripped = self._trial == d.vm or self._consecutive_failures >= self.config.breaker_failures
            if tripped:
                self._breaker_until = now + self.config.breaker_open_seconds
                self._trial = None
            self._requests.pop(d.vm, None)
            count = failed.count
        more = (f"; will retry ({count} of {self.config.attempts} attempts used)" if count < self.config.attempts
                else f"; giving up for {self.config.cooldown_minutes} min after {count} attempts")
        fallback = getattr(self.executor, "after_failure", None)  # what vSphere HA will do instead (vmcp.py)
        instead = fallback(d) if fallback is not None else ""
        more += f"; meanwhile {instead}" if instead else ""
        self._event(d.vm, f"migration of {d.vm_name} {d.target_words()} failed: {message}{more}", logging.WARNING)
        if tripped:
            log.warning("circuit breaker open for %d s after %d consecutive failed migrations",
                        self.config.breaker_open_seconds, self._consecutive_failures)
        if d.request_id:
            self._callback(d.vm, d.request_id, "failed", message)


def _ago(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min"
