"""The reconcile loop: watch -> truth -> what every in-scope guest should see -> write the differences.

Level-triggered, like a Kubernetes controller: for each VM the desired state document is computed from the
current inventory and the guest's own policy, and compared with the document the VM's extraConfig holds
now; only a difference is written. The state of record is vCenter's (extraConfig), not a private file, so a
restart rewrites nothing that is already right. The memory kept here only makes things cheaper or politer:
which VMs a change can affect, writes not yet echoed by the watch, request ids answered, rate limits,
re-probe timers.

:class:`Reconciler` is the decision-maker (no vCenter calls: it is handed a writer), :class:`Service`
runs it on a live watch, :func:`publish_once` runs one pass on a snapshot.

Which VMs a change touches: a VM's document depends on its own record, its host, its datastores, and, only
when a LUN or datastore is not working from its host (connectivity_lost, all_paths_down, media_failure,
unknown), on every other host that sees them. A pass recomputes only those VMs, plus a full pass every
``[publish] full_interval`` seconds as a safety net.

Seams: a ``remediation`` hook receives guests' ``migrate`` requests (:class:`MigrationRequest`) and answers
at once or later through :meth:`Reconciler.answer_later`; a :class:`Service` is an inventory source for the
web app.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from vsguesttruth import document
from vsguesttruth.config import Config
from vsguesttruth.errors import ConfigError, VsgtError
from vsguesttruth.guestinfo import POLICY, REQUEST, RESPONSE, STATE, encode_state
from vsguesttruth.guestpolicy import GuestPolicy, effective_policy
from vsguesttruth.guestrequest import Request, RequestBook, answered_request, read_response, response
from vsguesttruth.model import Datastore, Inventory, Vm
from vsguesttruth.policy import PolicyError, ServiceLevel
from vsguesttruth.ratelog import RateLog
from vsguesttruth.scope import Scope
from vsguesttruth.truth import TruthContext, Verdict, VmTruth
from vsguesttruth.vcenter.publish import Write, WriteResult

log = logging.getLogger(__name__)

_NOT_WORKING = frozenset({Verdict.CONNECTIVITY_LOST, Verdict.ALL_PATHS_DOWN, Verdict.MEDIA_FAILURE, Verdict.UNKNOWN})
ECHO_WAIT = 30.0  # seconds a write we made is trusted over an inventory that does not show it yet
POLICY_BURST = 3  # policy changes a guest may make at once; then one per min_refresh_interval
NO_REMEDIATION = "remediation is not available yet"


class Writer(Protocol):
    """What the reconciler needs from the vCenter edge (:class:`~vsguesttruth.vcenter.publish.Publisher`)."""

    def write(self, writes: Sequence[Write]) -> list[WriteResult]: ...

    def refresh(self, hosts: Iterable[str]) -> dict[str, str]: ...


# ---------------------------------------------------------------------------------------------------
# The remediation seam (the next issue plugs in here)


@dataclass(frozen=True)
class MigrationRequest:
    """A guest's ``migrate`` request, handed to remediation with the VM's truth.

    ``respond(status, message)`` answers later (``done`` or ``failed``); it may be called from any thread.
    """

    vm: str
    vm_name: str
    request: Request
    truth: VmTruth
    respond: Callable[[str, str], None]


#: Remediation: return ``(status, message)`` at once (``accepted`` or ``refused``), or None to answer later
#: through ``respond`` (or :meth:`Reconciler.answer_later`, which has the shape of remediation's
#: ``on_request_result(vm_moref, request_id, status, message)``).
RemediationHook = Callable[[MigrationRequest], "tuple[str, str] | None"]


# ---------------------------------------------------------------------------------------------------
# What a pass did


@dataclass
class VmOutcome:
    """One VM in a pass: ``state`` is ``written``, ``would_write`` (dry run), ``unchanged``, ``held`` (interval
    policy, or backing off after a failure) or ``failed``."""

    vm: str
    name: str
    state: str
    verdict: str = ""
    generation: int | None = None
    response: str = ""  # the response status written, if any
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"vm": self.name, "moref": self.vm, "state": self.state, "verdict": self.verdict,
                "generation": self.generation, "response": self.response or None, "error": self.error or None}


@dataclass
class PassResult:
    started: datetime
    seconds: float = 0.0
    vms: int = 0  # in the inventory
    in_scope: int = 0
    examined: int = 0  # recomputed this pass
    states: int = 0  # state documents written
    responses: int = 0  # responses written
    probes: int = 0  # hosts re-probed
    failed: int = 0  # writes that failed
    dry_run: bool = False
    outcomes: list[VmOutcome] = field(default_factory=list)

    def merge(self, later: "PassResult") -> "PassResult":
        """Two passes as one (publish --once re-reads after re-probes): later outcomes win per VM, except that
        a later ``unchanged`` or ``held`` (backing off after a failure) does not hide what the first pass did."""
        by_vm = {o.vm: o for o in self.outcomes}
        for o in later.outcomes:
            before = by_vm.get(o.vm)
            if before is not None and o.state in ("unchanged", "held") and before.state != "unchanged":
                o = replace(before, response=o.response or before.response)
            by_vm[o.vm] = o
        return replace(
            self, seconds=self.seconds + later.seconds, vms=later.vms, in_scope=later.in_scope,
            examined=max(self.examined, later.examined), states=self.states + later.states,
            responses=self.responses + later.responses, probes=self.probes + later.probes,
            failed=self.failed + later.failed, outcomes=sorted(by_vm.values(), key=lambda o: o.name),
        )

    def line(self) -> str:
        verb = "would write" if self.dry_run else "wrote"
        probes = f"would re-probe {self.probes} hosts" if self.dry_run else f"{self.probes} hosts re-probed"
        return (f"{self.in_scope} VMs in scope, {self.examined} examined, {verb} {self.states} states and "
                f"{self.responses} responses, {probes}, {self.failed} failed, "
                f"{self.seconds * 1000:.0f} ms")

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(), "seconds": round(self.seconds, 3), "dry_run": self.dry_run,
            "vms": self.vms, "in_scope": self.in_scope, "examined": self.examined, "states": self.states,
            "responses": self.responses, "probes": self.probes, "failed": self.failed,
            "outcomes": [o.as_dict() for o in self.outcomes],
        }


# ---------------------------------------------------------------------------------------------------
# Per-VM memory


@dataclass
class _Pending:
    """A refresh in progress: the request, and when its host's re-probe ended (None: not yet run)."""

    request: Request
    probed: float | None = None
    error: str = ""


