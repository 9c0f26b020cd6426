"""A host vCenter cannot reach (lab/README.md, "Fault semantics"): vCenter keeps the last values it had,
refuses what needs the host (HostNotConnected when disconnected, HostNotReachable when not responding),
shows its VMs disconnected and gray, and publishes the host's current state at once when it is back.
"""

from __future__ import annotations

import time

import pytest
from pyVmomi import vim, vmodl

from fakes.reads import PC, fetch, find

pytestmark = pytest.mark.lab

HOST = "esx-b01"
FAULTS = {"disconnected": vmodl.fault.HostNotConnected, "notResponding": vmodl.fault.HostNotReachable}


def path_states(si, host):
    return {p.name: p.pathState for lu in fetch(si, host, "config.storageDevice.multipathInfo").lun for p in lu.path}


def mount(si, ds, host):
    m = next(m for m in fetch(si, ds, "host") if m.key == host).mountInfo
    return m.accessible, m.inaccessibleReason


@pytest.mark.parametrize("state", ["disconnected", "notResponding"])
def test_vcenter_keeps_the_last_values_and_publishes_the_current_ones_on_reconnect(si, lab, state):
    host = find(si, vim.HostSystem, HOST)
    silver = find(si, vim.Datastore, "ds-silver")
    before = path_states(si, host)
    lab.fault("host", host=HOST, state=state)
    path = next(p for p in before if p.startswith("vmhba2:"))
    lab.fault("path", host=HOST, path=path, state="dead")
    lab.fault("target", target="A-ctl1-p1", state="dead")
    lab.fault("lun", lun="silver01", state="apd")
    assert path_states(si, host) == before  # nothing changed as far as vCenter knows
    ss = fetch(si, host, "configManager.storageSystem")
    assert {p.name: p.pathState for p in ss.multipathStateInfo.path} == before
    assert mount(si, silver, host) == (True, None)
    assert mount(si, silver, find(si, vim.HostSystem, "esx-b02")) == (False, "AllPathsDown_Start")
    start = si.content.eventManager.latestEvent.key

    watcher = si.content.propertyCollector.CreatePropertyCollector()
    try:
        watcher.CreateFilter(PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=host)], propSet=[
            PC.PropertySpec(type=vim.HostSystem, pathSet=["config.multipathState"])]), True)
        version = watcher.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=0)).version
        t0 = time.monotonic()
        lab.fault("host", host=HOST, state="connected")
        update = watcher.WaitForUpdatesEx(version, PC.WaitOptions(maxWaitSeconds=3))
        assert update is not None and time.monotonic() - t0 < 1.0
        states = {p.name: p.pathState for f in update.filterSet for o in f.objectSet for c in o.changeSet for p in c.val.path}
        assert states[path] == "dead"
    finally:
        watcher.DestroyPropertyCollector()
    assert mount(si, silver, host) == (False, "AllPathsDown_Start")
    # the host's events for what changed meanwhile arrive with it
    spec = vim.event.EventFilterSpec(maxCount=200, entity=vim.event.EventFilterSpec.ByEntity(entity=host, recursion="self"))
    kinds = [getattr(e, "eventTypeId", type(e).__name__) for e in si.content.eventManager.QueryEvents(spec) if e.key > start]
    assert "esx.problem.storage.apd.start" in kinds and "vim.event.HostConnectedEvent" in kinds


@pytest.mark.parametrize("state", ["disconnected", "notResponding"])
def test_calls_that_need_the_host_are_refused(si, lab, state):
    host = find(si, vim.HostSystem, HOST)
    ss = host.configManager.storageSystem
    path = next(iter(path_states(si, host)))
    lab.fault("host", host=HOST, state=state)
    fault = FAULTS[state]
    for call in (ss.RefreshStorageSystem, ss.RescanAllHba, ss.RescanVmfs, lambda: ss.RescanHba("vmhba2"),
                 lambda: ss.DisableMultipathPath(path), lambda: ss.EnableMultipathPath(path),
                 lambda: host.configManager.advancedOption.UpdateOptions(
                     changedValue=[vim.option.OptionValue(key="Misc.APDTimeout", value=60)])):
        with pytest.raises(fault):
            call()
    vm = fetch(si, host, "vm")[0]
    task = vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key="guestinfo.x", value="1")]))
    deadline = time.monotonic() + 5
    while task.info.state not in ("success", "error") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert task.info.state == "error" and isinstance(task.info.error, fault)
    assert all(o.key != "guestinfo.x" for o in vm.config.extraConfig)
    # reading still works: the last known values
    assert fetch(si, host, "config.storageDevice.hostBusAdapter")


@pytest.mark.parametrize("state", ["disconnected", "notResponding"])
def test_its_vms_are_disconnected_and_gray(si, lab, state):
    host = find(si, vim.HostSystem, HOST)
    vms = fetch(si, host, "vm")
    before = {vm: (vm.overallStatus, vm.guest.guestState, vm.guestHeartbeatStatus) for vm in vms}
    lab.fault("host", host=HOST, state=state)
    for vm in vms:
        assert vm.runtime.connectionState == "disconnected" == vm.summary.runtime.connectionState
        assert (vm.overallStatus, vm.guest.guestState, vm.guestHeartbeatStatus) == ("gray", "unknown", "gray")
    lab.fault("host", host=HOST, state="connected")
    assert {vm: (vm.overallStatus, vm.guest.guestState, vm.guestHeartbeatStatus) for vm in vms} == before
    assert {vm.runtime.connectionState for vm in vms} == {"connected"}
