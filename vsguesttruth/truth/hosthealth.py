"""A host's storage health as Proactive HA wants it: one status per ESXi host, from the truth.

vSphere's Proactive HA takes a health provider's updates per host (green / yellow / red, per
HealthUpdateInfo id, with a remediation text) and quarantines the host or puts it in maintenance mode, so
that DRS moves its VMs. :func:`host_health` is the rule that turns the truth into those updates:

- **red** (``connectivity_lost``): the host lost every path to a LUN (or its mount of a datastore) that
  other connected hosts still reach: the host is the fault, and its VMs must leave it;
- **yellow** (``paths_degraded`` / ``redundancy_below_level``): I/O still flows, but some paths to a LUN are
  dead, or fewer work than the admin's service level asks (``[service_level] min_working_paths``);
- **green**: every shared LUN and datastore of the host is fine;
- **gray**: the host is disconnected or not responding; its data is stale and nothing can be judged
  (vCenter refuses gray in ``PostHealthUpdates``: the provider posts nothing for it).

APD on every host and PDL are the storage's fault, not the host's: moving VMs to another host helps
nothing, so they never make a host red (nor yellow). Local LUNs (one path by nature) are not counted.

:class:`Hysteresis` is remediation's ``stable_seconds`` for health: a new status must hold that long before
it is posted, so a flapping path never evacuates a host. Pure: plain data in, plain data out, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Mapping

from vsguesttruth.model import Datastore, Host, Inventory
from vsguesttruth.policy import ServiceLevel

from .context import TruthContext
from .verdict import Verdict


class Health(str, Enum):
    """``ManagedEntityStatus`` as Proactive HA reads it."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    GRAY = "gray"


@dataclass(frozen=True, slots=True)
class HealthInfo:
    """One ``HealthUpdateInfo`` the provider registers (componentType ``Storage``)."""

    id: str
    description: str


CONNECTIVITY_LOST = HealthInfo("vsguesttruth.storage.connectivity-lost",
                               "The host lost every path to a LUN (or datastore) that other hosts reach")
PATHS_DEGRADED = HealthInfo("vsguesttruth.storage.paths-degraded",
                            "Some paths from the host to a LUN are dead or disabled; I/O continues on the others")
BELOW_LEVEL = HealthInfo("vsguesttruth.storage.redundancy-below-level",
                         "Fewer working paths from the host to a LUN than the administrator's service level")
#: every info id, in severity order; the provider registers them all
INFOS: tuple[HealthInfo, ...] = (CONNECTIVITY_LOST, PATHS_DEGRADED, BELOW_LEVEL)

_BY_VERDICT = {
    Verdict.CONNECTIVITY_LOST: (Health.RED, CONNECTIVITY_LOST),
    Verdict.DEGRADED: (Health.YELLOW, PATHS_DEGRADED),
    Verdict.BELOW_SLA: (Health.YELLOW, BELOW_LEVEL),
}
_RANK = {Health.GREEN: 0, Health.GRAY: 1, Health.YELLOW: 2, Health.RED: 3}
_REMEDIATION_LIMIT = 400  # characters: a line for the vSphere Client, not an essay


@dataclass(frozen=True, slots=True)
class HostHealth:
    """What the provider reports for one host: ``status`` under ``info`` (None when green or gray),
    ``remediation`` the admin's next step, ``why`` the evidence in one line."""

    host: str  # moref
    name: str
    cluster: str
    status: Health
    info: HealthInfo | None = None
    remediation: str = ""
    why: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """What counts as a change (a new explanation of the same status is not news)."""
        return (self.status.value, self.info.id if self.info else "")

    def as_dict(self) -> dict[str, str]:
        return {"host": self.host, "name": self.name, "cluster": self.cluster, "status": self.status.value,
                "info_id": self.info.id if self.info else "", "remediation": self.remediation, "why": self.why}


def host_health(ctx: TruthContext, inv: Inventory | None = None,
                level: ServiceLevel | None = None) -> dict[str, HostHealth]:
    """Every host's health (host moref -> :class:`HostHealth`), judged with the admin's ``level``."""
    inv = inv if inv is not None else ctx.inv
    by_mount = _mounted(ctx)
    return {moref: judge_host(ctx, host, level, by_mount) for moref, host in inv.hosts.items()}


def unhealthy_hosts(ctx: TruthContext, inv: Inventory | None = None,
                    level: ServiceLevel | None = None) -> dict[str, HostHealth]:
    """The hosts Proactive HA would act on (yellow or red)."""
    return {m: h for m, h in host_health(ctx, inv, level).items() if h.status in (Health.YELLOW, Health.RED)}


