"""The per-VM sync (client-go's sync handler): what one VM should get now, and what that takes.

For one VM of the current inventory, :meth:`VmSync.plan` decides, level-triggered from what the VM's keys
hold: the state document to write (only when its content differs from what the VM has, and when the
guest's interval policy lets it), the response to write (a guest's request triaged, a refresh finished, a
remediation answer that came later, a policy applied or refused), and the host to re-probe (the guest's
refresh interval, or its refresh request). Nothing is written here: the reconciler writes the plans of a
pass together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Callable, Mapping, Sequence

from vsguesttruth.config import Config
from vsguesttruth.guestinfo import (
    POLICY,
    REQUEST,
    RESPONSE,
    STATE,
    GuestPolicy,
    Request,
    RequestBook,
    answered_request,
    document,
    encode_state,
    read_response,
    response,
)
from vsguesttruth.model import Inventory, Vm
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext

from .index import Index
from .ports import NO_REMEDIATION, MigrationRequest, RemediationHook
from .queue import WorkQueue
from .state import Pending, VmState, is_interval, lower_keys
from .verdicts import Verdicts

log = logging.getLogger(__name__)


@dataclass
class VmPlan:
    """What one VM gets in this pass (None: nothing of that kind)."""

    vm: Vm
    policy: GuestPolicy
    state: str | None = None  # the state value to write
    generation: int | None = None
    response: str | None = None  # the response value to write
    response_status: str = ""
    answered: tuple[str, str, str, str] | None = None  # the request answered: (id, action, status, message)
    undo: Callable[[], None] | None = None  # if the write fails: make the answer due again
    verdict: str = ""
    probe: str = ""  # host to re-probe
    seen: document.Seen | None = None  # what the state written says (kept once the write succeeded)
    replaced: dict[str, str | None] = field(default_factory=dict)  # the values the write replaces
    held: bool = False  # something waits: an interval window, a backoff, a calm restore
    worse: bool = False  # the document tells worse news than the one before (written before other documents)


class VmSync:
    """Plans VMs with the reconciler's memory: per-VM state, the work queue, the index, the request book,
    the hosts' last re-probes, and what it judged of each VM (:class:`.verdicts.Verdicts`)."""

    def __init__(self, config: Config, level: ServiceLevel, book: RequestBook, queue: WorkQueue, index: Index,
                 probed: dict[str, float], verdicts: Verdicts, remediation: RemediationHook | None,
                 wallclock: Callable[[], datetime],
                 incidents: Callable[[str], Mapping[int, Sequence[str]]] = lambda vm: {}) -> None:
        self.config = config
        self.level = level
        self.book = book
        self.queue = queue
        self.index = index
        self.probed = probed
        self.verdicts = verdicts
        self.remediation = remediation
        self.wallclock = wallclock
        self.incidents = incidents  # vm moref -> disk key -> the open incidents its document names

    def plan(self, vm: Vm, st: VmState, inv: Inventory, ctx: TruthContext, memo: document.Memo, now: float,
             as_of: float, wall: datetime) -> VmPlan:
        timers, keys = st.timers, st.keys
        if timers.failed_until is not None:
            if now < timers.failed_until:
                return VmPlan(vm=vm, policy=st.policy.policy or GuestPolicy(), held=True)  # backing off after a failure
            timers.failed_until = None  # over: a write that fails again backs off longer (Timers.failures)
        if st.power and st.power != vm.power_state:
            keys.forget()  # a power cycle drops guestinfo: only what vCenter shows now counts
        st.power = vm.power_state
        host = inv.hosts.get(vm.host)
        if host is not None and not host.connected:
            # vCenter refuses what needs the host (ReconfigVM_Task of its VMs fails): nothing is written,
            # answered or re-probed; the host's return makes the VM due again, its requests still waiting.
            truth = ctx.vm_truth(vm.moref, (st.policy.policy or GuestPolicy(level=self.level)).level)
            self.index.track(vm, truth)
            self.verdicts.put(truth, act=False)
            return VmPlan(vm=vm, policy=st.policy.policy or GuestPolicy(), held=True)
        info = lower_keys(vm.guestinfo)
        current_state = keys.current(STATE, info.get(STATE), now)
        current_response = keys.current(RESPONSE, info.get(RESPONSE), now)
        policy, changed = st.policy.apply(info.get(POLICY), now, self.config.guest, self.level)
        if changed:
            timers.window = 0.0  # a new policy is shown at once, even under an interval policy
        plan = VmPlan(vm=vm, policy=policy, replaced={STATE: current_state, RESPONSE: current_response})
        self._refresh_timer(vm, st, policy, now, plan)
        answer = self._answers(st, vm, inv, ctx, policy, info.get(REQUEST), current_response, now, as_of, plan)

        # the document
        truth = ctx.vm_truth(vm.moref, policy.level)
        self.verdicts.put(truth)
        plan.verdict = truth.verdict.value
        if keys.seen is not None and keys.seen.value == current_state:
            keys.share(current_state)
        else:
            keys.seen = document.seen(current_state)
        before = keys.seen
        if not is_interval(policy) or (timers.window is not None and as_of >= timers.window):
            found = document.compare(before, truth, policy, memo, self.incidents(vm.moref))
            wait = float(self.config.guest.min_refresh_interval)
            if found is not None and keys.overwritten(before, found[1], now, wait):
                found, plan.held = None, True  # someone keeps overwriting our document: restore it calmly
            if found is not None:
                content, after = found
                plan.state = encode_state(document.stamp(content, before.generation if before else 0, wall))
                plan.seen = replace(after, value=plan.state)
                plan.worse = after.rank > (before.rank if before is not None else (0, 0))
                plan.generation = after.generation
                if answer is None and policy.status != "default" and (before is None or before.policy != after.policy):
                    status = "policy_applied" if policy.status == "applied" else "policy_invalid"
                    message = policy.message or "policy applied"
                    answer = response("policy", status, message, wall,
                                      last_request=answered_request(read_response(current_response)))
                    plan.response_status = status
            timers.window = None
        else:
            plan.held = True
        plan.response = answer
        self.index.track(vm, truth)
        return plan

    def judge(self, vm: Vm, st: VmState, ctx: TruthContext) -> None:
        """Only the VM's truth (for remediation), by the level its guest's policy set last: its document is
        planned in a later pass."""
        policy = st.policy.policy
        self.verdicts.put(ctx.vm_truth(vm.moref, policy.level if policy is not None else self.level))

    def _refresh_timer(self, vm: Vm, st: VmState, policy: GuestPolicy, now: float, plan: VmPlan) -> None:
        """The guest's refresh interval: re-probe its host when due, sharing a re-probe made lately."""
        timers = st.timers
        if policy.refresh_interval <= 0:
            timers.next_refresh = None
            return
        if timers.next_refresh is None:
            timers.next_refresh = now
        if now < timers.next_refresh:
            return
        last = self.probed.get(vm.host)
        if not vm.host:
            timers.next_refresh = now + policy.refresh_interval  # no host to re-probe now
        elif last is not None and now - last < self.config.guest.min_refresh_interval:
            timers.next_refresh = last + policy.refresh_interval  # share the re-probe made lately
            if is_interval(policy):
                timers.window = last
        else:
            plan.probe = vm.host
            timers.next_refresh = now + policy.refresh_interval

    def _answers(self, st: VmState, vm: Vm, inv: Inventory, ctx: TruthContext, policy: GuestPolicy,
                 request: str | None, current_response: str | None, now: float, as_of: float,
                 plan: VmPlan) -> str | None:
        """The response to write now (None: none), acting on the request key and on finished work."""
        wall = self.wallclock()
        late = self.queue.take_answers(vm.moref)
        if late:
            id, action, status, message = late[-1]
            plan.undo = lambda: self.queue.requeue(vm.moref, late)
            self.queue.again(vm.moref)  # a request the guest wrote meanwhile: the next pass, not the next full one
            return _answer(plan, id, action, status, message, wall)
        pending = st.pending
        if pending is not None and pending.probed is not None and as_of >= pending.probed:
            st.pending = None
            st.timers.window = 0.0  # an interval policy publishes now too
            req = pending.request
            plan.undo = lambda: setattr(st, "pending", pending)
            self.queue.again(vm.moref)  # as after a late answer: a request written meanwhile, in the next pass
            if pending.error:
                return _answer(plan, req.id, req.action, "failed", f"re-probe failed: {pending.error}", wall)
            host = inv.hosts.get(vm.host)
            return _answer(plan, req.id, req.action, "done", f"storage of {host.name if host else vm.host} "
                                                             "re-probed; the state document is current", wall)
        st.timers.request_at = None
        decision = self.book.triage(vm.moref, request, current_response, now)
        if decision.kind == "none":
            return None
        if decision.kind == "wait":
            st.timers.request_at = decision.at  # over the rate limit and refused lately: answered then
            return None
        if decision.kind == "refuse":
            log.info("refused a request of %s: %s", vm.name, decision.message)
            plan.undo = lambda: self.book.unanswer(vm.moref, decision.id)
            return _answer(plan, decision.id, decision.action, "refused", decision.message, wall)
        req = decision.request
        assert req is not None
        plan.undo = lambda: self.book.unanswer(vm.moref, req.id)
        if req.action == "refresh":
            host = inv.hosts.get(vm.host)
            if host is None:
                return _answer(plan, req.id, req.action, "refused", "the VM's host is not known", wall)
            st.pending = Pending(req)
            plan.probe = vm.host
            if decision.kind == "resume":
                return None  # accepted before a restart: finish it, the answer is there already
            return _answer(plan, req.id, req.action, "accepted", f"re-probing the storage of {host.name}", wall)
        return self._migrate(vm, req, ctx, policy, wall, plan)

    def _migrate(self, vm: Vm, req: Request, ctx: TruthContext, policy: GuestPolicy, wall: datetime,
                 plan: VmPlan) -> str | None:
        """A guest's migrate request: remediation's answer now, or None when it answers later."""
        status, message = "refused", NO_REMEDIATION
        if self.remediation is not None and not self.config.guest.allow_migrate_requests:
            message = "the administrator does not allow migrate requests from guests"
        elif self.remediation is not None:
            def respond(later_status: str, later_message: str) -> None:
                self.queue.answer_later(vm.moref, (req.id, req.action, later_status, later_message))

            try:
                answer = self.remediation(MigrationRequest(
                    vm=vm.moref, vm_name=vm.name, request=req, truth=ctx.vm_truth(vm.moref, policy.level),
                    respond=respond))
            except Exception as err:  # noqa: BLE001 - remediation's failure is the guest's answer, not our crash
                log.exception("remediation failed for %s", vm.name)
                answer = ("failed", f"remediation failed: {type(err).__name__}")
            if answer is None:
                return None  # remediation answers later
            status, message = answer
        return _answer(plan, req.id, req.action, status, message, wall)


def _answer(plan: VmPlan, id: str, action: str, status: str, message: str, wall: datetime) -> str:
    """The response value answering request ``id``; the plan remembers what it answers."""
    plan.response_status = status
    plan.answered = (id, action, status, message)
    return response(id, status, message, wall, action)