@dataclass
class _VmState:
    policy_raw: str | None = None
    policy: GuestPolicy | None = None
    policy_tokens: float = POLICY_BURST
    policy_at: float = 0.0
    policy_held: bool = False
    next_refresh: float | None = None  # when this VM's host is re-probed next (its policy's interval)
    window: float | None = 0.0  # interval policy: the document may be published once as_of >= window
    pending: _Pending | None = None
    failed_until: float | None = None
    failures: int = 0
    # key -> (value we wrote, the value it replaced, when): writes the watch has not echoed yet
    written: dict[str, tuple[str, str | None, float]] = field(default_factory=dict)
    seen: document.Seen | None = None  # what the VM's state value says, so an unchanged one is not decoded
    ours: document.Seen | None = None  # the last document we wrote
    restored_at: float | None = None  # when we last restored our document after someone overwrote it
    restore_at: float | None = None  # when the next such restore is allowed
    host: str = ""
    datastores: frozenset[str] = frozenset()


def _mount_changes(old: Datastore | None, new: Datastore | None) -> set[str] | None:
    """The hosts whose mount of a datastore changed, when nothing else about it did; else None.

    One host losing a LUN changes that host's mount of a datastore thousands of VMs use. A VM elsewhere
    whose disks work does not depend on that mount (a VM whose disks don't is in ``_needs_others``), so only
    the VMs on the changed hosts need their truth again: a second per pass saved at 20,000 VMs.
    """
    if old is None or new is None or replace(old, mounts=()) != replace(new, mounts=()):
        return None
    return {m.host for m in set(old.mounts) ^ set(new.mounts)}


def _lower_keys(info: Mapping[str, str]) -> dict[str, str]:
    """Guestinfo keys are case-insensitive in the VMX; compare them in lower case."""
    return {k.lower(): v for k, v in info.items()}


# ---------------------------------------------------------------------------------------------------
# The reconciler