def _mounted(ctx: TruthContext) -> dict[str, list[Datastore]]:
    """Host moref -> the datastores without extents (NFS, vSAN, ...) it mounts: judged by their mounts."""
    out: dict[str, list[Datastore]] = {}
    for ds in ctx.inv.datastores.values():
        if not ds.extents:
            for mount in ds.mounts:
                out.setdefault(mount.host, []).append(ds)
    return out


def judge_host(ctx: TruthContext, host: Host, level: ServiceLevel | None = None,
               by_mount: Mapping[str, list[Datastore]] | None = None) -> HostHealth:
    """One host: the worst of its shared LUNs and mounted datastores, as a health status."""
    base = dict(host=host.moref, name=host.name, cluster=host.cluster)
    if not host.connected:
        return HostHealth(status=Health.GRAY, why=f"{host.name} is {host.connection_state}: no current storage data",
                          **base)
    found: list[tuple[Health, HealthInfo, str, str]] = []  # status, info, subject, explanation
    names = {lun.canonical_name for lun in host.luns} | {path.lun for path in host.paths}
    for name in sorted(names):
        lun = ctx.lun_truth(host.moref, name, level)
        if lun.local or lun.verdict not in _BY_VERDICT:
            continue
        status, info = _BY_VERDICT[lun.verdict]
        subject = f"{name} ({lun.datastore})" if lun.datastore else name
        found.append((status, info, subject, lun.explanation))
    for ds in (by_mount if by_mount is not None else _mounted(ctx)).get(host.moref, ()):  # VMFS: by extents
        judged = ctx.datastore_truth(host.moref, ds, level)
        if judged.verdict in _BY_VERDICT:
            status, info = _BY_VERDICT[judged.verdict]
            found.append((status, info, ds.name, judged.explanation))
    if not found:
        return HostHealth(status=Health.GREEN, why=f"{host.name}: every shared LUN and datastore reachable "
                                                   "with its redundancy", **base)
    worst = max(_RANK[f[0]] for f in found)
    top = [f for f in found if _RANK[f[0]] == worst]
    status, info = top[0][0], top[0][1]
    subjects = [f[2] for f in top]
    more = f" and {len(subjects) - 2} more" if len(subjects) > 2 else ""
    listed = ", ".join(subjects[:2]) + more
    if status is Health.RED:
        remediation = (f"Restore {host.name}'s storage paths to {listed}: other hosts reach it; check the host's "
                       "HBAs, cables and fabric zoning. Its VMs should run elsewhere until then.")
    else:
        remediation = (f"Restore the dead paths from {host.name} to {listed}: redundancy is lost; check the "
                       "host's HBAs, cables and fabric zoning.")
    return HostHealth(status=status, info=info, remediation=remediation[:_REMEDIATION_LIMIT],
                      why=top[0][3] + (f" (and {len(top) - 1} more)" if len(top) > 1 else ""), **base)


class Hysteresis:
    """A host's status is acted on once it has held ``stable_seconds`` (remediation's hysteresis).

    ``update(now, current)`` returns the stable health of every host: the current one when it has held
    long enough, else the one before (a host seen for the first time has none until then). ``next_wake``
    is when a waiting status becomes stable. Times are the caller's monotonic clock.
    """

    def __init__(self, stable_seconds: float) -> None:
        self.stable_seconds = stable_seconds
        self._seen: dict[str, tuple[tuple[str, str], float]] = {}  # host -> (key, since)
        self._stable: dict[str, HostHealth] = {}
        #: host -> when its current stable status became stable (the "verdict" a post follows)
        self.since: dict[str, float] = {}
        self.next_wake: float | None = None

    def update(self, now: float, current: Mapping[str, HostHealth]) -> dict[str, HostHealth]:
        wake: float | None = None
        for moref in list(self._seen):
            if moref not in current:
                del self._seen[moref]
                self._stable.pop(moref, None)
                self.since.pop(moref, None)
        for moref, health in current.items():
            seen = self._seen.get(moref)
            if seen is None or seen[0] != health.key:
                seen = self._seen[moref] = (health.key, now)
            stable = self._stable.get(moref)
            if stable is not None and stable.key == health.key:
                self._stable[moref] = health  # the same status, the latest words
                continue
            ready = seen[1] + self.stable_seconds
            if now >= ready:
                self._stable[moref] = health
                self.since[moref] = ready
            else:
                wake = ready if wake is None else min(wake, ready)
        self.next_wake = wake
        return dict(self._stable)


__all__ = ["BELOW_LEVEL", "CONNECTIVITY_LOST", "INFOS", "PATHS_DEGRADED", "Health", "HealthInfo", "HostHealth",
           "Hysteresis", "host_health", "judge_host", "unhealthy_hosts"]
