"""Remediation mode ``proactive-ha``: each host's storage health posted to vSphere's Proactive HA.

A level-triggered controller beside the guard rails: every pass judges every host in scope
(:func:`vsguesttruth.truth.hosthealth.host_health`), lets a new status hold ``stable_seconds`` (the same
hysteresis as moves), and posts to vCenter only what differs from what vCenter holds. On start it reads
what vCenter holds (``QueryHealthUpdates``), so a restart, or the other instance taking over, posts only
what changed meanwhile. A cluster with DRS and Proactive HA on (``vsguesttruth ha enable``) then
quarantines the red or yellow host, or puts it in maintenance mode, and DRS moves its VMs.

Per host and info id the update is the host's current status: the status found under its info id, and
green under every info id that said otherwise before. Gray (a disconnected host) is not posted (vCenter
refuses it): the last status stands. Runs only in the active instance (the lease gates every write).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Callable, Iterable, Mapping

from vsguesttruth.errors import VsgtError
from vsguesttruth.model import Inventory
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext
from vsguesttruth.truth.hosthealth import CONNECTIVITY_LOST, Health, HostHealth, Hysteresis, host_health

log = logging.getLogger(__name__)


class ProactiveHa:
    """The health provider's controller. ``provider`` is a ``vcenter.health.HealthProvider`` (or a fake with
    ``ensure``, ``sync_monitored``, ``current``, ``post``); ``clusters``: the scope's clusters (empty: all)."""

    def __init__(self, provider: Any, stable_seconds: float, *, clusters: Iterable[str] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self.clusters = frozenset(clusters)
        self.clock = clock
        self.hysteresis = Hysteresis(stable_seconds)
        #: what vCenter holds: host moref -> {info id: status}
        self.held: dict[str, dict[str, str]] = {}
        #: the latest stable health of every host in scope, for the plugin and `ha status`
        self.reported: dict[str, HostHealth] = {}
        #: seconds from a status becoming stable to its post returning (the last 100)
        self.latencies: deque[float] = deque(maxlen=100)
        self.started = False
        self._last: tuple[Inventory, dict[str, HostHealth]] | None = None  # the last inventory judged, and its health
        self._loaded: str | None = None  # the provider id ``held`` was read for

    def start(self) -> None:
        """Register (or find) the provider, read what vCenter holds, and say where nothing acts on it."""
        self._load()
        for name in self.provider.unused_by(self.clusters):
            log.warning("cluster %s: Proactive HA is off or does not list vsguesttruth: the health of its hosts is "
                        "posted, but vSphere does not act on it and vsguesttruth leaves host problems to it "
                        "(`vsguesttruth ha enable --cluster %s`)", name, name)
        self.started = True

    def _load(self) -> None:
        self._loaded = self.provider.ensure()
        self.held = {}
        for (host, info), (status, _) in self.provider.current().items():
            self.held.setdefault(host, {})[info] = status

    def next_wake(self) -> float | None:
        return self.hysteresis.next_wake

    def step(self, inv: Inventory, ctx: TruthContext | None = None, level: ServiceLevel | None = None) -> list[Any]:
        """One pass: judge, wait out the hysteresis, keep the monitored hosts in step, post the changes."""
        if not self.started:
            self.start()
        current = self._judge(inv, ctx, level)
        now = self.clock()
        stable = self.hysteresis.update(now, current)
        self.reported = stable
        self.provider.sync_monitored(set(current))
        if self.provider.id != self._loaded:  # registered again (vCenter restarted): it holds nothing of ours
            self._load()
        updates = self._changes(stable)
        if not updates:
            return []
        try:
            self.provider.post(updates)
        except VsgtError as err:
            from vsguesttruth.vcenter.health import ProviderGone

            if not isinstance(err, ProviderGone):
                raise
            log.warning("%s: registering again and posting every host's health", err)
            self.provider.sync_monitored(set(current))
            self._load()
            updates = self._changes(stable)
            self.provider.post(updates)
        done = self.clock()
        for u in updates:
            self.held.setdefault(u.host, {})[u.info_id] = u.status
        self._log(updates, stable, done)
        return updates

    def _judge(self, inv: Inventory, ctx: TruthContext | None, level: ServiceLevel | None) -> dict[str, HostHealth]:
        if self._last is not None and self._last[0] is inv:  # the same inventory object (an id() can be reused)
            return self._last[1]
        found = host_health(ctx or TruthContext(inv), inv, level)
        if self.clusters:
            found = {m: h for m, h in found.items() if h.cluster in self.clusters}
        self._last = (inv, found)
        return found

    def _changes(self, stable: Mapping[str, HostHealth]) -> list[Any]:
        """The updates that make vCenter hold ``stable``."""
        from vsguesttruth.vcenter.health import Update

        out = []
        for moref, health in sorted(stable.items()):
            if health.status is Health.GRAY:
                continue
            held = self.held.get(moref, {})
            want = {info: "green" for info, status in held.items() if status != "green"}
            if health.info is not None:
                want[health.info.id] = health.status.value
            elif not held:
                want[CONNECTIVITY_LOST.id] = "green"  # first word on a host: it is fine
            out += [Update(moref, info, status, health.remediation if health.info and info == health.info.id else "")
                    for info, status in sorted(want.items()) if held.get(info) != status]
        return out

    def _log(self, updates: list[Any], stable: Mapping[str, HostHealth], done: float) -> None:
        for moref in sorted({u.host for u in updates}):
            health = stable[moref]
            since = self.hysteresis.since.get(moref)
            latency = max(0.0, done - since) if since is not None else 0.0
            self.latencies.append(latency)
            level = logging.INFO if health.status is Health.GREEN else logging.WARNING
            log.log(level, "Proactive HA: posted %s for %s (%s), %.3f s after the verdict held: %s",
                    health.status.value, health.name, health.info.id if health.info else "every info id green", latency,
                    health.remediation or health.why)

    def as_dict(self) -> dict[str, Any]:
        """Each host's reported health by host name, for the plugin's pages: what vsguesttruth judges
        (after the hysteresis), what vCenter holds per info id (``held``) and its worst (``posted``)."""
        rank = {"green": 0, "yellow": 1, "red": 2}
        out = {}
        for moref, health in sorted(self.reported.items()):
            held = dict(self.held.get(moref, {}))
            posted = max(held.values(), key=lambda s: rank.get(s, 0), default="")
            out[health.name] = {**health.as_dict(), "held": held, "posted": posted}
        return out