class Reconciler:
    """Decides, pass by pass, what to write into which VM (and which hosts to re-probe), and has it done.

    ``reconcile(inventory, as_of=...)``: ``as_of`` is the monotonic time up to which the inventory is known
    to be current (a live watch: now minus the settle time; a snapshot: when it was taken); a re-probe's
    result counts as seen once ``as_of`` passes the re-probe's end.
    """

    def __init__(self, config: Config, writer: Writer, *, level: ServiceLevel | None = None,
                 remediation: RemediationHook | None = None, record_all: bool = False, dry_run: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.config = config
        self.writer = writer
        self.level = level or ServiceLevel()
        self.remediation = remediation
        self.record_all = record_all
        self.dry_run = dry_run
        self.clock = clock
        self.wallclock = wallclock
        self.settle = config.publish.settle_ms / 1000.0
        self.scope = Scope(config.scope)
        self.book = RequestBook(config.guest.requests_per_hour)
        self._vms: dict[str, _VmState] = {}
        self._in_scope: set[str] = set()
        self._inv: Inventory | None = None
        self._by_host: dict[str, set[str]] = {}
        self._by_ds: dict[str, set[str]] = {}
        self._needs_others: set[str] = set()
        self._timed: set[str] = set()  # VMs with a timer (refresh, window, pending, backoff, late answers)
        self._probed: dict[str, float] = {}  # host -> when its last re-probe ended
        self._late: dict[str, list[tuple[str, str, str, str]]] = {}  # vm -> (id, action, status, message)
        self._lock = threading.Lock()  # guards _late (remediation may answer from another thread)
        self._rescope = True
        self._errors = RateLog(log)  # one line per VM per 10 minutes for a VM whose pass fails
        #: the latest truth of every in-scope VM that is not healthy, as published (remediation plans from it).
        #: Healthy ones are not kept: a truth holds its pass's evidence of every host that sees its LUNs, so
        #: 20,000 kept truths kept the evidence of hundreds of passes alive (+300 MB in 10 minutes of flaps).
        self.truths: dict[str, VmTruth] = {}

    # -- inputs from outside ------------------------------------------------------------------------

    def set_attribute_vms(self, vms: set[str] | None) -> None:
        """The VMs carrying the scope's custom attribute (read by the edge); re-evaluates the scope."""
        if vms != self.scope.attribute_vms:
            self.scope = Scope(self.config.scope, None if vms is None else frozenset(vms))
            self._rescope = True

    def answer_later(self, vm: str, id: str, status: str, message: str, action: str = "migrate") -> None:
        """Queue an answer to request ``id`` of VM ``vm`` (remediation's ``accepted``/``done``/``failed``/
        ``refused``); it is written with the VM's next pass. Callable from any thread."""
        with self._lock:
            self._late.setdefault(vm, []).append((id, action, status, message))

    # -- timing -------------------------------------------------------------------------------------

    def next_wake(self) -> float | None:
        """The monotonic time the next timer is due (None: none), in the caller's ``now``."""
        times = []
        with self._lock:
            if self._late:
                return self.clock()
        for moref in self._timed:
            st = self._vms.get(moref)
            if st is None:
                continue
            times.extend(t for t in (st.next_refresh, st.failed_until, st.restore_at) if t is not None)
            if st.window is not None and moref in self._in_scope and self._interval(st):
                times.append(st.window + self.settle)
            if st.pending is not None and st.pending.probed is not None:
                times.append(st.pending.probed + self.settle)
            if st.policy_held:
                times.append(st.policy_at + self.config.guest.min_refresh_interval)
        return min(times, default=None)

    def due(self, now: float | None = None) -> bool:
        wake = self.next_wake()
        return wake is not None and wake <= (self.clock() if now is None else now)

    # -- the pass -----------------------------------------------------------------------------------

    def reconcile(self, inv: Inventory, *, as_of: float | None = None, full: bool = False) -> PassResult:
        start = self.clock()
        as_of = start if as_of is None else as_of
        wall = self.wallclock()
        result = PassResult(started=wall, vms=len(inv.vms), dry_run=self.dry_run)
        dirty = self._dirty(inv, full or self._rescope)
        if self._rescope:  # a host changed cluster under a cluster scope: VMs may enter it
            dirty = set(inv.vms)
        dirty |= self._due_vms(start, as_of)
        if full or self._rescope:
            self._in_scope = {m for m, vm in inv.vms.items() if self.scope.includes(vm, inv)}
            self._rescope = False
            for moref in [m for m in self._vms if m not in self._in_scope]:
                self._drop(moref)
        else:
            for moref in dirty:
                vm = inv.vms.get(moref)
                if vm is not None and self.scope.includes(vm, inv):
                    self._in_scope.add(moref)
                else:
                    self._in_scope.discard(moref)
                    self._drop(moref)
        work = sorted(m for m in dirty if m in self._in_scope)
        result.in_scope = len(self._in_scope)
        result.examined = len(work)
        plans: list[_Plan] = []
        if work:
            ctx = TruthContext(inv)
            memo = document.Memo()
            for moref in work:
                vm = inv.vms[moref]
                try:
                    plans.append(self._plan(vm, inv, ctx, memo, start, as_of, wall))
                except Exception as err:  # noqa: BLE001 - one VM must never stop the others
                    self._errors.log(logging.ERROR, moref, "reconciling %s failed: %s: %.200s", vm.name,
                                     type(err).__name__, err)
                    log.debug("reconciling %s failed", vm.name, exc_info=True)
                    result.outcomes.append(VmOutcome(moref, vm.name, "failed", error=f"{type(err).__name__}: {err}"))
                    result.failed += 1
        self._inv = inv
        self._execute(plans, result, wall)
        result.seconds = self.clock() - start
        if not self.record_all:
            result.outcomes = [o for o in result.outcomes if o.state != "unchanged" or o.response]
        result.outcomes.sort(key=lambda o: o.name)
        return result

    # -- which VMs to look at -----------------------------------------------------------------------

    def _dirty(self, inv: Inventory, full: bool) -> set[str]:
        old = self._inv
        if old is None or full:
            return set(inv.vms)
        if old is inv:
            return set()
        dirty = {m for m, vm in inv.vms.items() if old.vms.get(m) is not vm and not self._our_echo(old.vms.get(m), vm)}
        for moref in old.vms.keys() - inv.vms.keys():
            self._drop(moref)
            self._in_scope.discard(moref)
        hosts = {m for m, h in inv.hosts.items() if old.hosts.get(m) is not h} | (old.hosts.keys() - inv.hosts.keys())
        stores = ({m for m, d in inv.datastores.items() if old.datastores.get(m) is not d}
                  | (old.datastores.keys() - inv.datastores.keys()))
        for h in hosts:
            dirty |= self._by_host.get(h, set())
            if self.scope.config.clusters and h in old.hosts and h in inv.hosts \
                    and old.hosts[h].cluster != inv.hosts[h].cluster:
                self._rescope = True
        for d in stores:
            users = self._by_ds.get(d, set())
            hosts_of_mounts = _mount_changes(old.datastores.get(d), inv.datastores.get(d))
            if hosts_of_mounts is None:
                dirty |= users
            else:  # only some hosts' mounts changed: the VMs there (and _needs_others, below)
                for h in hosts_of_mounts:
                    dirty |= users & self._by_host.get(h, set())
        if hosts or stores:
            dirty |= self._needs_others
        return dirty & inv.vms.keys()

    def _our_echo(self, old: Vm | None, new: Vm) -> bool:
        """Whether ``new`` differs from ``old`` only by values we wrote ourselves (nothing to recompute)."""
        st = self._vms.get(new.moref)
        if old is None or st is None or not st.written:
            return False
        if (old.name, old.uuid, old.power_state, old.host, old.disks) != (new.name, new.uuid, new.power_state,
                                                                          new.host, new.disks):
            return False
        a, b = _lower_keys(old.guestinfo), _lower_keys(new.guestinfo)
        changed = [k for k in a.keys() | b.keys() if a.get(k) != b.get(k)]
        if not changed or not all(k in st.written and st.written[k][0] == b.get(k) for k in changed):
            return False
        for k in changed:
            del st.written[k]  # echoed
        return True

    def _due_vms(self, now: float, as_of: float) -> set[str]:
        with self._lock:
            due = set(self._late)
        for moref in list(self._timed):
            st = self._vms.get(moref)
            if st is None:
                self._timed.discard(moref)
                continue
            if ((st.next_refresh is not None and now >= st.next_refresh)
                    or (st.failed_until is not None and now >= st.failed_until)
                    or (st.restore_at is not None and now >= st.restore_at)
                    or (st.window is not None and as_of >= st.window and self._interval(st))
                    or (st.pending is not None and st.pending.probed is not None and as_of >= st.pending.probed)
                    or (st.policy_held and now >= st.policy_at + self.config.guest.min_refresh_interval)):
                due.add(moref)
        return due

    # -- one VM -------------------------------------------------------------------------------------

    def _plan(self, vm: Vm, inv: Inventory, ctx: TruthContext, memo: document.Memo, now: float, as_of: float,
              wall: datetime) -> "_Plan":
        st = self._state(vm.moref)
        if st.failed_until is not None and now < st.failed_until:
            return _Plan(vm=vm, policy=st.policy or GuestPolicy(), held=True)  # backing off after a failure
        info = _lower_keys(vm.guestinfo)
        current_state = self._current(st, STATE, info.get(STATE), now)
        current_response = self._current(st, RESPONSE, info.get(RESPONSE), now)
        plan_replaced = {STATE: current_state, RESPONSE: current_response}
        policy = self._policy(st, info.get(POLICY), now)
        plan = _Plan(vm=vm, policy=policy, replaced=plan_replaced)

        # re-probe timers (the guest's refresh interval)
        if policy.refresh_interval > 0:
            if st.next_refresh is None:
                st.next_refresh = now
            if now >= st.next_refresh:
                last = self._probed.get(vm.host)
                if not vm.host:
                    st.next_refresh = now + policy.refresh_interval  # no host to re-probe now
                elif last is not None and now - last < self.config.guest.min_refresh_interval:
                    st.next_refresh = last + policy.refresh_interval  # share the re-probe made lately
                    if self._interval_policy(policy):
                        st.window = last
                else:
                    plan.probe = vm.host
                    st.next_refresh = now + policy.refresh_interval
        else:
            st.next_refresh = None

        # requests, and answers due
        answer = self._answers(st, vm, inv, ctx, policy, info.get(REQUEST), current_response, now, as_of, plan)

        # the document
        truth = ctx.vm_truth(vm.moref, policy.level)
        if truth.verdict is Verdict.HEALTHY:
            self.truths.pop(vm.moref, None)
        else:
            self.truths[vm.moref] = truth
        plan.verdict = truth.verdict.value
        before = st.seen if st.seen is not None and st.seen.value == current_state else document.seen(current_state)
        st.seen = before
        interval = policy.publish == "interval" and policy.refresh_interval > 0
        if not interval or (st.window is not None and as_of >= st.window):
            found = document.compare(before, truth, policy, memo)
            if found is not None and self._overwritten(st, before, found[1], now):
                found, plan.held = None, True  # someone keeps overwriting our document: restore it calmly
            if found is not None:
                content, after = found
                plan.state = encode_state(document.stamp(content, before.generation if before else 0, wall))
                plan.seen = replace(after, value=plan.state)
                plan.generation = after.generation
                if answer is None and policy.status != "default" and (before is None or before.policy != after.policy):
                    status = "policy_applied" if policy.status == "applied" else "policy_invalid"
                    message = policy.message or "policy applied"
                    answer = response("policy", status, message, wall,
                                      last_request=answered_request(read_response(current_response)))
                    plan.response_status = status
            st.window = None
        else:
            plan.held = True
        plan.response = answer
        self._track(vm, truth, st)
        return plan

    def _answers(self, st: _VmState, vm: Vm, inv: Inventory, ctx: TruthContext, policy: GuestPolicy,
                 request: str | None, current_response: str | None, now: float, as_of: float,
                 plan: "_Plan") -> str | None:
        """The response to write now (None: none), acting on the request key and on finished work."""
        wall = self.wallclock()
        with self._lock:
            late = self._late.pop(vm.moref, [])
        if late:
            id, action, status, message = late[-1]
            plan.response_status = status
            plan.undo = lambda: self._requeue(vm.moref, late)
            return response(id, status, message, wall, action)
        pending = st.pending
        if pending is not None and pending.probed is not None and as_of >= pending.probed:
            st.pending = None
            st.window = 0.0  # an interval policy publishes now too
            req = pending.request
            plan.undo = lambda: setattr(st, "pending", pending)
            if pending.error:
                plan.response_status = "failed"
                return response(req.id, "failed", f"re-probe failed: {pending.error}", wall, req.action)
            plan.response_status = "done"
            host = inv.hosts.get(vm.host)
            return response(req.id, "done", f"storage of {host.name if host else vm.host} re-probed; "
                                             "the state document is current", wall, req.action)
        decision = self.book.triage(vm.moref, request, current_response, now)
        if decision.kind == "none":
            return None
        if decision.kind == "refuse":
            log.info("refused a request of %s: %s", vm.name, decision.message)
            plan.response_status = "refused"
            plan.undo = lambda: self.book.unanswer(vm.moref, decision.id)
            return response(decision.id, "refused", decision.message, wall, decision.action)
        req = decision.request
        assert req is not None
        plan.undo = lambda: self.book.unanswer(vm.moref, req.id)
        if req.action == "refresh":
            host = inv.hosts.get(vm.host)
            if host is None:
                plan.response_status = "refused"
                return response(req.id, "refused", "the VM's host is not known", wall, req.action)
            st.pending = _Pending(req)
            plan.probe = vm.host
            if decision.kind == "resume":
                return None  # accepted before a restart: finish it, the answer is there already
            plan.response_status = "accepted"
            return response(req.id, "accepted", f"re-probing the storage of {host.name}", wall, req.action)
        return self._migrate(vm, req, ctx, policy, wall, plan)

    def _migrate(self, vm: Vm, req: Request, ctx: TruthContext, policy: GuestPolicy, wall: datetime,
                 plan: "_Plan") -> str | None:
        status, message = "refused", NO_REMEDIATION
        if self.remediation is not None and not self.config.guest.allow_migrate_requests:
            message = "the administrator does not allow migrate requests from guests"
        elif self.remediation is not None:
            def respond(later_status: str, later_message: str) -> None:
                self.answer_later(vm.moref, req.id, later_status, later_message, req.action)

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
        plan.response_status = status
        return response(req.id, status, message, wall, req.action)

    # -- executing the plans ------------------------------------------------------------------------

    def _execute(self, plans: list["_Plan"], result: PassResult, wall: datetime) -> None:
        writes = []
        for plan in plans:
            values = {}
            if plan.state is not None:
                values[STATE] = plan.state
            if plan.response is not None:
                values[RESPONSE] = plan.response
            if values:
                writes.append((plan, Write(vm=plan.vm.moref, name=plan.vm.name, values=values)))
            elif self.record_all or plan.held:
                result.outcomes.append(VmOutcome(plan.vm.moref, plan.vm.name, "held" if plan.held else "unchanged",
                                                 plan.verdict))
        if self.dry_run:  # whatever the writer, a dry run writes nothing
            outcomes = [WriteResult(w, True) for _, w in writes]
        else:
            outcomes = self.writer.write([w for _, w in writes]) if writes else []
        now = self.clock()
        for (plan, w), res in zip(writes, outcomes):
            st = self._vms[plan.vm.moref]
            state = "would_write" if self.dry_run else "written"
            if res.ok:
                st.failures, st.failed_until = 0, None
                for key, value in w.values.items():
                    st.written[key] = (value, plan.replaced.get(key), now)
                if plan.seen is not None and not self.dry_run:
                    st.seen = st.ours = plan.seen
                result.states += STATE in w.values
                result.responses += RESPONSE in w.values
                log.info("%s %s: %s", "would publish" if self.dry_run else "published", plan.vm.name,
                         ", ".join(f"state generation {plan.generation} ({plan.verdict})" if k == STATE
                                   else f"response {plan.response_status}" for k in w.values))
            else:
                st.failures += 1
                st.failed_until = now + min(300.0, 5.0 * 2 ** (st.failures - 1))
                if RESPONSE in w.values and plan.undo is not None:
                    plan.undo()  # the answer must be given again
                self._timed.add(plan.vm.moref)
                result.failed += 1
                state = "failed"
            result.outcomes.append(VmOutcome(
                plan.vm.moref, plan.vm.name, state if STATE in w.values or not res.ok else "unchanged",
                plan.verdict, plan.generation if STATE in w.values else None,
                plan.response_status if RESPONSE in w.values else "", res.error))
        self._probe(plans, result)
        for plan in plans:
            self._retime(plan.vm.moref)

    def _probe(self, plans: list["_Plan"], result: PassResult) -> None:
        """Re-probe each host some plan asked for, once; pending refreshes learn when (and how) it ended."""
        hosts = sorted({p.probe for p in plans if p.probe})
        if not hosts:
            return
        errors = self.writer.refresh(hosts) if not self.dry_run else {}
        ended = self.clock()
        result.probes += len(hosts)
        for host in hosts:
            self._probed[host] = ended
        for plan in plans:
            if not plan.probe:
                continue
            st = self._vms[plan.vm.moref]
            if st.pending is not None and st.pending.probed is None and st.pending.request is not None:
                st.pending.probed = ended
                st.pending.error = errors.get(plan.probe, "")
            if self._interval(st):
                st.window = ended  # the interval policy publishes what the re-probe found

    # -- memory -------------------------------------------------------------------------------------

    def _requeue(self, vm: str, answers: list[tuple[str, str, str, str]]) -> None:
        with self._lock:
            self._late[vm] = answers + self._late.get(vm, [])

    def _state(self, moref: str) -> _VmState:
        st = self._vms.get(moref)
        if st is None:
            st = self._vms[moref] = _VmState()
        return st

    def levels(self) -> dict[str, ServiceLevel]:
        """Each VM's service level from its guest policy (remediation moves where the guest's level holds)."""
        return {m: st.policy.level for m, st in self._vms.items() if st.policy is not None}

    def _drop(self, moref: str) -> None:
        self.truths.pop(moref, None)
        st = self._vms.pop(moref, None)
        self._timed.discard(moref)
        self._needs_others.discard(moref)
        self.book.forget(moref)
        if st is not None:
            self._by_host.get(st.host, set()).discard(moref)
            for ds in st.datastores:
                self._by_ds.get(ds, set()).discard(moref)

    def _track(self, vm: Vm, truth: VmTruth, st: _VmState) -> None:
        """Remember what this VM's document depends on, to know which changes concern it."""
        datastores = frozenset(ds for disk in vm.disks for ds in disk.datastores)
        if st.host != vm.host:
            self._by_host.get(st.host, set()).discard(vm.moref)
            self._by_host.setdefault(vm.host, set()).add(vm.moref)
            st.host = vm.host
        if st.datastores != datastores:
            for ds in st.datastores - datastores:
                self._by_ds.get(ds, set()).discard(vm.moref)
            for ds in datastores - st.datastores:
                self._by_ds.setdefault(ds, set()).add(vm.moref)
            st.datastores = datastores
        others = truth.verdict in _NOT_WORKING or any(
            d.verdict in _NOT_WORKING or any(lun.verdict in _NOT_WORKING for lun in d.luns)
            or any(ds.verdict in _NOT_WORKING for ds in d.datastores) for d in truth.disks)
        if others:
            self._needs_others.add(vm.moref)
        else:
            self._needs_others.discard(vm.moref)

    def _retime(self, moref: str) -> None:
        st = self._vms.get(moref)
        if st is None:
            return
        if (st.next_refresh is not None or st.failed_until is not None or st.pending is not None
                or st.restore_at is not None
                or st.policy_held or (st.window is not None and self._interval(st))):
            self._timed.add(moref)
        else:
            self._timed.discard(moref)

    def _current(self, st: _VmState, key: str, seen: str | None, now: float) -> str | None:
        """The key's value: what the inventory shows, or what we wrote if the watch has not echoed it yet."""
        mine = st.written.get(key)
        if mine is None:
            return seen
        value, replaced, at = mine
        if seen == replaced and now - at <= ECHO_WAIT:
            return value  # the inventory still shows what our write replaced: ours is on its way
        del st.written[key]  # echoed, or somebody wrote after us: the inventory is right
        return seen

    def _overwritten(self, st: _VmState, before: document.Seen | None, after: document.Seen, now: float) -> bool:
        """Whether this write only restores our unchanged document that someone else overwrote, too soon
        after the last restore (a guest can write the state key too: it must not make us spin)."""
        ours = st.ours
        if ours is None or after.fingerprint != ours.fingerprint or (before is not None and before.value == ours.value):
            return False
        wait = float(self.config.guest.min_refresh_interval)
        if st.restored_at is not None and now - st.restored_at < wait:
            st.restore_at = st.restored_at + wait
            return True
        st.restored_at, st.restore_at = now, None
        return False

    def _policy(self, st: _VmState, raw: str | None, now: float) -> GuestPolicy:
        """The VM's policy in force; a guest changing it often is held to one change per min interval."""
        raw = raw or None
        if st.policy is not None and raw == st.policy_raw:
            st.policy_held = False
            return st.policy
        minimum = float(self.config.guest.min_refresh_interval)
        if st.policy is not None:
            st.policy_tokens = min(float(POLICY_BURST), st.policy_tokens + (now - st.policy_at) / minimum)
            st.policy_at = now
            if st.policy_tokens < 1.0:
                st.policy_held = True
                return st.policy
            st.policy_tokens -= 1.0
        st.policy_at = now
        st.policy_held = False
        policy = effective_policy(raw, self.config.guest, self.level)
        if st.policy is not None and policy != st.policy:
            st.window = 0.0  # a new policy is shown at once, even under an interval policy
        st.policy_raw, st.policy = raw, policy
        return policy

    @staticmethod
    def _interval_policy(policy: GuestPolicy) -> bool:
        return policy.publish == "interval" and policy.refresh_interval > 0

    def _interval(self, st: _VmState) -> bool:
        return st.policy is not None and self._interval_policy(st.policy)


@dataclass
class _Plan:
    vm: Vm
    policy: GuestPolicy
    state: str | None = None
    generation: int | None = None
    response: str | None = None
    response_status: str = ""
    undo: Callable[[], None] | None = None  # if the write fails: make the answer due again
    verdict: str = ""
    probe: str = ""  # host to re-probe
    seen: document.Seen | None = None  # what the state written says (kept once the write succeeded)
    replaced: dict[str, str | None] = field(default_factory=dict)  # the values the write replaces
    held: bool = False


def default_level(config: Config) -> ServiceLevel:
    """The admin's ``[service_level]``: what applies to guests that set none."""
    try:
        return ServiceLevel.from_dict(config.service_level)
    except (PolicyError, TypeError) as err:
        raise ConfigError(f"config file {config.path}: [service_level]: {err}") from None


# ---------------------------------------------------------------------------------------------------
# Running it against vCenter


def publish_once(conn: Any, config: Config, *, level: ServiceLevel | None = None, dry_run: bool = False,
                 remediation: RemediationHook | None = None, publisher: Any = None) -> PassResult:
    """One pass on a fresh snapshot (``vsguesttruth publish --once``); re-reads and finishes after re-probes."""
    from vsguesttruth.vcenter.inventory import snapshot
    from vsguesttruth.vcenter.publish import Publisher

    own = publisher is None
    pub = publisher or Publisher(conn, concurrency=config.publish.concurrency, attempts=config.publish.attempts,
                                 task_timeout=config.publish.task_timeout, dry_run=dry_run)
    try:
        rec = Reconciler(config, pub, level=level or default_level(config), remediation=remediation,
                         record_all=True, dry_run=dry_run)
        _read_attribute(conn, rec, config)
        taken = time.monotonic()
        result = rec.reconcile(snapshot(conn), as_of=taken, full=True)
        if result.probes and not dry_run:
            taken = time.monotonic()
            result = result.merge(rec.reconcile(snapshot(conn), as_of=taken, full=True))
        return result
    finally:
        if own:
            pub.close()


def _read_attribute(conn: Any, rec: Reconciler, config: Config) -> bool:
    if config.scope.attribute is None:
        return True
    from vsguesttruth.vcenter.attributes import vms_with_attribute

    name, value = config.scope.attribute
    try:
        rec.set_attribute_vms(vms_with_attribute(conn, name, value))
        return True
    except VsgtError as err:
        log.warning("cannot read the custom attribute %s (the scope keeps its last value): %s", name, err)
        return False


class Service:
    """``vsguesttruth serve``: the reconcile loop on a live watch, until :meth:`stop`.

    ``on_pass(result)`` is called after every pass that did something (wrote, answered, re-probed, failed).
    A Service is also an inventory source for the web app (``vsguesttruth.web.InventorySource``: ``latest()``,
    ``level``, ``version``, ``updated_at``, ``error``, ``wait_version``), so the plugin can share its watch.
    """

    def __init__(self, conn: Any, config: Config, *, level: ServiceLevel | None = None,
                 remediation: RemediationHook | None = None, on_pass: Callable[[PassResult], None] | None = None,
                 remediation_loop: Any = None, max_wait: float = 30.0,
                 on_watch: Callable[[bool], None] | None = None) -> None:
        from vsguesttruth.vcenter.publish import Publisher

        self.conn = conn
        self.config = config
        self.on_pass = on_pass
        #: called after every answer of the watch: True with a new inventory, False after a quiet wait (metrics)
        self.on_watch = on_watch
        #: remediation in the loop (``remediation.RemediationLoop``): ``step(inv, reconciler)`` after each pass,
        #: and again at ``next_wake()`` (a verdict waiting out its hysteresis)
        self.remediation_loop = remediation_loop
        self.max_wait = max_wait
        self.publisher = Publisher(conn, concurrency=config.publish.concurrency, attempts=config.publish.attempts,
                                   task_timeout=config.publish.task_timeout)
        self.reconciler = Reconciler(config, self.publisher, level=level or default_level(config),
                                     remediation=remediation)
        self.passes = 0
        self.level = self.reconciler.level
        self.version = 0  # grows with every inventory the watch delivers
        self.updated_at = 0.0
        self.error = ""
        self._latest: Inventory | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._watcher: Any = None
        #: True while a pass (truth, writes, remediation step) runs: "settled" is not busy and no new inventory
        self.busy = False

    def latest(self) -> Inventory | None:
        return self._latest

    def wait_version(self, after: int, timeout: float) -> int:
        """Block until an inventory newer than version ``after`` is in (or ``timeout``); the version now."""
        with self._cond:
            self._cond.wait_for(lambda: self.version > after or self._stop.is_set(), timeout)
            return self.version

    def stop(self) -> None:
        """Stop the loop (from a signal handler or another thread): the wait in progress is cancelled."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        watcher = self._watcher
        if watcher is not None:
            threading.Thread(target=watcher.close, daemon=True).start()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _remediate(self, inv: Inventory) -> None:
        if self.remediation_loop is None:
            return
        try:
            self.remediation_loop.step(inv, self.reconciler)
        except VsgtError as err:
            log.warning("remediation pass: %s", err)
        except Exception:  # noqa: BLE001 - a bug in remediation must not stop publishing
            log.exception("remediation pass failed")

    def run(self) -> None:
        from vsguesttruth.vcenter.watch import Watcher

        config = self.config
        self._watcher = watcher = Watcher(self.conn, max_wait=self.max_wait)
        if self._stop.is_set():
            watcher.close()
        inv: Inventory | None = None
        next_full = 0.0
        next_attribute = 0.0
        log.info("serving %s: scope %s", self.conn.url, self.reconciler.scope.describe())
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if config.scope.attribute is not None and now >= next_attribute:
                    _read_attribute(self.conn, self.reconciler, config)
                    next_attribute = now + config.scope.attribute_refresh
                wake = self.reconciler.next_wake()
                timeout = self.max_wait if inv is not None else None
                remedy = self.remediation_loop.next_wake() if self.remediation_loop is not None else None
                for t in (wake, remedy, next_full if inv is not None else None,
                          next_attribute if config.scope.attribute is not None else None):
                    if t is not None and timeout is not None:
                        timeout = min(timeout, max(0.0, t - now))
                new = watcher.next_inventory(None if timeout is None else math.ceil(timeout * 10) / 10)
                if self._stop.is_set():
                    break
                if self.on_watch is not None:
                    self.on_watch(new is not None)
                if new is not None:
                    inv = new
                    with self._cond:
                        self._latest, self.version, self.updated_at, self.error = new, self.version + 1, time.time(), ""
                        self._cond.notify_all()
                if inv is None:
                    continue
                now = time.monotonic()
                full = now >= next_full
                if new is None and not full and not self.reconciler.due(now):
                    if remedy is not None and now >= remedy:
                        self._remediate(inv)
                    continue
                if full:
                    next_full = now + config.publish.full_interval
                self.busy = True
                try:
                    result = self.reconciler.reconcile(inv, as_of=now - self.reconciler.settle, full=full)
                    self._remediate(inv)
                except VsgtError:
                    raise
                except Exception:  # noqa: BLE001 - a bug in one pass: log it, keep serving
                    log.exception("publish pass failed")
                    self._stop.wait(1.0)
                    continue
                finally:
                    self.busy = False
                self.passes += 1
                if result.states or result.responses or result.probes or result.failed:
                    log.info("pass: %s", result.line())
                    if self.on_pass is not None:
                        self.on_pass(result)
        except VsgtError as err:
            self.error = str(err)
            raise
        finally:
            watcher.close()
            self.publisher.close()
