"""Running the reconciler against vCenter: ``vsguesttruth serve`` (:class:`Service`, on the live informer)
and ``vsguesttruth publish --once`` (:func:`publish_once`, on one snapshot).

The vCenter edge (``vsguesttruth.vcenter``: the informer, the publisher, the custom attribute and the tags of
the scope) and the VM data set channel (``vsguesttruth.delivery``) are imported where a service is made,
never when this package is: the reconciler itself runs on plain data.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable

from vsguesttruth.config import Config
from vsguesttruth.errors import ConfigError, VsgtError
from vsguesttruth.model import Inventory
from vsguesttruth.policy import PolicyError, ServiceLevel
from vsguesttruth.ratelog import RateLog

from .ports import Remediation, RemediationHook
from .reconciler import Reconciler
from .result import PassResult
from .stepper import RemediationStepper
from .verdicts import Judged

log = logging.getLogger(__name__)

#: seconds between the loop's looks for remediation's answers while remediation is busy
REMEDIATION_LOOK = 1.0
#: seconds from vCenter's answer to the pass's writes past which a pass says where its time went
SLOW_PASS = 0.5


def default_level(config: Config) -> ServiceLevel:
    """The admin's ``[service_level]``: what applies to guests that set none."""
    try:
        return ServiceLevel.from_dict(config.service_level)
    except (PolicyError, TypeError) as err:
        raise ConfigError(f"config file {config.path}: [service_level]: {err}") from None


def publish_once(conn: Any, config: Config, *, level: ServiceLevel | None = None, dry_run: bool = False,
                 remediation: RemediationHook | None = None, publisher: Any = None) -> PassResult:
    """One pass on a fresh snapshot (``vsguesttruth publish --once``); re-reads and finishes after re-probes.
    The request ids answered before (vCenter's events) are read first: never acted on again. Tags of the scope
    are read first too (an error when they cannot be); VMs on data sets are read with the snapshot."""
    from vsguesttruth.delivery import open_delivery
    from vsguesttruth.vcenter import Publisher, events, snapshot

    own = publisher is None
    pub = publisher or Publisher(conn, concurrency=config.publish.concurrency, attempts=config.publish.attempts,
                                 task_timeout=config.publish.task_timeout, dry_run=dry_run)
    tags = delivery = None
    try:
        rec = Reconciler(config, pub, level=level or default_level(config), remediation=remediation,
                         answers=events.AnswerRecord(conn), record_all=True, dry_run=dry_run)
        rec.remember_answered(events.answered_requests(conn))
        _read_attribute(conn, rec, config)
        tags = tag_cache(conn, config)
        if tags is not None:
            tags.read()
            rec.set_tagged(tags.tagged, tags.excluded)
        delivery = open_delivery(conn, config, rec.scope_includes)
        if delivery is not None:
            rec.writer = delivery.writer(pub)
        prepare = delivery.prepare if delivery is not None else (lambda inv: inv)
        taken = time.monotonic()
        inv = prepare(snapshot(conn))
        rec.incidents = incident_controller(conn, config)  # the ids `serve` would give: dated by the same events
        rec.incidents.observe(inv)
        result = rec.reconcile(inv, as_of=taken, full=True)
        if result.probes and not dry_run:
            taken = time.monotonic()
            result = result.merge(rec.reconcile(prepare(snapshot(conn)), as_of=taken, full=True))
        return result
    finally:
        for part in (delivery, tags):
            if part is not None:
                part.close()
        if own:
            pub.close()


def tag_cache(conn: Any, config: Config) -> Any:
    """The vSphere tags the config names (``[scope] tags``, ``exclude_tags``, ``[remediation]
    replica_tag_category``), unread; None when it names none."""
    from vsguesttruth.vcenter import TagCache

    cache = TagCache(conn, config.scope.tags, config.scope.exclude_tags, config.remediation.replica_tag_category,
                     config.remediation.replica_attribute)
    return cache if cache.wanted else None


