"""Running the reconciler against vCenter: ``vsguesttruth serve`` (:class:`Service`, on the live informer)
and ``vsguesttruth publish --once`` (:func:`publish_once`, on one snapshot).

The vCenter edge (``vsguesttruth.vcenter``: the informer, the publisher, the custom attribute of the
scope) is imported where a service is made, never when this package is: the reconciler itself runs on
plain data.
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

from .ports import Remediation, RemediationHook
from .reconciler import Reconciler
from .result import PassResult
from .stepper import RemediationStepper

log = logging.getLogger(__name__)

#: seconds between the loop's looks for remediation's answers while remediation is busy
REMEDIATION_LOOK = 1.0


def default_level(config: Config) -> ServiceLevel:
    """The admin's ``[service_level]``: what applies to guests that set none."""
    try:
        return ServiceLevel.from_dict(config.service_level)
    except (PolicyError, TypeError) as err:
        raise ConfigError(f"config file {config.path}: [service_level]: {err}") from None


def publish_once(conn: Any, config: Config, *, level: ServiceLevel | None = None, dry_run: bool = False,
                 remediation: RemediationHook | None = None, publisher: Any = None) -> PassResult:
    """One pass on a fresh snapshot (``vsguesttruth publish --once``); re-reads and finishes after re-probes.
    The request ids answered before (vCenter's events) are read first: never acted on again."""
    from vsguesttruth.vcenter import Publisher, events, snapshot

    own = publisher is None
    pub = publisher or Publisher(conn, concurrency=config.publish.concurrency, attempts=config.publish.attempts,
                                 task_timeout=config.publish.task_timeout, dry_run=dry_run)
    try:
        rec = Reconciler(config, pub, level=level or default_level(config), remediation=remediation,
                         answers=events.AnswerRecord(conn), record_all=True, dry_run=dry_run)
        rec.remember_answered(events.answered_requests(conn))
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
        self.informer = Informer(conn, max_wait=max_wait)
        self.publisher = Publisher(conn, concurrency=config.publish.concurrency, attempts=config.publish.attempts,
                                   task_timeout=config.publish.task_timeout, gate=gate)
        self.reconciler = Reconciler(config, self.publisher, level=level or default_level(config),
                                     remediation=remediation.request if remediation is not None else None,
                                     answers=events.AnswerRecord(conn, gate), pipeline=True)
        self.stepper = RemediationStepper(remediation, lambda: self.acting) if remediation is not None else None
        self.level = self.reconciler.level
        self.passes = 0
        self.error = ""
        self._in_pass = False
        #: True while this instance acts (holds the lease, and has read back vCenter's record)
        self.acting = False
        self._started = False
        self._retry_at = 0.0

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
                for t in (wake, next_full if inv is not None and acting else None,
                          next_attribute if config.scope.attribute is not None and acting else None):
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
                full = now >= next_full
                if new is None and not full and not self.reconciler.due(now):
                    continue
                if full:
                    next_full = now + config.publish.full_interval
                self._in_pass = True
                try:
                    self.reconciler.reconcile(inv, as_of=now - self.reconciler.settle, full=full)
                    self._remediate(inv)
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
