"""Proactive HA in the lab as vCenter runs it (lab/README.md): the HealthUpdateManager, a cluster's DRS and
infraUpdateHaConfig through ReconfigureComputeResource_Task, and the reaction to posted health (quarantine,
maintenance mode with DRS's vMotions, Manual recommendations), through pyVmomi. Every test runs its own lab:
they change cluster settings, host modes and placements.
"""

from __future__ import annotations

import time
import uuid

import pytest
from fakes.automation import soap
from pyVim.connect import Disconnect
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

from vsguesttruth.lab import Lab

pytestmark = pytest.mark.lab

INFO = "vsgt.storage.paths"


class Env:
    def __init__(self, lab: Lab, info, si):
        self.lab, self.info, self.si = lab, info, si
        self.hum = si.content.healthUpdateManager
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.ClusterComputeResource], True)
        self.clusters = {c.name: c for c in view.view}
        view.Destroy()

    def provider(self, name="vsgt-test", hosts=()):
        pid = self.hum.RegisterHealthUpdateProvider(name, [vim.HealthUpdateInfo(id=INFO, componentType="Storage", description="paths")])
        if hosts:
            self.hum.AddMonitoredEntities(pid, list(hosts))
        return pid

    def configure(self, cluster, pid=None, drs=True, behavior="Automated", moderate="QuarantineMode",
                  severe="MaintenanceMode", enabled=True, modify=True):
        iuha = vim.cluster.InfraUpdateHaConfigInfo(enabled=enabled, behavior=behavior,
                                                   moderateRemediation=moderate, severeRemediation=severe)
        if pid:
            iuha.providers = [pid]
        spec = vim.cluster.ConfigSpecEx(drsConfig=vim.cluster.DrsConfigInfo(enabled=drs, defaultVmBehavior="fullyAutomated"),
                                        infraUpdateHaConfig=iuha)
        task = cluster.ReconfigureComputeResource_Task(spec, modify)
        wait(lambda: task.info.state in ("success", "error"))
        return task

    def post(self, pid, host, status, remediation=None):
        if remediation is None:
            remediation = "" if status == "green" else "storage paths lost"
        self.hum.PostHealthUpdates(pid, [vim.HealthUpdate(entity=host, healthUpdateInfoId=INFO, id=str(uuid.uuid4()),
                                                          status=status, remediation=remediation)])

    def events(self, *types):
        return self.si.content.eventManager.QueryEvents(vim.event.EventFilterSpec(eventTypeId=list(types)))


@pytest.fixture
def env(tmp_path):
    lab = Lab(tmp_path / "lab")
    info = lab.up()
    si = soap(info)
    try:
        yield Env(lab, info, si)
    finally:
        Disconnect(si)
        lab.down()