def incident_controller(conn: Any, config: Config, record: bool = False, informer: Any = None) -> Any:
    """The incident controller of a vCenter: new failures dated by the hosts' storage events (those the
    ``informer``'s watch reads, else its own read of the event history when a failure is new); with ``record``,
    the incidents that last ``[remediation] stable_seconds`` posted as vCenter events when they open and resolve."""
    from datetime import timedelta

    from vsguesttruth.incidents import EVENT_TYPES, IncidentController
    from vsguesttruth.vcenter import incident_events
    from vsguesttruth.vcenter.storage_events import StorageEventReader

    reader = None if informer is not None else StorageEventReader(
        conn, EVENT_TYPES, timedelta(hours=config.incidents.event_lookback_hours))
    controller = IncidentController(read_events=reader, keep=config.incidents.keep_resolved,
                                    record=(lambda message: incident_events.post(conn, message)) if record else None,
                                    record_after=config.remediation.stable_seconds)
    if informer is not None:
        informer.listen_events(controller.hear)
    return controller


def _read_attribute(conn: Any, rec: Reconciler, config: Config) -> bool:
    if config.scope.attribute is None:
        return True
    from vsguesttruth.vcenter import vms_with_attribute

    name, value = config.scope.attribute
    try:
        rec.set_attribute_vms(vms_with_attribute(conn, name, value))
        return True
    except VsgtError as err:
        log.warning("cannot read the custom attribute %s (the scope keeps its last value): %s", name, err)
        return False


