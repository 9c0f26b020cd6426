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

log = logging.getLogger(__name__)


def default_level(config: Config) -> ServiceLevel:
    """The admin's ``[service_level]``: what applies to guests that set none."""
    try:
        return ServiceLevel.from_dict(config.service_level)
    except (PolicyError, TypeError) as err:
        raise ConfigError(f"config file {config.path}: [service_level]: {err}") from None


def publish_once(conn: Any, config: Config, *, level: ServiceLevel | None = None, dry_run: bool = False,
                 remediation: RemediationHook | None = None, publisher: Any = None) -> PassResult:
    """One pass on a fresh snapshot (``vsguesttruth publish --once``); re-reads and finishes after re-probes."""
    from vsguesttruth.vcenter import Publisher, snapshot

    own = publisher is None
    pub = publisher or Publisher(conn, concurrency=config.publish.concurrency, attempts=config.publish.attempts,
                                 task_timeout=config.publish.task_timeout, dry_run=dry_run)
    try:
        rec = Reconciler(config, pub, level=level or default_level(config), remediation=remediation,
                         record_all=True, dry_run=dry_run)
        _read_attribute(conn, rec, config)
        taken = time.monotonic()
        inv = snapshot(conn)
        rec.incidents = incident_controller(conn, config)  # the ids `serve` would give: dated by the same events
        rec.incidents.observe(inv)
        result = rec.reconcile(inv, as_of=taken, full=True)
        if result.probes and not dry_run:
            taken = time.monotonic()
            result = result.merge(rec.reconcile(snapshot(conn), as_of=taken, full=True))
        return result
    finally:
        if own:
            pub.close()


def incident_controller(conn: Any, config: Config, record: bool = False) -> Any:
    """The incident controller of a vCenter: new failures dated by the hosts' storage events; with ``record``,
    the incidents that last ``[remediation] stable_seconds`` posted as vCenter events when they open and resolve."""
    from datetime import timedelta

    from vsguesttruth.incidents import EVENT_TYPES, IncidentController
    from vsguesttruth.vcenter import incident_events
    from vsguesttruth.vcenter.storage_events import StorageEventReader

    reader = StorageEventReader(conn, EVENT_TYPES, timedelta(hours=config.incidents.event_lookback_hours))
    return IncidentController(read_events=reader, keep=config.incidents.keep_resolved,
                              record=(lambda message: incident_events.post(conn, message)) if record else None,
                              record_after=config.remediation.stable_seconds)


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
    ``remediation`` (``vsguesttruth.remediation.RemediationLoop``) gets the guests' migrate requests, a step
    after every pass and again at its ``next_wake()`` (a verdict waiting out its hysteresis).
    ``on_pass(result)`` is called after every pass that did something (wrote, answered, re-probed, failed).
    """

    def __init__(self, conn: Any, config: Config, *, level: ServiceLevel | None = None,
                 remediation: Remediation | None = None, on_pass: Callable[[PassResult], None] | None = None,
                 max_wait: float = 30.0) -> None:
        from vsguesttruth.vcenter import Informer, Publisher

        self.conn = conn
        self.config = config
        self.on_pass = on_pass
        self.remediation = remediation
        self.max_wait = max_wait
        self.informer = Informer(conn, max_wait=max_wait)
        self.publisher = Publisher(conn, concurrency=config.publish.concurrency, attempts=config.publish.attempts,
                                   task_timeout=config.publish.task_timeout)
        self.reconciler = Reconciler(config, self.publisher, level=level or default_level(config),
                                     remediation=remediation.request if remediation is not None else None)
        self.level = self.reconciler.level
        #: the incidents' lifecycle, stepped with every inventory the watch brings, before the pass reads it;
        #: recorded in vCenter's events when remediation runs (it posts events: advise, auto)
        self.incidents = incident_controller(conn, config, record=remediation is not None)
        self.reconciler.incidents = self.incidents
        self.informer.listen(self.incidents.listen)
        self.passes = 0
        self.error = ""
        #: True while a pass (truth, writes, remediation step) runs: "settled" is not busy and no new inventory
        self.busy = False

    def stop(self) -> None:
        """Stop the loop (from a signal handler or another thread): the wait in progress is cancelled."""
        self.informer.stop()

    @property
    def stopped(self) -> bool:
        return self.informer.stopped

    def _remediate(self, inv: Inventory) -> None:
        if self.remediation is None:
            return
        rec = self.reconciler
        try:
            self.remediation.step(inv, rec.truths, rec.levels(), rec.level)
        except VsgtError as err:
            log.warning("remediation pass: %s", err)
        except Exception:  # noqa: BLE001 - a bug in remediation must not stop publishing
            log.exception("remediation pass failed")

    def run(self) -> None:
        config, informer = self.config, self.informer
        inv: Inventory | None = None
        next_full = 0.0
        next_attribute = 0.0
        log.info("serving %s: scope %s", self.conn.url, self.reconciler.scope.describe())
        try:
            while not self.stopped:
                now = time.monotonic()
                if config.scope.attribute is not None and now >= next_attribute:
                    _read_attribute(self.conn, self.reconciler, config)
                    next_attribute = now + config.scope.attribute_refresh
                wake = self.reconciler.next_wake()
                timeout = self.max_wait if inv is not None else None
                remedy = self.remediation.next_wake() if self.remediation is not None else None
                for t in (wake, remedy, next_full if inv is not None else None,
                          next_attribute if config.scope.attribute is not None else None):
                    if t is not None and timeout is not None:
                        timeout = min(timeout, max(0.0, t - now))
                new = informer.next(None if timeout is None else math.ceil(timeout * 10) / 10)
                if self.stopped:
                    break
                if new is not None:
                    inv = new
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
                    informer.wait_version(informer.version, 1.0)  # a second's pause, cut short by stop()
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
            informer.close()
            self.publisher.close()
