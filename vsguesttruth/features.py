"""What each feature needs from vCenter: the privileges of its calls, and on which objects. Pure data.

One table for ``vsguesttruth role`` (the role an admin grants the service account) and ``vsguesttruth
preflight`` (does the account hold it?). A feature added later adds one :class:`Feature` row to
:data:`FEATURES`, with the config switch that enables it.

Privilege ids are vCenter's (vSphere Web Services API reference, "Required privileges" of each method):
``ReconfigVM_Task`` with extraConfig needs ``VirtualMachine.Config.AdvancedConfig`` on the VM;
``RefreshStorageSystem`` ``Host.Config.Storage`` on the host; ``LogUserEvent`` ``Global.LogEvent``;
``MigrateVM_Task`` ``Resource.HotMigrate`` (powered on) on the VM and ``Resource.AssignVMToPool`` on the
target pool; ``RelocateVM_Task`` ``Resource.ColdMigrate`` on the VM and ``Datastore.AllocateSpace`` on the
target datastore; ``CancelTask`` ``Global.CancelTask``; ``Register/Update/UnregisterExtension``
``Extension.Register/Update/Unregister``;
``RegisterHealthUpdateProvider`` ``HealthUpdateProvider.Register``, ``AddMonitoredEntities``/``PostHealthUpdates``
``HealthUpdateProvider.Update`` (root folder); ``ReconfigureComputeResource_Task`` ``Host.Inventory.EditCluster``
on the cluster; ``GetCustomizationSpec`` ``VirtualMachine.Provisioning.ReadCustSpecs``
and ``Create/OverwriteCustomizationSpec`` ``VirtualMachine.Provisioning.ModifyCustSpecs`` (the lease of serve). vCenter's ReadOnly role (``System.Anonymous``, ``System.View``,
``System.Read``) reads the inventory and events.

The Automation API's (the SDK bindings' documentation of each operation): ``com.vmware.vcenter.vm.data_sets``
``list``/``get``/``create``/``update`` need ``VirtualMachine.DataSets.DataSetList``/``DataSetGet``/
``DataSetCreate``/``DataSetUpdate`` on the VM, ``.entries`` ``get``/``list``/``set``
``VirtualMachine.DataSets.DataSetEntryGet``/``DataSetEntryList``/``DataSetEntrySet``; tags
(``com.vmware.cis.tagging``) are read with the read privilege on categories and tags (``System.Read``); a
session (``com.vmware.cis.session.create``) and ``SessionManager.CloneSession`` need no privilege beyond
``System.Anonymous``, and what a vSphere Client user may do is asked as that user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from vsguesttruth.config import Config

#: Where a privilege is checked: the vCenter root folder (global privileges), or every object of a kind
#: the feature acts on (the in-scope VMs, their hosts, every datastore, resource pool and cluster).
ON = ("vcenter", "vm", "host", "datastore", "pool", "cluster")
SYSTEM = ("System.Anonymous", "System.Read", "System.View")  # vCenter adds these to every role


@dataclass(frozen=True)
class Need:
    privilege: str
    on: str  # one of ON
    why: str


@dataclass(frozen=True)
class Feature:
    name: str
    summary: str
    needs: tuple[Need, ...]
    enabled: Callable[[Config], bool]
    why_enabled: str  # which config turns it on

    def as_dict(self, config: Config) -> dict[str, Any]:
        return {"feature": self.name, "summary": self.summary, "enabled": self.enabled(config),
                "enabled_by": self.why_enabled,
                "privileges": [{"privilege": n.privilege, "on": n.on, "why": n.why} for n in self.needs]}


FEATURES: tuple[Feature, ...] = (
    Feature("read", "read hosts' storage, datastores, VMs, events and custom attributes", (
        Need("System.View", "vcenter", "see the inventory (ReadOnly role)"),
        Need("System.Read", "vcenter", "read it: PropertyCollector, WaitForUpdatesEx, QueryEvents (ReadOnly role)"),
    ), lambda config: True, "always"),
    Feature("publish", "write the state document and answers into guestinfo; re-probe host storage", (
        Need("VirtualMachine.Config.AdvancedConfig", "vm", "ReconfigVM_Task of guestinfo.vsguesttruth.* (extraConfig)"),
        Need("Host.Config.Storage", "host", "RefreshStorageSystem: a guest's refresh request or policy interval"),
        Need("Global.LogEvent", "vcenter", "LogUserEvent on the VM: each guest request answered, on record"),
    ), lambda config: True, "always (serve, publish)"),
    Feature("advise", "post remediation advice and decisions as events on the VMs", (
        Need("Global.LogEvent", "vcenter", "LogUserEvent on the VM: advice, moves, failures, cooldowns"),
    ), lambda config: config.remediation.mode != "off", "[remediation] mode advise, auto or proactive-ha"),
    Feature("remediate", "move VMs: vMotion off a broken host, Storage vMotion to a replica", (
        Need("Resource.HotMigrate", "vm", "MigrateVM_Task of a powered-on VM"),
        Need("Resource.ColdMigrate", "vm", "RelocateVM_Task (Storage vMotion), MigrateVM_Task of a powered-off VM"),
        Need("Resource.AssignVMToPool", "pool", "MigrateVM_Task names the target host's resource pool"),
        Need("Datastore.AllocateSpace", "datastore", "RelocateVM_Task to the replica datastore"),
        Need("Global.CancelTask", "vcenter", "cancel a migration past task_timeout_seconds"),
    ), lambda config: config.remediation.mode in ("auto", "proactive-ha"),
        "[remediation] mode auto or proactive-ha (and `migrate` by hand)"),
    Feature("proactive-ha", "report each host's storage health to vSphere's Proactive HA (a health provider)", (
        Need("HealthUpdateProvider.Register", "vcenter",
             "RegisterHealthUpdateProvider (once, and after a vCenter restart)"),
        Need("HealthUpdateProvider.Update", "vcenter", "Add/RemoveMonitoredEntities, PostHealthUpdates"),
        Need("Host.Inventory.EditCluster", "cluster", "ReconfigureComputeResource_Task: `ha enable`, and the "
             "provider listed again in a cluster's Proactive HA after a vCenter restart"),
    ), lambda config: config.remediation.mode == "proactive-ha", "[remediation] mode proactive-ha"),
    Feature("datasets", "publish through VM data sets (vmx-20+ on vSphere 8): the documents, the guests' writes", (
        Need("VirtualMachine.DataSets.DataSetList", "vm", "list a VM's data sets (first sight)"),
        Need("VirtualMachine.DataSets.DataSetGet", "vm", "check the access modes of ours (first sight)"),
        Need("VirtualMachine.DataSets.DataSetCreate", "vm", "create vsguesttruth and vsguesttruth-guest"),
        Need("VirtualMachine.DataSets.DataSetUpdate", "vm", "give ours their access modes back"),
        Need("VirtualMachine.DataSets.DataSetEntryGet", "vm", "read the state document, answers, the guest's policy and request"),
        Need("VirtualMachine.DataSets.DataSetEntryList", "vm", "list the guest's entries (polling)"),
        Need("VirtualMachine.DataSets.DataSetEntrySet", "vm", "write the state document and answers (no vCenter task)"),
    ), lambda config: config.delivery.channel != "guestinfo", "[delivery] channel auto or datasets"),
    Feature("tags", "read vSphere tags: [scope] tags and exclude_tags, replica tags", (
        Need("System.Read", "vcenter", "com.vmware.cis.tagging: categories, tags, list_attached_objects_on_tags"),
    ), lambda config: bool(config.scope.tags or config.scope.exclude_tags or config.remediation.replica_tag_category),
        "[scope] tags or exclude_tags, [remediation] replica_tag_category"),
    Feature("sessions", "the vSphere Client user's session: clone ticket, CloneSession, asked as that user", (
        Need("System.Anonymous", "vcenter", "log in to the Automation API (com.vmware.cis.session.create); the "
                                            "users' own sessions: clone ticket, SessionManager.CloneSession"),
    ), lambda config: bool(config.web.cert_file or config.web.public_url), "[web] cert_file or public_url"),
    Feature("plugin", "register the vSphere Client remote plugin (ExtensionManager)", (
        Need("Extension.Register", "vcenter", "RegisterExtension (plugin register)"),
        Need("Extension.Update", "vcenter", "UpdateExtension, SetExtensionCertificate (plugin register again)"),
        Need("Extension.Unregister", "vcenter", "UnregisterExtension (plugin unregister)"),
    ), lambda config: bool(config.web.cert_file or config.web.public_url), "[web] cert_file or public_url"),
    Feature("lease", "serve: one active instance per vCenter, the others standing by", (
        Need("VirtualMachine.Provisioning.ReadCustSpecs", "vcenter",
             "GetCustomizationSpec: who holds the lease (a customization spec, vsguesttruth-lease)"),
        Need("VirtualMachine.Provisioning.ModifyCustSpecs", "vcenter",
             "Create/OverwriteCustomizationSpec: take and renew the lease (compare-and-swap on changeVersion)"),
    ), lambda config: True, "always (serve)"),
)


def enabled(config: Config, everything: bool = False) -> list[Feature]:
    """The features the config turns on (all of them with ``everything``)."""
    return [f for f in FEATURES if everything or f.enabled(config)]


def role_privileges(features: list[Feature]) -> list[str]:
    """The privileges a role for ``features`` holds (vCenter adds the System ones itself), sorted."""
    return sorted({n.privilege for f in features for n in f.needs} - set(SYSTEM))


# ---------------------------------------------------------------------------------------------------
# Preflight: what the checks found, as one line per finding


@dataclass(frozen=True)
class Finding:
    """``level``: ``ok``, ``warn`` (works, with a caveat) or ``fail`` (the feature cannot work)."""

    level: str
    feature: str
    message: str

    def line(self) -> str:
        return f"{self.level:<4}  {self.feature:<9}  {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"level": self.level, "feature": self.feature, "message": self.message}


def privilege_findings(features: list[Feature], missing: dict[tuple[str, str], list[str]],
                       totals: dict[str, int]) -> list[Finding]:
    """One finding per privilege: ``missing[(privilege, on)]`` names the objects without it (of ``totals[on]``)."""
    out = []
    for feature in features:
        for need in feature.needs:
            total = totals.get(need.on, 0)
            lacking = missing.get((need.privilege, need.on), [])
            if not total and need.on != "vcenter":
                out.append(Finding("warn", feature.name, f"{need.privilege}: no {need.on} in scope to check it on"))
            elif lacking:
                where = "vCenter" if need.on == "vcenter" else f"{len(lacking)} of {total} {need.on}s ({_few(lacking)})"
                out.append(Finding("fail", feature.name, f"{need.privilege} missing on {where}: {need.why}"))
            else:
                where = "vCenter" if need.on == "vcenter" else f"all {total} {need.on}s"
                out.append(Finding("ok", feature.name, f"{need.privilege} held on {where}"))
    return out


def tools_finding(vms: list[tuple[str, str, str]]) -> Finding:
    """VMware Tools in the in-scope VMs (name, power state, toolsRunningStatus): guests read their keys
    through it; without it the state is still written, and read when Tools run."""
    running = [name for name, _, tools in vms if tools == "guestToolsRunning"]
    off = [name for name, power, _ in vms if power != "poweredOn"]
    without = sorted(name for name, power, tools in vms if power == "poweredOn" and tools != "guestToolsRunning")
    if not vms:
        return Finding("warn", "publish", "no VM in scope: check [scope] in the config")
    text = f"VMware Tools running in {len(running)} of {len(vms)} in-scope VMs"
    if off:
        text += f"; {len(off)} powered off (their document is written again after power-on)"
    if without:
        return Finding("warn", "publish", f"{text}; not running in {_few(without)}: those guests cannot read their state")
    return Finding("ok", "publish", text)


def _few(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def verdicts(features: list[Feature], findings: list[Finding]) -> list[Finding]:
    """One closing line per feature: it can work, or it cannot (a privilege is missing)."""
    out = []
    for feature in features:
        failed = [f for f in findings if f.feature == feature.name and f.level == "fail"]
        if failed:
            out.append(Finding("fail", feature.name, f"cannot work ({feature.why_enabled}): "
                                                     f"{len(failed)} privilege(s) missing"))
        else:
            out.append(Finding("ok", feature.name, f"can work: {feature.summary}"))
    return out
