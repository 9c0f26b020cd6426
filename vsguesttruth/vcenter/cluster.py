"""A host's cluster as vSphere HA sees it: the VM Component Protection settings and the host's APD timeout,
read when remediation needs to say what HA will do (a move that could not happen), not watched."""

from __future__ import annotations

from typing import Any

from pyVmomi import vim, vmodl

from ..model import Vmcp
from .connect import Connection

PC = vmodl.query.PropertyCollector


def _read(conn: Connection, obj: Any, paths: list[str]) -> dict[str, Any]:
    spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=obj, skip=False)],
                         propSet=[PC.PropertySpec(type=type(obj), pathSet=paths, all=False)])
    found = conn.content.propertyCollector.RetrieveContents([spec]) or []
    return {prop.name: prop.val for item in found for prop in item.propSet or ()}


def vmcp_of_host(conn: Connection, host_moref: str) -> Vmcp | None:
    """The HA/VMCP settings of the host's cluster (``configurationEx.dasConfig``) and the host's
    ``Misc.APDTimeout``; None when the host is in no cluster. Errors are raised translated (VsgtError)."""

    def call() -> Vmcp | None:
        host = vim.HostSystem(host_moref, conn.si._stub)
        props = _read(conn, host, ["parent", "configManager.advancedOption"])
        parent = props.get("parent")
        if not isinstance(parent, vim.ClusterComputeResource):
            return None
        cluster = _read(conn, parent, ["name", "configurationEx"])
        das = getattr(cluster.get("configurationEx"), "dasConfig", None)
        settings = getattr(getattr(das, "defaultVmSettings", None), "vmComponentProtectionSettings", None)
        timeout = None
        options = props.get("configManager.advancedOption")
        if options is not None:
            try:
                found = options.QueryOptions("Misc.APDTimeout")
                timeout = int(found[0].value) if found else None
            except vmodl.MethodFault:  # no such option, or the host is not reachable: say the default
                timeout = None
        return Vmcp(
            cluster=str(cluster.get("name") or parent._moId), ha=bool(getattr(das, "enabled", False)),
            vmcp=getattr(das, "vmComponentProtecting", "") == "enabled",
            pdl=str(getattr(settings, "vmStorageProtectionForPDL", None) or "disabled"),
            apd=str(getattr(settings, "vmStorageProtectionForAPD", None) or "disabled"),
            terminate_delay=int(getattr(settings, "vmTerminateDelayForAPDSec", None) or 180),
            apd_timeout=timeout,
        )

    return conn.run(call, f"read vSphere HA's settings for {host_moref}")
