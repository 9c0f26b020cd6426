"""vsguesttruth as a Proactive HA health provider (``HealthUpdateManager``, vSphere 6.5+), and the clusters'
Proactive HA settings (``ClusterInfraUpdateHaConfigInfo``).

:class:`HealthProvider` registers once, under the extension's key (``RegisterHealthUpdateProvider`` with one
``HealthUpdateInfo`` of componentType ``Storage`` per info id of :mod:`vsguesttruth.truth.hosthealth`); a
provider of that name already registered (by an earlier run, or the other instance) is adopted, not
registered twice. It keeps its monitored hosts in step (``AddMonitoredEntities`` /
``RemoveMonitoredEntities``) and posts ``PostHealthUpdates``: each update is the host's current status for
one info id. "A VirtualCenter Server restart implicitly unregisters all providers" (API reference): a post
that finds the provider gone (NotFound), or a new session, registers again, and the clusters that listed
the old provider id list the new one (the admin's choice survives the restart).

:func:`clusters` reads every cluster's DRS and Proactive HA settings; :func:`configure` changes them with
``ReconfigureComputeResource_Task`` (``modify=true``: only what the spec sets).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from pyVmomi import vim

from vsguesttruth.truth.hosthealth import INFOS

from .connect import Connection
from .errors import VsgtError
from .extension import PLUGIN_KEY
from .privileges import _read as read_objects
from .task import run, wait_for_task

log = logging.getLogger(__name__)

#: the provider's name: the extension's key, so the admin sees whose health it is
PROVIDER_NAME = PLUGIN_KEY
BEHAVIORS = {"manual": "Manual", "automated": "Automated"}
REMEDIATIONS = {"quarantine": "QuarantineMode", "maintenance": "MaintenanceMode"}


class ProviderGone(VsgtError):
    """vCenter no longer knows the provider id (it restarted): register again."""


@dataclass(frozen=True)
class Update:
    """One health update to post: ``status`` of ``host`` (moref) under ``info_id``."""

    host: str
    info_id: str
    status: str  # green / yellow / red
    remediation: str = ""


@dataclass(frozen=True)
class ClusterHa:
    """A cluster's DRS and Proactive HA settings as vCenter has them."""

    moref: str
    name: str
    hosts: tuple[str, ...]  # morefs
    drs_enabled: bool = False
    drs_behavior: str = ""
    enabled: bool = False
    behavior: str = ""  # Manual / Automated
    moderate: str = ""  # QuarantineMode / MaintenanceMode
    severe: str = ""
    providers: tuple[str, ...] = ()  # provider ids

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "drs_enabled": self.drs_enabled, "drs_behavior": self.drs_behavior,
                "proactive_ha": self.enabled, "behavior": self.behavior, "moderate": self.moderate,
                "severe": self.severe, "providers": list(self.providers)}


def _manager(conn: Connection) -> Any:
    manager = conn.content.healthUpdateManager
    if manager is None:
        raise VsgtError(f"{conn.url} has no HealthUpdateManager: Proactive HA needs vCenter 6.5 or later")
    return manager


def _hosts(conn: Connection, morefs: Iterable[str]) -> list[Any]:
    return [vim.HostSystem(m, conn.si._stub) for m in sorted(morefs)]


def find_provider(conn: Connection, name: str = PROVIDER_NAME) -> str | None:
    """The id of the provider registered under ``name``; None when there is none."""

    def call() -> str | None:
        manager = _manager(conn)
        for pid in manager.QueryProviderList() or ():
            try:
                if manager.QueryProviderName(pid) == name:
                    return str(pid)
            except vim.fault.NotFound:
                continue  # unregistered meanwhile
        return None

    return run(conn, call, "read the Proactive HA health providers")


def posted(conn: Connection, pid: str) -> dict[tuple[str, str], tuple[str, str]]:
    """What vCenter holds from provider ``pid``: (host moref, info id) -> (status, remediation)."""
    updates = run(conn, lambda: _manager(conn).QueryHealthUpdates(pid) or [], "read the posted host health")
    return {(u.entity._moId, u.healthUpdateInfoId): (str(u.status), u.remediation or "") for u in updates}


