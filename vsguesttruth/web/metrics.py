"""Prometheus metrics: what the service counts, and what the truth looks like right now.

Two kinds:

- **Counters and gauges others update**, through this small API (module level, one process-wide registry,
  safe from any thread)::

      from vsguesttruth.web import metrics
      metrics.publish_done("ok")            # a guestinfo write (the reconcile loop): ok / skipped / failed
      metrics.migration_done("done")        # a vMotion / Storage vMotion asked for (remediation, the plugin):
                                            # done, failed (tried, vCenter failed), refused (the planner said no)
      metrics.vcenter_error("session_lost") # any vCenter fault worth counting, by a short kind
      metrics.watch_heard()                 # the watch heard from vCenter (an update or an empty wait)
      metrics.inventory_updated()           # a new Inventory was built

- **The truth, computed at scrape time** from the app's inventory source (:class:`TruthCollector`): the
  verdict of every disk as a labelled gauge, disk counts per verdict, path counts per host and per
  (host, LUN) and state. Nothing is stored between scrapes, so a disk that disappears disappears here too.

``render(source)`` gives the text exposition format (``/metrics``).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vsguesttruth.model import PathState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry(auto_describe=True)

PUBLISHES = Counter("vsguesttruth_publishes", "Guestinfo writes, by outcome (ok, skipped, failed).",
                    ["outcome"], registry=REGISTRY)
MIGRATIONS = Counter("vsguesttruth_migrations", "Migrations (vMotion / Storage vMotion) asked for, by outcome: done, "
                     "failed (tried; vCenter's task failed), refused (the planner would not move the VM).",
                     ["outcome"], registry=REGISTRY)
VCENTER_ERRORS = Counter("vsguesttruth_vcenter_errors", "vCenter faults and connection problems, by kind.",
                         ["kind"], registry=REGISTRY)
MIGRATIONS_IN_FLIGHT = Gauge("vsguesttruth_migrations_in_flight",
                             "Migrations started and not finished (the guard rail max_concurrent bounds it).",
                             registry=REGISTRY)
PASS_SECONDS = Histogram("vsguesttruth_pass_seconds",
                         "Duration of the reconcile passes that wrote or answered something (truth and writes).",
                         buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=REGISTRY)
WRITE_SECONDS = Histogram("vsguesttruth_write_seconds",
                          "Guestinfo writes that succeeded, by phase: waiting (for one of the [publish] concurrency "
                          "slots) and writing (the ReconfigVM_Task until vCenter had it done).", ["phase"],
                          buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.25, 1.5, 2, 3, 5, 10, 30, 120), registry=REGISTRY)
PASS_RUNNING = Gauge("vsguesttruth_pass_running", "1 while a reconcile pass is running.", registry=REGISTRY)
INVENTORY_UPDATES = Counter("vsguesttruth_inventory_updates", "Inventories built from vCenter changes.",
                            registry=REGISTRY)
ACTIVE = Gauge("vsguesttruth_active",
               "1 while this instance holds the single-instance lease and acts; 0 while it stands by (passive).",
               registry=REGISTRY)
WATCH_LAG = Gauge("vsguesttruth_watch_lag_seconds",
                  "Seconds since the watch last heard from vCenter (an update or an empty wait); grows when "
                  "the watch is stuck or vCenter is unreachable.", registry=REGISTRY)

_lock = threading.Lock()
_last_heard: float | None = None


def _lag() -> float:
    with _lock:
        return 0.0 if _last_heard is None else max(time.monotonic() - _last_heard, 0.0)


WATCH_LAG.set_function(_lag)


def publish_done(outcome: str = "ok", count: int = 1) -> None:
    PUBLISHES.labels(outcome=outcome).inc(count)


MIGRATION_OUTCOMES = ("done", "failed", "refused")


def migration_done(outcome: str = "done") -> None:
    if outcome not in MIGRATION_OUTCOMES:
        raise ValueError(f"migration outcome must be one of {', '.join(MIGRATION_OUTCOMES)}, not {outcome!r}")
    MIGRATIONS.labels(outcome=outcome).inc()


def pass_done(seconds: float) -> None:
    PASS_SECONDS.observe(seconds)


def track_pass_running(running: Callable[[], bool]) -> None:
    PASS_RUNNING.set_function(lambda: 1.0 if running() else 0.0)


def track_active(active: Callable[[], bool]) -> None:
    """Report ``active()`` (this instance acts) as vsguesttruth_active."""
    ACTIVE.set_function(lambda: 1.0 if active() else 0.0)


def track_in_flight(count: Callable[[], float]) -> None:
    """Report ``count()`` (the remediation's moves in flight) as vsguesttruth_migrations_in_flight."""
    MIGRATIONS_IN_FLIGHT.set_function(count)


class _PublisherCollector(Collector):
    """The publisher's ReconfigVM tasks (retries included) and its writes in flight, read when scraped."""

    def __init__(self, publisher: Any) -> None:
        self.publisher = publisher

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        yield CounterMetricFamily("vsguesttruth_reconfigure_tasks", "ReconfigVM_Task calls made to write guestinfo "
                                  "(retries included).", value=self.publisher.tasks)
        yield GaugeMetricFamily("vsguesttruth_publish_in_flight", "Guestinfo writes handed to the publisher and not "
                                "finished ([publish] concurrency of them run in vCenter at once).",
                                value=self.publisher.in_flight)


_publisher: _PublisherCollector | None = None


def write_timed(waited: float, took: float) -> None:
    """One guestinfo write done: ``waited`` seconds for a slot, then ``took`` seconds for vCenter's task."""
    WRITE_SECONDS.labels(phase="waiting").observe(waited)
    WRITE_SECONDS.labels(phase="writing").observe(took)


def track_publisher(publisher: Any) -> None:
    """Report ``publisher``'s tasks and writes in flight and time its writes (the one of ``serve``; a later call
    replaces it)."""
    global _publisher
    publisher.on_timed = write_timed
    with _lock:
        if _publisher is not None:
            REGISTRY.unregister(_publisher)
        _publisher = _PublisherCollector(publisher)
        REGISTRY.register(_publisher)


def vcenter_error(kind: str = "error") -> None:
    VCENTER_ERRORS.labels(kind=kind).inc()


def watch_heard(at: float | None = None) -> None:
    global _last_heard
    with _lock:
        _last_heard = time.monotonic() if at is None else at


def inventory_updated() -> None:
    INVENTORY_UPDATES.inc()
    watch_heard()


TRUTH_FAMILIES = frozenset(("vsguesttruth_inventory_ready", "vsguesttruth_disk_verdict", "vsguesttruth_disks",
                            "vsguesttruth_host_paths", "vsguesttruth_lun_paths", "vsguesttruth_vm_service_level"))


class TruthCollector(Collector):
    """Verdicts and path counts of the source's latest inventory, computed when scraped."""

    def __init__(self, snapshot: Callable[[], Any], only: frozenset[str] = frozenset()) -> None:
        #: returns ``(inventory, truth_context, views)`` or ``None`` before the first inventory; the views judge
        #: each VM by its own service level (its guest's policy, else the service's), as its guest is told
        self._snapshot = snapshot
        self._only = only  # family names to yield; empty: all

    def collect(self) -> Iterator[GaugeMetricFamily]:
        verdict = GaugeMetricFamily(
            "vsguesttruth_disk_verdict",
            "1 for the current verdict of each virtual disk (one series per disk).",
            labels=["vm", "vm_name", "disk", "host", "verdict"],
        )
        disks = GaugeMetricFamily("vsguesttruth_disks", "Virtual disks by verdict.", labels=["verdict"])
        host_paths = GaugeMetricFamily("vsguesttruth_host_paths", "Multipath paths per host, by state.",
                                       labels=["host", "state"])
        lun_paths = GaugeMetricFamily("vsguesttruth_lun_paths", "Multipath paths per host and LUN, by state.",
                                      labels=["host", "lun", "state"])
        ready = GaugeMetricFamily("vsguesttruth_inventory_ready", "1 once a first inventory was collected.")
        level = GaugeMetricFamily(
            "vsguesttruth_vm_service_level",
            "1 when the VM's storage meets the service level it is judged by (its guest's or the service's), "
            "else 0; min_working_paths says which level, fewest_paths how many available paths it has.",
            labels=["vm", "vm_name", "min_working_paths", "fewest_paths"])
        found = self._snapshot()
        ready.add_metric([], 0 if found is None else 1)
        families = [f for f in (ready, verdict, disks, host_paths, lun_paths, level)
                    if not self._only or f.name in self._only]
        if found is not None and any(f is not ready for f in families):
            from vsguesttruth.truth import Verdict

            inv, ctx, views = found
            counts = dict.fromkeys((v.value for v in Verdict), 0)
            for vm in views.vm_truths.values():
                check = vm.level
                level.add_metric([vm.vm, vm.name, str(check.min_working_paths),
                                  "" if check.fewest_paths is None else str(check.fewest_paths)], 1 if check.met else 0)
                for d in vm.disks:
                    counts[d.verdict.value] += 1
                    verdict.add_metric([d.vm, d.vm_name, d.label, d.host, d.verdict.value], 1)
            for name, n in counts.items():
                disks.add_metric([name], n)
            states = [s.value for s in PathState]
            for host in sorted(inv.hosts.values(), key=lambda h: h.name):
                per_host = dict.fromkeys(states, 0)
                per_lun: dict[str, dict[str, int]] = {}
                for p in host.paths:
                    per_host[p.state.value] += 1
                    per_lun.setdefault(p.lun, dict.fromkeys(states, 0))[p.state.value] += 1
                for state, n in per_host.items():
                    host_paths.add_metric([host.name, state], n)
                for lun, by_state in sorted(per_lun.items()):
                    for state, n in by_state.items():
                        lun_paths.add_metric([host.name, lun, state], n)
        yield from families


class IncidentCollector(Collector):
    """The incident and single-point-of-failure families, from samples computed once per version."""

    def __init__(self, samples: Callable[[], Any], only: frozenset[str] = frozenset()) -> None:
        self._samples = samples  # name -> [(labels, value)], or None before the first inventory
        self._only = only

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from .incident_views import METRIC_FAMILIES

        found = self._samples()
        for name, text in METRIC_FAMILIES.items():
            if self._only and name not in self._only:
                continue
            rows = found.get(name, []) if found is not None else []
            labels = list(rows[0][0]) if rows else []
            family = GaugeMetricFamily(name, text, labels=labels)
            for values, value in rows:
                family.add_metric([values[k] for k in labels], value)
            yield family


def render_incidents(samples: Callable[[], Any], names: Iterable[str] = ()) -> bytes:
    """The incident and audit families (only those of ``names`` when given)."""
    from .incident_views import METRIC_FAMILIES

    wanted = frozenset(names)
    if wanted and not wanted & set(METRIC_FAMILIES):
        return b""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(IncidentCollector(samples, wanted))
    return generate_latest(registry)


def wants_truth(names: Iterable[str] = ()) -> bool:
    """Whether a scrape asking for ``names`` (none: everything) reads the truth families."""
    wanted = frozenset(names)
    return not wanted or bool(wanted & TRUTH_FAMILIES)


class _TruthText:
    """The truth families' text of the latest inventory: judged once per inventory (and level and names),
    however often Prometheus scrapes; the inventory itself is the key (a new one is a new object)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._text = b""

    def render(self, snapshot: Callable[[], Any], wanted: frozenset[str]) -> bytes:
        found = snapshot()
        key = (found[0], found[2], wanted) if found is not None else None
        with self._lock:
            if key is not None and self._key is not None and self._key[0] is key[0] and self._key[1:] == key[1:]:
                return self._text
        registry = CollectorRegistry(auto_describe=False)
        registry.register(TruthCollector(lambda: found, wanted))
        text = generate_latest(registry)
        with self._lock:
            self._key, self._text = key, text
        return text


_truth_text = _TruthText()


def render(snapshot: Callable[[], Any], names: Iterable[str] = ()) -> bytes:
    """The text exposition: the shared counters, then the truth of ``snapshot()``.

    ``names`` (Prometheus' ``name[]`` query parameter) restricts it to those samples: the truth of every disk
    costs a second at 20,000 VMs, and a scraper that wants a few counters should not pay for it. The truth's
    text is kept per inventory: scrapes between two changes of vCenter cost nothing more.
    """
    wanted = frozenset(names)
    body = generate_latest(REGISTRY.restricted_registry(wanted) if wanted else REGISTRY)
    if wants_truth(wanted):
        body += _truth_text.render(snapshot, wanted)
    return body