def wait(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def movable_host(cluster):
    """A host whose powered-on VMs all live on storage other hosts of the cluster mount."""
    for host in sorted(cluster.host, key=lambda h: h.name):
        vms = [v for v in host.vm if v.runtime.powerState == "poweredOn"]
        if vms and all(ds.summary.multipleHostAccess for v in vms for ds in v.datastore):
            return host
    pytest.skip("no host with only shared-storage VMs")


def running(host):
    return sorted(v.name for v in host.vm if v.runtime.powerState == "poweredOn" and v.runtime.host == host)


def test_health_update_manager_validates_as_the_api_reference_states(env):
    hum = env.hum
    cl = env.clusters["cl-a"]
    host, other = sorted(cl.host, key=lambda h: h.name)[:2]
    pid = env.provider(hosts=[host])
    assert hum.QueryProviderList() == [pid] and hum.HasProvider(pid) and hum.QueryProviderName(pid) == "vsgt-test"
    assert [i.id for i in hum.QueryHealthUpdateInfos(pid)] == [INFO]
    with pytest.raises(vmodl.fault.InvalidArgument):
        env.provider()  # the name is in use
    with pytest.raises(vmodl.fault.InvalidArgument):
        hum.RegisterHealthUpdateProvider("other", [vim.HealthUpdateInfo(id="x", componentType="Disk", description="")])
    with pytest.raises(vmodl.fault.InvalidArgument):
        hum.AddMonitoredEntities(pid, [host])  # already monitored
    with pytest.raises(vmodl.fault.InvalidArgument):
        hum.AddMonitoredEntities(pid, [cl])  # not a host
    with pytest.raises(vim.fault.NotFound):
        hum.QueryMonitoredEntities("no-such-provider")
    assert hum.HasMonitoredEntity(pid, host) and not hum.HasMonitoredEntity(pid, other)
    assert set(hum.QueryUnmonitoredHosts(pid, cl)) == set(cl.host) - {host}

    bad = [
        dict(entity=other, status="red"),                     # not monitored
        dict(entity=host, status="gray"),                     # gray cannot be posted
        dict(entity=host, status="green", remediation="x"),  # green with a remediation
        dict(entity=host, status="red", healthUpdateInfoId="unknown"),
    ]
    for fields in bad:
        update = vim.HealthUpdate(entity=fields["entity"], healthUpdateInfoId=fields.get("healthUpdateInfoId", INFO),
                                  id=str(uuid.uuid4()), status=fields["status"], remediation=fields.get("remediation", ""))
        with pytest.raises(vmodl.fault.InvalidArgument):
            hum.PostHealthUpdates(pid, [update])
    first = vim.HealthUpdate(entity=host, healthUpdateInfoId=INFO, id="u-1", status="yellow", remediation="one path left")
    hum.PostHealthUpdates(pid, [first])
    with pytest.raises(vmodl.fault.InvalidArgument):
        hum.PostHealthUpdates(pid, [first])  # an id posted before
    current = hum.QueryHealthUpdates(pid)
    assert [(u.entity, u.status, u.remediation) for u in current] == [(host, "yellow", "one path left")]
    assert env.lab.topology()["host_health"][host.name]["updates"][0]["status"] == "yellow"

    readonly = soap(env.info, env.info.readonly_username, env.info.readonly_password)
    try:
        with pytest.raises(vim.fault.NoPermission):
            readonly.content.healthUpdateManager.PostHealthUpdates(pid, [])
        assert readonly.content.healthUpdateManager.QueryProviderList() == [pid]
    finally:
        Disconnect(readonly)
    hum.RemoveMonitoredEntities(pid, [host])
    assert hum.QueryMonitoredEntities(pid) == [] and hum.QueryHealthUpdates(pid) == []
    hum.UnregisterHealthUpdateProvider(pid)
    assert hum.QueryProviderList() == []


def test_cluster_reconfiguration_of_drs_and_proactive_ha(env):
    cl = env.clusters["cl-a"]
    pid = env.provider(hosts=cl.host)
    assert env.configure(cl, pid).info.state == "success"
    cfg = cl.configurationEx
    assert cfg.drsConfig.enabled and cfg.drsConfig.defaultVmBehavior == "fullyAutomated"
    iuha = cfg.infraUpdateHaConfig
    assert (iuha.enabled, iuha.behavior, iuha.moderateRemediation, iuha.severeRemediation, list(iuha.providers)) == \
        (True, "Automated", "QuarantineMode", "MaintenanceMode", [pid])
    # modify=True: what the spec leaves unset stays
    WaitForTask(cl.ReconfigureComputeResource_Task(vim.cluster.ConfigSpecEx(
        infraUpdateHaConfig=vim.cluster.InfraUpdateHaConfigInfo(behavior="Manual")), True))
    assert cl.configurationEx.infraUpdateHaConfig.behavior == "Manual"
    assert list(cl.configurationEx.infraUpdateHaConfig.providers) == [pid]
    # "MaintenanceMode for moderate with QuarantineMode for severe is not supported"
    refused = env.configure(cl, pid, moderate="MaintenanceMode", severe="QuarantineMode")
    assert refused.info.state == "error" and isinstance(refused.info.error, vmodl.fault.InvalidArgument)
    unknown = env.configure(cl, "no-such-provider")
    assert unknown.info.state == "error" and isinstance(unknown.info.error, vmodl.fault.InvalidArgument)
    with pytest.raises(vim.fault.InvalidState):
        env.hum.UnregisterHealthUpdateProvider(pid)  # still used by the cluster
    with pytest.raises(vim.fault.InvalidState):
        env.hum.RemoveMonitoredEntities(pid, [cl.host[0]])  # the cluster has it enabled
    # one empty string clears the providers
    WaitForTask(cl.ReconfigureComputeResource_Task(vim.cluster.ConfigSpecEx(
        infraUpdateHaConfig=vim.cluster.InfraUpdateHaConfigInfo(providers=[""])), True))
    assert not cl.configurationEx.infraUpdateHaConfig.providers
    env.hum.UnregisterHealthUpdateProvider(pid)
    assert any(isinstance(e, vim.event.ClusterReconfiguredEvent) for e in env.events("ClusterReconfiguredEvent"))


def test_severe_degradation_enters_maintenance_mode_and_drs_evacuates(env):
    cl = env.clusters["cl-a"]
    host = movable_host(cl)
    before = running(host)
    pid = env.provider(hosts=cl.host)
    env.configure(cl, pid)
    env.post(pid, host, "red")
    wait(lambda: host.runtime.inMaintenanceMode)
    assert running(host) == []
    for name in before:
        vm = [v for v in cl.resourcePool.vm if v.name == name][0]
        target = vm.runtime.host
        assert target != host and not target.runtime.inMaintenanceMode
        assert all(any(m.key == target and m.mountInfo.accessible for m in ds.host) for ds in vm.datastore)
    drs = [e for e in env.events("DrsVmMigratedEvent") if e.sourceHost.host == host]
    assert sorted(e.vm.name for e in drs) == before
    assert all(not e.userName for e in drs)
    kinds = {type(e).__name__ for e in env.events("EnteringMaintenanceModeEvent", "EnteredMaintenanceModeEvent")}
    assert kinds == {"vim.event.EnteringMaintenanceModeEvent", "vim.event.EnteredMaintenanceModeEvent"}
    tasks = env.si.content.taskManager.recentTask
    enter = [t for t in tasks if t.info.descriptionId == "HostSystem.enterMaintenanceMode" and t.info.entity == host]
    assert enter and isinstance(enter[0].info.reason, vim.TaskReasonSystem) and enter[0].info.state == "success"
    moves = [t for t in tasks if t.info.descriptionId == "Drm.ExecuteVMotionLRO"]
    assert len(moves) == len(before) and all(isinstance(t.info.reason, vim.TaskReasonSystem) for t in moves)
    # healthy again: maintenance mode stays until an administrator exits it
    env.post(pid, host, "green")
    time.sleep(0.5)
    assert host.runtime.inMaintenanceMode
    WaitForTask(host.ExitMaintenanceMode_Task(0))
    assert not host.runtime.inMaintenanceMode


def test_moderate_degradation_quarantines_until_healthy(env):
    cl = env.clusters["cl-b"]
    host = movable_host(cl)
    pid = env.provider(hosts=cl.host)
    env.configure(cl, pid)
    env.post(pid, host, "yellow")
    wait(lambda: host.runtime.inQuarantineMode and running(host) == [])
    assert not host.runtime.inMaintenanceMode
    env.post(pid, host, "green")
    wait(lambda: not host.runtime.inQuarantineMode)


def test_manual_behavior_only_recommends(env):
    cl = env.clusters["cl-a"]
    host = movable_host(cl)
    before = running(host)
    pid = env.provider(hosts=cl.host)
    env.configure(cl, pid, behavior="Manual")
    env.post(pid, host, "yellow")
    wait(lambda: len(cl.recommendation) == 1)
    rec = cl.recommendation[0]
    assert (rec.reason, rec.reasonText, rec.target) == ("hostInDegradation", "Host is in degradation.", host)
    mode = [a for a in rec.action if isinstance(a, vim.cluster.HostInfraUpdateHaModeAction)]
    assert [(a.operationType, a.target) for a in mode] == [("enterQuarantine", host)]
    assert sorted(a.target.name for a in rec.action if isinstance(a, vim.cluster.MigrationAction)) == before
    assert not host.runtime.inQuarantineMode and running(host) == before
    cl.ApplyRecommendation(rec.key)
    wait(lambda: host.runtime.inQuarantineMode and running(host) == [])
    env.post(pid, host, "green")
    wait(lambda: [r.reason for r in cl.recommendation] == ["hostExitDegradation"])
    cl.ApplyRecommendation(cl.recommendation[0].key)
    wait(lambda: not host.runtime.inQuarantineMode and cl.recommendation == [])


def test_no_reaction_without_drs_or_unknown_health(env):
    cl = env.clusters["cl-a"]
    host = movable_host(cl)
    before = running(host)
    pid = env.provider(hosts=cl.host)
    env.configure(cl, pid, drs=False)
    env.post(pid, host, "red")
    time.sleep(0.5)
    assert not host.runtime.inMaintenanceMode and running(host) == before and cl.recommendation == []


def test_admin_maintenance_mode_waits_for_vms_and_times_out(env):
    cl = env.clusters["cl-b"]
    host = movable_host(cl)
    task = host.EnterMaintenanceMode_Task(timeout=1)
    wait(lambda: task.info.state == "error", timeout=10)
    assert isinstance(task.info.error, vim.fault.Timedout) and not host.runtime.inMaintenanceMode
    with pytest.raises(vim.fault.InvalidState):
        WaitForTask(host.ExitMaintenanceMode_Task(0))
    # a fully automated DRS cluster evacuates the host itself
    env.configure(cl, drs=True, enabled=False)
    WaitForTask(host.EnterMaintenanceMode_Task(0), raiseOnError=True)
    assert host.runtime.inMaintenanceMode and running(host) == []


def test_restart_unregisters_providers_but_keeps_cluster_and_host_state(env):
    cl = env.clusters["cl-a"]
    host = movable_host(cl)
    pid = env.provider(hosts=cl.host)
    env.configure(cl, pid)
    env.post(pid, host, "red")
    wait(lambda: host.runtime.inMaintenanceMode)
    name = host.name

    restarted = env.lab.restart()

    si = soap(restarted)
    try:
        assert si.content.healthUpdateManager.QueryProviderList() == []  # "a restart unregisters all providers"
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.ClusterComputeResource, vim.HostSystem], True)
        objs = {o.name: o for o in view.view}
        view.Destroy()
        assert list(objs["cl-a"].configurationEx.infraUpdateHaConfig.providers) == [pid]
        assert objs["cl-a"].configurationEx.drsConfig.enabled
        assert objs[name].runtime.inMaintenanceMode
    finally:
        Disconnect(si)