def monitored(conn: Connection, pid: str) -> set[str]:
    """The hosts provider ``pid`` monitors (morefs)."""
    return {e._moId for e in run(conn, lambda: _manager(conn).QueryMonitoredEntities(pid) or [],
                                 "read the provider's monitored hosts")}


@dataclass
class HealthProvider:
    """The provider of one vCenter. ``gate(what)`` raises unless this instance may write (the lease)."""

    conn: Connection
    name: str = PROVIDER_NAME
    gate: Callable[[str], None] | None = None
    id: str | None = None
    monitored: set[str] = field(default_factory=set)
    #: (old id, new id) after registering again, for the log and the status
    replaced: tuple[str, str] | None = None
    _generation: int = -1

    def _check(self, what: str) -> None:
        if self.gate is not None:
            self.gate(what)

    def ensure(self) -> str:
        """The provider id: found by name, or registered now; checked again after every new session
        (vCenter may have restarted and forgotten it)."""
        conn = self.conn
        if self.id is not None and conn.generation == self._generation:
            return self.id
        if self.id is not None and run(conn, lambda: bool(_manager(conn).HasProvider(self.id)), "look up the provider"):
            self._generation = conn.generation
            return self.id
        old, found = self.id, find_provider(conn, self.name)
        if found is None:
            self._check("register the Proactive HA health provider")
            infos = [vim.HealthUpdateInfo(id=i.id, componentType="Storage", description=i.description) for i in INFOS]
            found = str(run(conn, lambda: _manager(conn).RegisterHealthUpdateProvider(self.name, infos),
                            "register the Proactive HA health provider", attempts=1))
            log.info("registered the Proactive HA health provider %s (id %s)", self.name, found)
        self.id, self._generation = found, conn.generation
        self.monitored = monitored(conn, found)
        if old is not None and old != found:
            self.replaced = (old, found)
            self._relist(old, found)
        return found

    def _relist(self, old: str, new: str) -> None:
        """Clusters that listed the provider before vCenter forgot it list it again under its new id."""
        for cluster in clusters(self.conn):
            if old in cluster.providers:
                self._check(f"list the provider in {cluster.name}'s Proactive HA again")
                providers = [new if p == old else p for p in cluster.providers]
                configure(self.conn, cluster.moref, cluster.name, providers=providers)
                log.warning("vCenter forgot the health provider (restarted?): registered again and listed it in "
                            "%s's Proactive HA providers under its new id", cluster.name)

    def unused_by(self, names: Iterable[str] = ()) -> list[str]:
        """The clusters (of ``names``; all when empty) where nothing acts on the health posted: Proactive HA
        off, DRS off, or the provider not listed."""
        pid, wanted = self.ensure(), set(names)
        return [c.name for c in clusters(self.conn) if (not wanted or c.name in wanted)
                and not (c.enabled and c.drs_enabled and pid in c.providers)]

    def sync_monitored(self, hosts: set[str]) -> None:
        """Monitor exactly ``hosts`` (morefs); a host of a cluster that lists the provider stays monitored
        (vCenter refuses to remove it: InvalidState)."""
        pid = self.ensure()
        add, remove = hosts - self.monitored, self.monitored - hosts
        if add:
            self._check("add monitored hosts")
            run(self.conn, lambda: _manager(self.conn).AddMonitoredEntities(pid, _hosts(self.conn, add)),
                "add hosts to the health provider")
            self.monitored |= add
        for moref in sorted(remove):
            self._check("remove monitored hosts")
            try:
                run(self.conn, lambda: _manager(self.conn).RemoveMonitoredEntities(pid, _hosts(self.conn, [moref])),
                    "remove a host from the health provider")
                self.monitored.discard(moref)
            except VsgtError as err:
                log.debug("host %s stays monitored: %s", moref, err)

    def current(self) -> dict[tuple[str, str], tuple[str, str]]:
        """What vCenter holds: (host moref, info id) -> (status, remediation)."""
        return posted(self.conn, self.ensure())

    def post(self, updates: list[Update]) -> None:
        """Post ``updates`` (each a host's current status for one info id); a fresh update id per attempt."""
        if not updates:
            return
        pid = self.ensure()
        self._check("post host health")

        def call() -> None:
            items = [vim.HealthUpdate(entity=vim.HostSystem(u.host, self.conn.si._stub), healthUpdateInfoId=u.info_id,
                                      id=uuid.uuid4().hex, status=u.status,
                                      remediation="" if u.status == "green" else u.remediation)
                     for u in updates]
            try:
                _manager(self.conn).PostHealthUpdates(pid, items)
            except vim.fault.NotFound:
                raise ProviderGone("vCenter does not know the health provider any more (restarted?)") from None

        try:
            run(self.conn, call, "post host health to Proactive HA")
        except ProviderGone:
            self._generation = -1
            raise


