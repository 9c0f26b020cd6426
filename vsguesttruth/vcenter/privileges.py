"""Roles and privileges in vCenter (``AuthorizationManager``), and VMware Tools in the VMs: for
``vsguesttruth role --create`` and ``vsguesttruth preflight``.

- :func:`ensure_role`: the role holding given privileges, created with ``AddAuthorizationRole`` or
  brought up to date with ``UpdateAuthorizationRole`` (idempotent: a role that holds them already is left
  alone; vCenter adds ``System.Anonymous``, ``System.View`` and ``System.Read`` to every role it creates).
- :func:`missing_privileges`: ``HasPrivilegeOnEntities`` with our own session id, read-only, in batches:
  which objects lack which privilege for the account we are logged in as.
- :func:`tools_status`: ``guest.toolsRunningStatus`` and ``runtime.powerState`` of VMs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from pyVmomi import vim

from vsguesttruth.errors import ConfigError

from .connect import Connection
from .properties import destroy_views, retrieve

SYSTEM = frozenset({"System.Anonymous", "System.Read", "System.View"})
BATCH = 200  # entities per HasPrivilegeOnEntities call
KINDS = {"vcenter": vim.Folder, "vm": vim.VirtualMachine, "host": vim.HostSystem, "datastore": vim.Datastore,
         "pool": vim.ResourcePool, "cluster": vim.ClusterComputeResource}


@dataclass
class RoleResult:
    """``action``: created, updated, unchanged (with ``--dry-run``: would create, would update)."""

    name: str
    action: str
    role_id: int | None = None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.name, "action": self.action, "role_id": self.role_id, "added": self.added,
                "removed": self.removed}


def ensure_role(conn: Connection, name: str, privileges: Iterable[str], dry_run: bool = False) -> RoleResult:
    """The role ``name`` holds exactly ``privileges`` (plus vCenter's System ones) afterwards."""
    wanted = set(privileges) - SYSTEM
    if not name.strip():
        raise ConfigError("the role needs a name: vsguesttruth role --create NAME")

    def call() -> RoleResult:
        manager = conn.content.authorizationManager
        role = next((r for r in manager.roleList or () if r.name == name), None)
        if role is None:
            if dry_run:
                return RoleResult(name, "would create", added=sorted(wanted))
            role_id = manager.AddAuthorizationRole(name=name, privIds=sorted(wanted))
            return RoleResult(name, "created", int(role_id), added=sorted(wanted))
        if role.system:
            raise ConfigError(f"{name} is one of vCenter's system roles, which cannot change: choose another name")
        held = set(role.privilege or ()) - SYSTEM
        added, removed = sorted(wanted - held), sorted(held - wanted)
        if not added and not removed:
            return RoleResult(name, "unchanged", int(role.roleId))
        if not dry_run:
            manager.UpdateAuthorizationRole(roleId=role.roleId, newName=name, privIds=sorted(wanted))
        return RoleResult(name, "would update" if dry_run else "updated", int(role.roleId), added, removed)

    return conn.run(call, f"{'read' if dry_run else 'create'} the vCenter role {name}")


def missing_privileges(conn: Connection, wanted: Mapping[str, Sequence[str]],
                       entities: Mapping[str, Sequence[tuple[str, str]]]) -> dict[tuple[str, str], list[str]]:
    """For each kind of object (``vcenter``, ``vm``, ``host``, ``datastore``, ``pool``): which of
    ``entities[kind]`` ((moref, name) pairs) lack which of ``wanted[kind]``; {(privilege, kind): [names]}."""

    def call() -> dict[tuple[str, str], list[str]]:
        manager = conn.content.authorizationManager
        session = conn.session_key
        missing: dict[tuple[str, str], list[str]] = {}
        for kind, privileges in wanted.items():
            objects = list(entities.get(kind, ()))
            names = dict(objects)
            for start in range(0, len(objects), BATCH):
                refs = [KINDS[kind](moref, conn.si._stub) for moref, _ in objects[start:start + BATCH]]
                answer = manager.HasPrivilegeOnEntities(entity=refs, sessionId=session, privId=list(privileges))
                for entity in answer or ():
                    for available in entity.privAvailability or ():
                        if not available.isGranted:
                            missing.setdefault((available.privId, kind), []).append(
                                names.get(entity.entity._moId, entity.entity._moId))
        return {k: sorted(v) for k, v in missing.items()}

    return conn.run(call, "check the account's privileges")


def root_folder(conn: Connection) -> tuple[str, str]:
    return conn.content.rootFolder._moId, "vCenter"


def root_pools(conn: Connection, hosts: set[str]) -> list[tuple[str, str]]:
    """The root resource pool of each cluster (or standalone host) holding one of ``hosts``: where
    MigrateVM_Task puts a VM."""

    def call() -> list[tuple[str, str]]:
        found = []
        for moref, props in _read(conn, vim.ComputeResource, ("name", "host", "resourcePool")):
            pool = props.get("resourcePool")
            if pool is not None and {h._moId for h in props.get("host") or ()} & hosts:
                found.append((pool._moId, f"{props.get('name', moref)}/Resources"))
        return sorted(found)

    return conn.run(call, "read the clusters' resource pools")


def tools_status(conn: Connection, vms: set[str]) -> list[tuple[str, str, str]]:
    """(name, power state, toolsRunningStatus) of each VM in ``vms`` (morefs)."""

    def call() -> list[tuple[str, str, str]]:
        return sorted((str(props.get("name", moref)), str(props.get("runtime.powerState", "")),
                       str(props.get("guest.toolsRunningStatus", "")))
                      for moref, props in _read(conn, vim.VirtualMachine,
                                                ("name", "runtime.powerState", "guest.toolsRunningStatus"))
                      if moref in vms)

    return conn.run(call, "read VMware Tools status")


def _read(conn: Connection, kind: Any, paths: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """(moref, {path: value}) of every object of ``kind``: one ContainerView, RetrievePropertiesEx pages."""
    PC = vim.PropertyCollector  # noqa: N806
    view = conn.content.viewManager.CreateContainerView(conn.content.rootFolder, [kind], True)
    try:
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[
                PC.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)])],
            propSet=[PC.PropertySpec(type=kind, pathSet=list(paths), all=False)])
        return [(item.obj._moId, {p.name: p.val for p in item.propSet or ()})
                for item in retrieve(conn.content.propertyCollector, [spec])]
    finally:
        destroy_views({"view": view})