class Service:
    """``vsguesttruth serve``: the reconcile loop on the live watch, until :meth:`stop`.

    The watch is :attr:`informer` (``vsguesttruth.vcenter.Informer``), which the plugin server reads too.
    ``remediation`` (``vsguesttruth.remediation.RemediationLoop``) gets the guests' migrate requests, and a
    step on every pass's outcome and again at its ``next_wake()`` (a verdict waiting out its hysteresis), in a
    thread of its own (:mod:`.stepper`): planning never delays the next documents. The pass's writes are
    pipelined (:mod:`.inflight`): the next changes are read while they run.
    ``on_pass(result)`` is called after every pass that did something (wrote, answered, re-probed, failed).

    ``lease`` (``vsguesttruth.vcenter.lease.Lease``, started): only while this instance holds it does the
    service act. Before that it is passive: it keeps the watch (the plugin's pages and metrics stay live) and
    writes nothing. When it becomes active it first reads back what vCenter remembers (the requests answered,
    the moves, the migrations still running: :meth:`_start_acting`); every write and event checks the lease
    again, every migration renews it first. A lease another instance took over ends :meth:`run` with an
    error (``serve`` exits; restarted, it stands by). Without a lease (tests) the service always acts.
    """

    def __init__(self, conn: Any, config: Config, *, level: ServiceLevel | None = None,
                 remediation: Remediation | None = None, on_pass: Callable[[PassResult], None] | None = None,
                 max_wait: float = 30.0, lease: Any = None) -> None:
        from vsguesttruth.vcenter import Informer, Publisher, events

        self.conn = conn
        self.config = config
        self.on_pass = on_pass
        self.remediation = remediation
        self.max_wait = max_wait
        self.lease = lease
        gate = lease.check if lease is not None else None
        # the storage events of the last [incidents] event_lookback_hours (at least a day: open conditions)
        self.informer = Informer(conn, max_wait=max_wait, catch_up=3600.0 * max(24, config.incidents.event_lookback_hours))
        self.publisher = Publisher(conn, concurrency=config.publish.concurrency, attempts=config.publish.attempts,
                                   task_timeout=config.publish.task_timeout, gate=gate)
        self.reconciler = Reconciler(config, self.publisher, level=level or default_level(config),
                                     remediation=remediation.request if remediation is not None else None,
                                     answers=events.AnswerRecord(conn, gate), pipeline=True)
        self.stepper = RemediationStepper(remediation, lambda: self.acting) if remediation is not None else None
        self.level = self.reconciler.level
        #: the scope's tags and the replica tags, read every [scope] tag_refresh seconds and on refresh_tags();
        #: ``on_tags(cache)`` after each read that succeeded
        self.tags = tag_cache(conn, config)
        self.on_tags: Callable[[Any], None] | None = None
        self._next_tags = 0.0
        #: the VM data set channel ([delivery]); its writer sends what goes there, the rest to the publisher
        from vsguesttruth.delivery import open_delivery

        self.delivery = open_delivery(conn, config, self.reconciler.scope_includes, gate=gate)
        if self.delivery is not None:
            self.reconciler.writer = self.delivery.writer(self.publisher)
        #: the incidents' lifecycle, stepped with every inventory the watch brings, before the pass reads it;
        #: recorded in vCenter's events when remediation runs (it posts events: advise, auto)
        # a write ends when the watch shows its VM changed (the publisher's look at every task is a safety net)
        self.publisher.follow_changes()
        self.informer.listen(self._changed)
        self.incidents = incident_controller(conn, config, record=remediation is not None, informer=self.informer)
        self.reconciler.incidents = self.incidents
        self.informer.listen(self.incidents.listen)
        self.passes = 0
        self._slow_log = RateLog(log, 60.0)  # a slow pass a minute at most, and how many more
        self.error = ""
        self._in_pass = False
        #: True while this instance acts (holds the lease, and has read back vCenter's record)
        self.acting = False
        self._started = False
        self._retry_at = 0.0

    def refresh_tags(self) -> None:
        """Read the tags again at the next wake of the loop (on demand: SIGHUP)."""
        self._next_tags = 0.0

    def _read_tags(self) -> bool:
        """Read the tags; whether the scope changed."""
        if self.tags is None or not self.tags.refresh():
            return False
        before = self.reconciler.scope
        self.reconciler.set_tagged(self.tags.tagged, self.tags.excluded)
        if self.on_tags is not None:
            self.on_tags(self.tags)
        return self.reconciler.scope is not before

    @property
    def busy(self) -> bool:
        """True while a pass runs, its writes are in flight or a remediation step runs: "settled" is not busy
        and no new inventory."""
        stepping = self.stepper is not None and self.stepper.busy
        return self._in_pass or bool(self.reconciler.writing) or stepping

    def stop(self) -> None:
        """Stop the loop (from a signal handler or another thread): the wait in progress is cancelled."""
        self.informer.stop()

    @property
    def stopped(self) -> bool:
        return self.informer.stopped

    def judged(self) -> Judged | None:
        """What the loop judged last of every VM, while this instance acts (a standby judges nothing)."""
        return self.reconciler.judged() if self.acting else None

    def role(self) -> dict[str, Any]:
        """``{"role": "active" | "passive", "holder": ...}`` for the plugin server and ``/readyz``."""
        if self.lease is None:
            return {"role": "active", "holder": ""}
        return {**self.lease.status(), "role": "active" if self.acting else "passive"}

    def _remediate(self, inv: Inventory) -> None:
        """Hand the pass's outcome to remediation's own thread (copies: the next pass goes on changing them)."""
        if self.stepper is None:
            return
        rec = self.reconciler
        self.stepper.offer(inv, dict(rec.truths), rec.levels(), rec.level)

    def _changed(self, inv: Inventory | None) -> None:
        """Tell the publisher which VMs the watch saw change (their writes in flight may have ended)."""
        if inv is not None and inv.delta is not None and inv.delta.vms:
            self.publisher.changed(inv.delta.vms)

    def _slow(self, result: Any, started: float) -> None:
        """Warn (once a minute at most) where the time went when vCenter's answer took more than
        :data:`SLOW_PASS` seconds to reach the writers (under a storm of flaps it is a tenth of that)."""
        answered, built, heard = self.informer.timing
        done = time.monotonic()
        if answered and done - answered > SLOW_PASS:
            self._slow_log.log(
                logging.WARNING, "slow", "slow pass: %.2f s from vCenter's answer to the writes (decoding it and the "
                "inventory %.2f s, incidents %.2f s, waiting %.2f s, the pass %.2f s: %d VMs examined, %s)",
                done - answered, built - answered, heard - built, started - heard, done - started, result.examined,
                "a sweep" if self.reconciler.sweep.running else "no sweep")

    def _report(self) -> None:
        """Log (and hand to ``on_pass``) the passes whose writes have all ended and that did something."""
        for done in self.reconciler.finished():
            if done.states or done.responses or done.probes or done.failed:
                log.info("pass: %s", done.line())
                if self.on_pass is not None:
                    self.on_pass(done)

    def _may_act(self, now: float) -> bool:
        """Whether this instance acts now: it holds the lease, and has read back what vCenter remembers."""
        lease = self.lease
        if lease is not None and lease.lost:
            holder = lease.holder.line() if lease.holder is not None else "another instance"
            raise VsgtError(f"{holder} took the lease {lease.name} over: this instance stopped acting and exits "
                            "(started again, it stands by)")
        holding = lease is None or lease.active
        if holding and not self._started and now >= self._retry_at:
            self._start_acting(now)
        acting = holding and self._started
        if acting != self.acting:
            self.acting = acting
            if lease is not None:
                log.info("%s", "active: publishing and remediating" if acting else lease.describe())
        return acting

    def _start_acting(self, now: float) -> None:
        """Before the first action: the request ids answered before (vCenter's events: never acted on again),
        the moves and the migrations still running (remediation's start)."""
        from vsguesttruth.vcenter import events

        try:
            self.reconciler.remember_answered(events.answered_requests(self.conn))
            if self.remediation is not None:
                self.remediation.start()
        except VsgtError as err:
            log.warning("cannot read back what vCenter remembers (trying again in 5 s): %s", err)
            self._retry_at = now + 5.0
            return
        self._started = True
        if self.stepper is not None:
            self.stepper.start()

    def run(self) -> None:
        config, informer = self.config, self.informer
        inv: Inventory | None = None
        next_full = 0.0
        next_attribute = 0.0
        log.info("serving %s: scope %s", self.conn.url, self.reconciler.scope.describe())
        try:
            while not self.stopped:
                now = time.monotonic()
                acting = self._may_act(now)
                if acting and config.scope.attribute is not None and now >= next_attribute:
                    _read_attribute(self.conn, self.reconciler, config)
                    next_attribute = now + config.scope.attribute_refresh
                wake = self.reconciler.next_wake() if acting else None
                timeout = self.max_wait if inv is not None else None
                if acting and self.remediation is not None and self.remediation.next_wake() is not None:
                    # remediation is busy (a request, a hysteresis, moves): its answers to guests come from its
                    # own thread; look for them every second, as for the moves' answers before
                    timeout = None if timeout is None else min(timeout, REMEDIATION_LOOK)
                polls = self.delivery.next_wake() if self.delivery is not None and acting else None
                for t in (wake, next_full if inv is not None and acting else None,
                          next_attribute if config.scope.attribute is not None and acting else None,
                          self._next_tags if self.tags is not None and acting else None, polls):
                    if t is not None and timeout is not None:
                        timeout = min(timeout, max(0.0, t - now))
                if not acting and timeout is not None:
                    timeout = min(timeout, 1.0)  # passive: the watch for the pages, and a look at the lease
                new = informer.next(None if timeout is None else math.ceil(timeout * 10) / 10)
                if self.stopped:
                    break
                if new is not None:
                    inv = new
                if inv is None or not acting:
                    continue
                now = time.monotonic()
                rescoped = False
                if self.tags is not None and now >= self._next_tags:  # after the wait: a SIGHUP during it counts
                    rescoped = self._read_tags()
                    self._next_tags = now + config.scope.tag_refresh
                full = now >= next_full
                polled = self.delivery is not None and polls is not None and now >= polls and self.delivery.poll()
                if new is None and not full and not rescoped and not polled and not self.reconciler.due(now):
                    continue
                if full:
                    next_full = now + config.publish.full_interval
                self._in_pass = True
                try:
                    planned = self.delivery.prepare(inv) if self.delivery is not None else inv
                    result = self.reconciler.reconcile(planned, as_of=now - self.reconciler.settle, sweep=full)
                    self._remediate(inv)
                    if new is not None and new.delta is not None:  # (a first read or a resync takes seconds)
                        self._slow(result, now)
                except VsgtError:
                    raise
                except Exception:  # noqa: BLE001 - a bug in one pass: log it, keep serving
                    log.exception("publish pass failed")
                    informer.wait_version(informer.version, 1.0)  # a second's pause, cut short by stop()
                    continue
                finally:
                    self._in_pass = False
                self.passes += 1
                self._report()
        except VsgtError as err:
            self.error = str(err)
            raise
        finally:
            if self.stepper is not None:
                self.stepper.stop()
            informer.close()
            self.reconciler.close()  # writes still waiting for a slot are dropped: the next start writes them
            self.publisher.close(cancel=True)
            self.reconciler.collect()  # what the last passes wrote, said
            self._report()
            for part in (self.delivery, self.tags):
                if part is not None:
                    part.close()