def clusters(conn: Connection) -> list[ClusterHa]:
    """Every cluster's DRS and Proactive HA settings, by name."""

    def call() -> list[ClusterHa]:
        out = []
        for moref, props in read_objects(conn, vim.ClusterComputeResource, ("name", "host", "configurationEx")):
            config = props.get("configurationEx")
            drs = getattr(config, "drsConfig", None)
            iuha = getattr(config, "infraUpdateHaConfig", None)
            out.append(ClusterHa(
                moref=moref, name=str(props.get("name", moref)), hosts=tuple(h._moId for h in props.get("host") or ()),
                drs_enabled=bool(getattr(drs, "enabled", False)),
                drs_behavior=str(getattr(drs, "defaultVmBehavior", "") or ""),
                enabled=bool(getattr(iuha, "enabled", False)), behavior=str(getattr(iuha, "behavior", "") or ""),
                moderate=str(getattr(iuha, "moderateRemediation", "") or ""),
                severe=str(getattr(iuha, "severeRemediation", "") or ""),
                providers=tuple(str(p) for p in getattr(iuha, "providers", None) or () if p),
            ))
        return sorted(out, key=lambda c: c.name)

    return run(conn, call, "read the clusters' Proactive HA settings")


@dataclass(frozen=True)
class HostMode:
    """A host as Proactive HA leaves it: ``runtime.inMaintenanceMode`` / ``inQuarantineMode``."""

    moref: str
    name: str
    maintenance: bool = False
    quarantine: bool = False


def host_modes(conn: Connection) -> dict[str, HostMode]:
    """Every host's maintenance and quarantine mode, by moref."""

    def call() -> dict[str, HostMode]:
        return {moref: HostMode(moref, str(props.get("name", moref)), bool(props.get("runtime.inMaintenanceMode")),
                                bool(props.get("runtime.inQuarantineMode")))
                for moref, props in read_objects(conn, vim.HostSystem, ("name", "runtime.inMaintenanceMode",
                                                                         "runtime.inQuarantineMode"))}

    return run(conn, call, "read the hosts' maintenance and quarantine modes")


def configure(conn: Connection, moref: str, name: str, *, enabled: bool | None = None, behavior: str | None = None,
              moderate: str | None = None, severe: str | None = None, providers: list[str] | None = None,
              drs: bool = False, timeout: float = 120) -> None:
    """Change a cluster's Proactive HA settings (and turn DRS on, fully automated, with ``drs``): only what
    is given changes (``modify=true``)."""
    iuha = vim.cluster.InfraUpdateHaConfigInfo()
    if enabled is not None:
        iuha.enabled = enabled
    if behavior is not None:
        iuha.behavior = behavior
    if moderate is not None:
        iuha.moderateRemediation = moderate
    if severe is not None:
        iuha.severeRemediation = severe
    if providers is not None:
        iuha.providers = providers
    spec = vim.cluster.ConfigSpecEx(infraUpdateHaConfig=iuha)
    if drs:
        spec.drsConfig = vim.cluster.DrsConfigInfo(enabled=True, defaultVmBehavior="fullyAutomated")
    what = f"reconfigure Proactive HA of {name}"
    cluster = vim.ClusterComputeResource(moref, conn.si._stub)
    task = run(conn, lambda: cluster.ReconfigureComputeResource_Task(spec, True), what, attempts=1)
    wait_for_task(conn, task._moId, what, timeout)


__all__ = ["BEHAVIORS", "PROVIDER_NAME", "REMEDIATIONS", "ClusterHa", "HealthProvider", "HostMode", "ProviderGone",
           "Update", "clusters", "configure", "find_provider", "host_modes", "monitored", "posted"]
