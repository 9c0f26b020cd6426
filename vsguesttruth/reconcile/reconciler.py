"""The reconciler: pass by pass, what to write into which VM's guestinfo (and which hosts to re-probe).

Level-triggered, like a Kubernetes controller: for each VM the desired state document is computed from the
current inventory and the guest's own policy, and compared with the document the VM's extraConfig holds
now; only a difference is written. A pass looks at the VMs a change touches (:mod:`.index`) and the VMs
whose time has come (:mod:`.queue`), plans each (:mod:`.sync`) and writes the plans through the
:class:`~.ports.Writer`. It makes no vCenter call itself.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from vsguesttruth.config import Config
from vsguesttruth.guestinfo import RESPONSE, STATE, RequestBook, document
from vsguesttruth.model import Inventory, Vm
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.ratelog import RateLog
from vsguesttruth.scope import Scope, Tagged
from vsguesttruth.truth import VmTruth
from vsguesttruth.truth.context import shared_context

from .index import Index
from .inflight import SUPERSEDED, InFlight
from .ports import AnswerLog, RemediationHook, Write, WriteResult, Writer
from .queue import WorkQueue
from .result import PassResult, VmOutcome
from .state import Keys, VmState
from .sweep import SPREAD, Sweep
from .sync import VmPlan, VmSync
from .verdicts import Judged, Verdicts

log = logging.getLogger(__name__)


class Reconciler:
    """Decides, pass by pass, what to write into which VM (and which hosts to re-probe), and has it done.

    ``reconcile(inventory, as_of=...)``: ``as_of`` is the monotonic time up to which the inventory is known
    to be current (a live watch: now minus the settle time; a snapshot: when it was taken); a re-probe's
    result counts as seen once ``as_of`` passes the re-probe's end. ``remediation`` receives guests'
    ``migrate`` requests; ``record_all`` keeps an outcome for every VM looked at (``publish --once``);
    ``answers`` records every request answered (read back with :meth:`remember_answered` at the next start).

    ``pipeline`` (``serve``, with a writer that can ``submit``): a pass hands its writes to the writer and
    returns; they finish while the next changes are read and planned (:mod:`.inflight`), so a burst of
    writes never holds the next fault back. A VM with a write in flight is planned again once it has ended
    (one write per VM at a time); what ended is accounted for in the next pass (:meth:`collect`).
    """

    def __init__(self, config: Config, writer: Writer, *, level: ServiceLevel | None = None,
                 remediation: RemediationHook | None = None, answers: AnswerLog | None = None,
                 record_all: bool = False, dry_run: bool = False, pipeline: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.config = config
        self._pipeline = pipeline and not dry_run
        self.writer = writer
        self.answers = answers
        self.level = level or ServiceLevel()
        self.record_all = record_all
        self.dry_run = dry_run
        self.clock = clock
        self.wallclock = wallclock
        self.settle = config.publish.settle_ms / 1000.0
        self.scope = Scope(config.scope)
        self.book = RequestBook(config.guest.requests_per_hour)
        #: what was judged last of every in-scope VM (``status`` reads it); ``truths``: the latest truth of every
        #: in-scope VM that is not healthy, as published (remediation plans from it). Healthy ones are not kept: a
        #: truth holds its pass's evidence of every host that sees its LUNs, so 20,000 kept truths kept the
        #: evidence of hundreds of passes alive (+300 MB in 10 minutes of flaps).
        self.verdicts = Verdicts()
        self.truths: dict[str, VmTruth] = self.verdicts.truths
        self._vms: dict[str, VmState] = {}
        self._in_scope: set[str] = set()
        self._inv: Inventory | None = None
        self._probed: dict[str, float] = {}  # host -> when its last re-probe ended
        self._rescope = True
        self._errors = RateLog(log)  # one line per VM per 10 minutes for a VM whose pass fails
        self.index = Index()
        self.sweep = Sweep(config.publish.full_interval * SPREAD)  # the full check, a slice a pass
        self._levels: dict[str, ServiceLevel] = {}  # VMs whose guest's level is not the service's
        self._planned: set[str] = set()  # VMs planned (or dropped) since levels() last looked
        self._backlog: set[str] = set()  # this pass: the VMs planned late (a first publish's backlog)
        self._writing: dict[int, int] = {}  # pipelined passes (by id of their result): writes not ended yet
        self._started: dict[int, float] = {}  # and when they started
        self._finished: list[PassResult] = []
        self.queue = WorkQueue(self._vms, self.settle, float(config.guest.min_refresh_interval), clock)
        self.sync = VmSync(config, self.level, self.book, self.queue, self.index, self._probed, self.verdicts,
                           remediation, wallclock, self._incident_ids)
        #: the incident controller (``vsguesttruth.incidents.IncidentController``) whose open incidents each
        #: document names per disk (``ids_for``); VMs whose ids changed are looked at again (``take_dirty``)
        self.incidents: Any = None

    # -- inputs from outside ------------------------------------------------------------------------

    @property
    def writer(self) -> Writer:
        return self._writer

    @writer.setter
    def writer(self, writer: Writer) -> None:
        """Who writes the documents (the data set channel wraps the publisher): pipelined when it can
        ``submit`` (and the reconciler pipelines); set before the first pass."""
        self._writer = writer
        self.inflight = InFlight(writer if self._pipeline else None)

    def set_attribute_vms(self, vms: set[str] | None) -> None:
        """The VMs carrying the scope's custom attribute (read by the edge); re-evaluates the scope."""
        if vms != self.scope.attribute_vms:
            scope = self.scope
            self.scope = Scope(self.config.scope, None if vms is None else frozenset(vms), scope.tagged, scope.excluded)
            self._rescope = True

    def scope_includes(self, vm: Vm, inv: Inventory) -> bool:
        """Whether the VM is in the scope now."""
        return self.scope.includes(vm, inv)

    def set_tagged(self, tagged: Tagged | None, excluded: Tagged | None) -> None:
        """What carries the scope's tags and excluded tags (read by the edge); re-evaluates the scope."""
        if (tagged, excluded) != (self.scope.tagged, self.scope.excluded):
            self.scope = self.scope.with_tags(tagged, excluded)
            self._rescope = True

    def answer_later(self, vm: str, id: str, status: str, message: str, action: str = "migrate") -> None:
        """Queue an answer to request ``id`` of VM ``vm`` (remediation's ``accepted``/``done``/``failed``/
        ``refused``); it is written with the VM's next pass. Callable from any thread."""
        self.queue.answer_later(vm, (id, action, status, message))

    def remember_answered(self, ids: Mapping[str, Iterable[str]]) -> None:
        """Request ids answered before this start, by VM moref (oldest first): never acted on again."""
        for vm, answered in ids.items():
            self.book.remember(vm, answered)

    def _incident_ids(self, vm: str) -> dict[int, tuple[str, ...]]:
        return self.incidents.ids_for(vm) if self.incidents is not None else {}

    def judged(self) -> Judged | None:
        """What was judged last of every VM (``status`` on a running service asks it), or None when that is not
        every VM of the inventory: a scope leaves VMs out, or the first pass has not judged them all yet."""
        inv = self._inv
        if inv is None or not self.scope.config.everything:
            return None
        found = self.verdicts.read()
        return found if found.vms == len(inv.vms) else None

    def levels(self) -> dict[str, ServiceLevel]:
        """Each VM's service level from its guest policy, where it is not the service's own :attr:`level`
        (remediation moves where the guest's level holds; the others are judged by ``level``). Kept up to date
        with the VMs planned since the last call (a policy changes only when its VM is planned)."""
        default = self.level
        for moref in self._planned:
            st = self._vms.get(moref)
            if st is not None and st.policy.policy is not None and (level := st.policy.policy.level) != default:
                self._levels[moref] = level
            else:
                self._levels.pop(moref, None)
        self._planned = set()
        return dict(self._levels)

    # -- timing -------------------------------------------------------------------------------------

    def next_wake(self) -> float | None:
        """The monotonic time the next timer is due (None: none), in the caller's ``now``; while writes are in
        flight, soon (their ends are accounted for, and their VMs planned again, by the next pass)."""
        now = self.clock()
        wakes = [t for t in (self.queue.next_wake(self._in_scope), self.inflight.next_look(now),
                             self.sweep.next_wake()) if t is not None]
        return min(wakes) if wakes else None

    @property
    def writing(self) -> int:
        """Writes handed to the writer and not accounted for yet (pipelined passes)."""
        return len(self.inflight)

    def due(self, now: float | None = None) -> bool:
        wake = self.next_wake()
        return wake is not None and wake <= (self.clock() if now is None else now)

    # -- the pass -----------------------------------------------------------------------------------

    def reconcile(self, inv: Inventory, *, as_of: float | None = None, full: bool = False,
                  sweep: bool = False) -> PassResult:
        """One pass over what changed in ``inv`` (``full``: every VM, in this pass; ``sweep``: every VM too, spread
        over the passes to come, see :mod:`.sweep`)."""
        start = self.clock()
        as_of = start if as_of is None else as_of
        wall = self.wallclock()
        result = PassResult(started=wall, vms=len(inv.vms), dry_run=self.dry_run)
        self.collect()
        sweeping = sweep and not full and self._inv is not None  # (the first pass looks at every VM anyway)
        dirty = self._dirty(inv, full or self._rescope)
        if self._rescope:  # a host changed cluster under a cluster scope: VMs may enter it
            dirty = set(inv.vms)
        if sweeping:
            self.sweep.start(inv.vms, start)
        dirty |= {m for m in self.sweep.take(start) if m in inv.vms}
        due = self.queue.due(start, as_of)
        dirty |= due
        if self.incidents is not None:
            dirty |= {m for m in self.incidents.take_dirty() if m in inv.vms}
        self.inflight.supersede(dirty)  # queued writes of VMs that changed again: planned anew below
        if self.inflight.wait_for(dirty):
            self.collect()
        changed = dirty
        dirty = self.inflight.hold(dirty)  # a VM with a write in flight: planned again once it has ended
        if full or self._rescope or sweeping:  # (a VM the scope takes now is planned when the sweep reaches it)
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
        later = self.inflight.take_later()  # planned after what changed now: a fault goes before a backlog
        self._backlog = later
        work = sorted(m for m in dirty if m in self._in_scope and m not in later)
        work += sorted(m for m in later if m in self._in_scope and m in inv.vms)
        self.queue.drop_answers(m for m in due if m not in self._in_scope or m not in inv.vms)
        result.in_scope = len(self._in_scope)
        plans: list[VmPlan] = []
        room = self.inflight.room()
        if work:
            ctx = shared_context(inv)  # the incident pass of this inventory judged it already
            memo = document.Memo()
            for i, moref in enumerate(work):
                if room <= 0:  # the writer has enough to do: the rest is planned when it has room again
                    self.inflight.defer(work[i:])
                    work = work[:i]
                    break
                vm = inv.vms[moref]
                try:
                    plans.append(self.sync.plan(vm, self._state(moref), inv, ctx, memo, start, as_of, wall))
                    room -= plans[-1].state is not None or plans[-1].response is not None
                except Exception as err:  # noqa: BLE001 - one VM must never stop the others
                    self._errors.log(logging.ERROR, moref, "reconciling %s failed: %s: %.200s", vm.name,
                                     type(err).__name__, err)
                    log.debug("reconciling %s failed", vm.name, exc_info=True)
                    result.outcomes.append(VmOutcome(moref, vm.name, "failed", error=f"{type(err).__name__}: {err}"))
                    result.failed += 1
        result.examined = len(work)
        self._planned.update(work)
        self._judge_unplanned(inv, (changed - dirty) | self.inflight.deferred)
        self._inv = inv
        self._execute(plans, result)
        self._started[id(result)] = start
        if id(result) not in self._writing:  # else (pipelined) the pass is over once its writes are
            self._close(result, self.clock())
        return result

    def _judge_unplanned(self, inv: Inventory, morefs: set[str]) -> None:
        """The truths remediation reads, for the VMs that changed but whose document waits (a write of theirs
        in flight, or no room for it this pass): remediation moves on what the VM's storage shows now, never
        on a truth a second old."""
        found = [m for m in morefs if m in self._in_scope and m in inv.vms and m in self._vms]
        if not found:
            return
        ctx = shared_context(inv)
        for moref in found:
            self.sync.judge(inv.vms[moref], self._vms[moref], ctx)

    def _dirty(self, inv: Inventory, full: bool) -> set[str]:
        """The VMs whose document may have changed since the last pass's inventory."""
        old = self._inv
        if old is None or full:
            return set(inv.vms)
        if old is inv:
            return set()
        dirty, gone, rescope = self.index.changes(old, inv, self._keys, bool(self.scope.config.clusters))
        for moref in gone:
            self._drop(moref)
            self._in_scope.discard(moref)
        self._rescope = self._rescope or rescope
        return dirty

    # -- executing the plans ------------------------------------------------------------------------

    def collect(self) -> None:
        """Account for the pipelined writes that have ended, each in the pass that planned it; a pass whose
        writes have all ended is :meth:`finished`. Writes still running stay in flight."""
        for plan, w, res, result in self.inflight.ended():
            now = self.clock()
            if res.error == SUPERSEDED:  # never sent: the VM is planned again with what it shows now
                if RESPONSE in w.values and plan.undo is not None:
                    plan.undo()  # the answer it carried is due again
            elif plan.vm.moref in self._vms:
                self._done(plan, w, res, result, now)
                self.queue.retime(plan.vm.moref)
            else:  # out of scope or gone meanwhile: nothing to remember
                result.states += res.ok and STATE in w.values
                result.responses += res.ok and RESPONSE in w.values
                result.failed += not res.ok
            self._writing[id(result)] -= 1
            if not self._writing[id(result)]:
                del self._writing[id(result)]
                self._close(result, now)

    def finished(self) -> list[PassResult]:
        """The pipelined passes whose writes have all ended since the last call (what they did, complete)."""
        done, self._finished = self._finished, []
        return done

    def _close(self, result: PassResult, now: float) -> None:
        """A pass is over: its time (truth and writes), its outcomes as a caller shows them."""
        result.seconds = now - self._started.pop(id(result))
        if not self.record_all:
            result.outcomes = [o for o in result.outcomes if o.state != "unchanged" or o.response]
        result.outcomes.sort(key=lambda o: o.name)
        if self.inflight.pipelined:
            self._finished.append(result)

    def _execute(self, plans: list[VmPlan], result: PassResult) -> None:
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
        if self.inflight.pipelined:
            for plan, w in writes:
                self.inflight.submit(plan, w, result, urgent=plan.vm.moref not in self._backlog, first=plan.worse)
            if writes:
                self._writing[id(result)] = len(writes)
            outcomes = []
        elif self.dry_run:  # whatever the writer, a dry run writes nothing
            outcomes = [WriteResult(w, True) for _, w in writes]
        else:
            outcomes = self.writer.write([w for _, w in writes]) if writes else []
        now = self.clock()
        for (plan, w), res in zip(writes, outcomes):
            self._done(plan, w, res, result, now)
        self._probe(plans, result)
        for plan in plans:
            self.queue.retime(plan.vm.moref)

    def _done(self, plan: VmPlan, w: Write, res: WriteResult, result: PassResult, now: float) -> None:
        """Remember what one write did (it succeeded: the VM's keys hold it; it failed: back off, and an
        answer it carried is due again), and count it in ``result``."""
        keys = self._vms[plan.vm.moref].keys
        state = "would_write" if self.dry_run else "written"
        if res.ok:
            self.queue.succeeded(plan.vm.moref)
            for key, value in w.values.items():
                keys.written[key] = (value, plan.replaced.get(key), now)
            if plan.seen is not None and not self.dry_run:
                keys.seen = keys.ours = plan.seen
            result.states += STATE in w.values
            result.responses += RESPONSE in w.values
            if RESPONSE in w.values:
                self._record(plan)
            log.info("%s %s: %s", "would publish" if self.dry_run else "published", plan.vm.name,
                     ", ".join(f"state generation {plan.generation} ({plan.verdict})" if k == STATE
                               else f"response {plan.response_status}" for k in w.values))
        else:
            self.queue.failed(plan.vm.moref, now)
            if RESPONSE in w.values and plan.undo is not None:
                plan.undo()  # the answer must be given again
            result.failed += 1
            state = "failed"
        result.outcomes.append(VmOutcome(
            plan.vm.moref, plan.vm.name, state if STATE in w.values or not res.ok else "unchanged",
            plan.verdict, plan.generation if STATE in w.values else None,
            plan.response_status if RESPONSE in w.values else "", res.error))

    def _record(self, plan: VmPlan) -> None:
        """The first answer written to a request id goes on record (``answers``), once per id."""
        if self.answers is None or self.dry_run or plan.answered is None:
            return
        id, action, status, message = plan.answered
        if self.book.record(plan.vm.moref, id):
            self.answers.record(plan.vm.moref, plan.vm.name, id, action, status, message)

    def _probe(self, plans: list[VmPlan], result: PassResult) -> None:
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
            if st.policy.interval:
                st.timers.window = ended  # the interval policy publishes what the re-probe found

    # -- memory -------------------------------------------------------------------------------------

    def _state(self, moref: str) -> VmState:
        st = self._vms.get(moref)
        if st is None:
            st = self._vms[moref] = VmState()
        return st

    def _keys(self, moref: str) -> Keys | None:
        st = self._vms.get(moref)
        return st.keys if st is not None else None

    def close(self, cancel: bool = True) -> None:
        """Stop pipelining: writes waiting for a slot are dropped (``cancel``), running ones end on their own."""
        self.inflight.close(cancel)

    def _drop(self, moref: str) -> None:
        self._planned.add(moref)
        self.verdicts.drop(moref)
        self._vms.pop(moref, None)
        self.queue.forget(moref)
        self.index.drop(moref)
        self.book.forget(moref)
