"""Storage and connection events, configIssue and alarms as real hosts and vCenter give them (lab/README.md,
"Events and alarms"): one event on the host whose view changed, the arguments real hosts give, problems
open in configIssue until cleared, vCenter's default alarms on the host and up the inventory.
"""

from __future__ import annotations

import time

import pytest
from pyVmomi import vim, vmodl

from fakes.reads import find

pytestmark = pytest.mark.lab

HOST = "esx-a01"
GOLD_PATHS = ["vmhba2:C0:T0:L1", "vmhba2:C0:T1:L1", "vmhba3:C0:T0:L1", "vmhba3:C0:T1:L1"]


def mark(si) -> int:
    return si.content.eventManager.latestEvent.key


def since(si, key, *types, entity=None) -> list:
    """Events newer than ``key`` (oldest first), of these eventTypeIds/types, on ``entity`` if given."""
    spec = vim.event.EventFilterSpec(maxCount=1000)
    if types:
        spec.eventTypeId = list(types)
    if entity is not None:
        spec.entity = vim.event.EventFilterSpec.ByEntity(entity=entity, recursion="self")
    return sorted((e for e in si.content.eventManager.QueryEvents(spec) if e.key > key), key=lambda e: e.key)


def args(event) -> dict:
    return {a.key: a.value for a in event.arguments}


@pytest.fixture(scope="module")
def topo(lab):
    return lab.topology()


def gold(topo):
    return next(x for x in topo["luns"] if x["name"] == "gold01")


def alarms(entity) -> dict:
    return {s.alarm.info.systemName: s.overallStatus for s in entity.triggeredAlarmState}


# -- paths ---------------------------------------------------------------------------------------

def test_a_dead_path_is_one_event_on_its_host(si, lab, topo):
    host = find(si, vim.HostSystem, HOST)
    start = mark(si)
    lab.fault("path", host=HOST, path=GOLD_PATHS[0], state="dead")
    posted = since(si, start, "esx.problem.storage.redundancy.degraded")
    assert len(posted) == 1, [e.fullFormattedMessage for e in posted]
    e = posted[0]
    assert isinstance(e, vim.event.EventEx) and e.severity == "warning"
    assert args(e) == {"1": gold(topo)["canonical_name"], "2": GOLD_PATHS[0], "3": "'ds-gold'"}
    assert e.host.host == host and e.computeResource.name == "cl-a" and e.datacenter.name == "dc1"
    assert e.fullFormattedMessage == (f"Path redundancy to storage device {gold(topo)['canonical_name']} degraded. "
                                      f"Path {GOLD_PATHS[0]} is down. Affected datastores: 'ds-gold'.")
    # the same fault again changes nothing the host sees: no second event
    lab.fault("path", host=HOST, path=GOLD_PATHS[0], state="dead")
    assert len(since(si, start, "esx.problem.storage.redundancy.degraded")) == 1
    # the host's problem, its alarm, its status
    assert [i.key for i in host.configIssue] == [e.key]
    assert alarms(host) == {"alarm.StorageConnectivityAlarm": "yellow"}
    assert host.overallStatus == "yellow" and host.summary.overallStatus == "yellow"
    changed = since(si, start, "AlarmStatusChangedEvent", entity=host)
    assert [(c.alarm.name, c.__getattribute__("from"), c.to) for c in changed] == [("Cannot connect to storage", "green", "yellow")]
    cluster = host.parent
    assert alarms(cluster) == alarms(si.content.rootFolder) == {"alarm.StorageConnectivityAlarm": "yellow"}
    # back: the problem is cleared, the alarm keeps its status (it has no clearing event)
    lab.fault("path", host=HOST, path=GOLD_PATHS[0], state="ok")
    restored = since(si, start, "esx.clear.storage.redundancy.restored")
    assert len(restored) == 1 and args(restored[0]) == {"1": gold(topo)["canonical_name"], "2": "'ds-gold'", "3": GOLD_PATHS[0]}
    assert host.configIssue == []
    assert alarms(host) == {"alarm.StorageConnectivityAlarm": "yellow"}
    # other hosts saw nothing
    assert since(si, start, "esx.problem.storage.redundancy.degraded", entity=find(si, vim.HostSystem, "esx-a02")) == []


def test_paths_dying_one_by_one_end_in_lost_connectivity_and_apd(si, lab, topo):
    host = find(si, vim.HostSystem, HOST)
    naa = gold(topo)["canonical_name"]
    start = mark(si)
    for p in GOLD_PATHS:
        lab.fault("path", host=HOST, path=p, state="dead")
    storage = [e for e in since(si, start, entity=host) if isinstance(e, vim.event.EventEx)]
    assert [(e.eventTypeId, args(e).get("2")) for e in storage] == [
        ("esx.problem.storage.redundancy.degraded", GOLD_PATHS[0]),
        ("esx.problem.storage.redundancy.degraded", GOLD_PATHS[1]),
        ("esx.problem.storage.redundancy.lost", GOLD_PATHS[2]),
        ("esx.problem.storage.connectivity.lost", GOLD_PATHS[3]),
        ("esx.problem.storage.apd.start", None),
    ]
    assert args(storage[-1]) == {"1": naa}
    assert storage[-1].fullFormattedMessage == f"Device or filesystem with identifier {naa} has entered the All Paths Down state."
    assert storage[3].severity == "error"
    assert alarms(host) == {"alarm.StorageConnectivityAlarm": "red"} and host.overallStatus == "red"
    assert {i.eventTypeId for i in host.configIssue} == {
        "esx.problem.storage.redundancy.lost", "esx.problem.storage.redundancy.degraded",
        "esx.problem.storage.connectivity.lost", "esx.problem.storage.apd.start"}
    # one path back: connectivity restored and the APD over, redundancy still lost
    mid = mark(si)
    lab.fault("path", host=HOST, path=GOLD_PATHS[1], state="ok")
    back = [(e.eventTypeId, args(e)) for e in since(si, mid, entity=host) if isinstance(e, vim.event.EventEx)]
    assert back == [("esx.clear.storage.connectivity.restored", {"1": naa, "2": "'ds-gold'", "3": GOLD_PATHS[1]}),
                    ("esx.clear.storage.apd.exit", {"1": naa})]
    assert {i.eventTypeId for i in host.configIssue} == {"esx.problem.storage.redundancy.lost", "esx.problem.storage.redundancy.degraded"}
    # every path back: redundancy restored, no problem left
    mid = mark(si)
    for p in GOLD_PATHS:
        lab.fault("path", host=HOST, path=p, state="ok")
    assert [e.eventTypeId for e in since(si, mid, entity=host) if isinstance(e, vim.event.EventEx)] == [
        "esx.clear.storage.redundancy.restored"]
    assert host.configIssue == []


def test_a_watcher_sees_the_issue_alarm_and_status(si, lab):
    pc_types = vmodl.query.PropertyCollector
    host = find(si, vim.HostSystem, HOST)
    pc = si.content.propertyCollector.CreatePropertyCollector()
    try:
        pc.CreateFilter(pc_types.FilterSpec(objectSet=[pc_types.ObjectSpec(obj=host)], propSet=[pc_types.PropertySpec(
            type=vim.HostSystem, pathSet=["configIssue", "triggeredAlarmState", "overallStatus"])]), True)
        version = pc.WaitForUpdatesEx("", pc_types.WaitOptions(maxWaitSeconds=0)).version
        lab.fault("path", host=HOST, path=GOLD_PATHS[0], state="dead")
        seen: dict = {}
        deadline = time.monotonic() + 3
        while len(seen) < 3 and time.monotonic() < deadline:
            update = pc.WaitForUpdatesEx(version, pc_types.WaitOptions(maxWaitSeconds=1))
            if update is None:
                continue
            version = update.version
            seen.update({c.name: c.val for f in update.filterSet for o in f.objectSet for c in o.changeSet})
        assert [i.eventTypeId for i in seen["configIssue"]] == ["esx.problem.storage.redundancy.degraded"]
        assert [s.overallStatus for s in seen["triggeredAlarmState"]] == ["yellow"]
        assert seen["overallStatus"] == "yellow"
    finally:
        pc.DestroyPropertyCollector()


def test_a_dead_array_port_is_one_event_per_host_and_device(si, lab, topo):
    target = "A-ctl0-p0"
    expected = sorted((h["name"], p["canonical_name"]) for h in topo["hosts"] for p in h["paths"] if p["target"] == target)
    start = mark(si)
    edge = next(lun["canonical_name"] for lun in topo["luns"] if lun["name"] == "edge01")  # on fabric A only
    lab.fault("target", target=target, state="dead")
    posted = since(si, start, "esx.problem.storage.redundancy.degraded")
    lost = since(si, start, "esx.problem.storage.redundancy.lost")  # one path left
    assert sorted((e.host.name, args(e)["1"]) for e in posted + lost) == expected
    assert {args(e)["1"] for e in lost} == {edge} and len(lost) == 6
    lab.fault("target", target=target, state="dead")  # again: nothing new
    assert len(since(si, start, "esx.problem.storage.redundancy.degraded")) == len(posted)


def test_a_pulled_cable_is_one_event_per_device_on_that_host(si, lab, topo):
    host = next(h for h in topo["hosts"] if h["name"] == HOST)
    devices = sorted({p["canonical_name"] for p in host["paths"] if p["hba"] == "vmhba2"})
    start = mark(si)
    only_a = {lun["canonical_name"] for lun in topo["luns"] if lun["fabrics"] == ["A"]}  # edge01: no path left
    lab.fault("hba", host=HOST, hba="vmhba2", state="dead")
    posted = since(si, start, "esx.problem.storage.redundancy.degraded")
    lost = since(si, start, "esx.problem.storage.connectivity.lost")
    assert sorted(args(e)["1"] for e in posted + lost) == devices and {e.host.name for e in posted + lost} == {HOST}
    assert {args(e)["1"] for e in lost} == only_a


def test_pdl_and_back(si, lab, topo):
    naa = gold(topo)["canonical_name"]
    start = mark(si)
    lab.fault("lun", lun="gold01", state="pdl")
    lost = since(si, start, "esx.problem.scsi.device.state.permanentloss")
    assert sorted(e.host.name for e in lost) == sorted(gold(topo)["hosts"])
    assert all(args(e) == {"1": naa, "2": "'ds-gold'"} and e.severity == "error" for e in lost)
    assert lost[0].fullFormattedMessage == f"Device {naa} has been removed or is permanently inaccessible. Affected datastores (if any): 'ds-gold'."
    lab.fault("lun", lun="gold01", state="ok")
    online = since(si, start, "esx.clear.scsi.device.state.permanentloss.deviceonline")
    assert sorted(e.host.name for e in online) == sorted(gold(topo)["hosts"])
    assert find(si, vim.HostSystem, HOST).configIssue == []


def test_apd_timeout_of_a_lun(si, lab, topo):
    span = next(x for x in topo["luns"] if x["name"] == "span02")
    start = mark(si)
    lab.fault("lun", lun="span02", state="apd_timeout")
    host = find(si, vim.HostSystem, "esx-a03")
    posted = [(e.eventTypeId, args(e)) for e in since(si, start, entity=host) if isinstance(e, vim.event.EventEx)]
    assert ("esx.problem.storage.apd.start", {"1": span["canonical_name"]}) in posted
    assert ("esx.problem.storage.apd.timeout", {"1": span["canonical_name"], "2": "140"}) in posted
    lab.fault("lun", lun="span02", state="ok")
    assert [args(e)["1"] for e in since(si, start, "esx.clear.storage.apd.exit", entity=host)] == [span["canonical_name"]]


# -- host connection -------------------------------------------------------------------------------

def test_host_not_responding_and_back(si, lab):
    host = find(si, vim.HostSystem, "esx-b02")
    start = mark(si)
    lab.fault("host", host="esx-b02", state="notResponding")
    lost = since(si, start, "HostConnectionLostEvent")
    assert [e.host.host for e in lost] == [host]
    assert lost[0].fullFormattedMessage == "Host esx-b02 in dc1 is not responding"
    assert alarms(host) == {"alarm.HostConnectionStateAlarm": "red"} and host.overallStatus == "red"
    lab.fault("host", host="esx-b02", state="connected")
    assert [e.host.host for e in since(si, start, "HostConnectedEvent")] == [host]
    assert alarms(host) == {} and host.overallStatus == "green"
    changed = since(si, start, "AlarmStatusChangedEvent", entity=host)
    assert [(c.alarm.name, c.to) for c in changed] == [("Host connection and power state", "red"),
                                                      ("Host connection and power state", "green")]


def test_host_disconnected_is_gray(si, lab):
    host = find(si, vim.HostSystem, "esx-b02")
    start = mark(si)
    lab.fault("host", host="esx-b02", state="disconnected")
    (e,) = since(si, start, "HostDisconnectedEvent")
    assert e.host.host == host and e.reason == "userRequest"
    assert host.overallStatus == "gray" and alarms(host) == {}


# -- AlarmManager and eventInfo ------------------------------------------------------------------------

def test_alarm_manager_answers(si, lab):
    am = si.content.alarmManager
    root = si.content.rootFolder
    defined = am.GetAlarm(root)
    assert {a.info.systemName for a in defined} == {"alarm.StorageConnectivityAlarm", "alarm.HostConnectionStateAlarm"}
    assert {a._moId for a in am.GetAlarm()} == {a._moId for a in defined}
    host = find(si, vim.HostSystem, HOST)
    assert am.GetAlarm(host) == []  # defined on the root folder, inherited
    storage = next(a for a in defined if a.info.systemName == "alarm.StorageConnectivityAlarm")
    assert storage.info.name == "Cannot connect to storage" and storage.info.entity == root and storage.info.enabled
    triggers = {t.eventTypeId: t.status for t in storage.info.expression.expression}
    assert triggers["esx.problem.storage.connectivity.lost"] == "red"
    assert triggers["esx.problem.storage.redundancy.degraded"] == "yellow"
    states = am.GetAlarmState(host)
    assert {s.alarm._moId: s.overallStatus for s in states} == {a._moId: "green" for a in defined}
    assert {s.alarm._moId for s in host.declaredAlarmState} == {a._moId for a in defined}
    lab.fault("path", host=HOST, path=GOLD_PATHS[0], state="dead")
    state = next(s for s in am.GetAlarmState(host) if s.alarm == storage)
    assert state.overallStatus == "yellow" and not state.acknowledged and state.eventKey
    am.AcknowledgeAlarm(storage, host)
    assert next(s for s in host.triggeredAlarmState if s.alarm == storage).acknowledged
    with pytest.raises(vmodl.fault.InvalidArgument):
        am.AcknowledgeAlarm(storage, find(si, vim.HostSystem, "esx-b03"))  # not triggered there
    lab.restore()  # an administrator's reset
    assert host.triggeredAlarmState == [] and host.overallStatus == "green"


def test_event_info_describes_the_storage_events(si):
    """vCenter lists an extended event under key EventEx, its fullFormat "<eventTypeId>|<format>"."""
    info = {d.fullFormat.split("|", 1)[0]: d for d in si.content.eventManager.description.eventInfo
            if d.key is vim.event.EventEx}  # pyVmomi gives the type named by the key
    lost = info["esx.problem.storage.connectivity.lost"]
    assert lost.category == "error" and lost.description == "Lost Storage Connectivity"
    assert lost.fullFormat.split("|", 1)[1] == "Lost connectivity to storage device {1}. Path {2} is down. Affected datastores: {3}."
    for key in ("esx.problem.storage.redundancy.degraded", "esx.problem.storage.redundancy.lost",
                "esx.clear.storage.redundancy.restored", "esx.clear.storage.connectivity.restored",
                "esx.problem.storage.apd.start", "esx.problem.storage.apd.timeout", "esx.clear.storage.apd.exit",
                "esx.problem.scsi.device.state.permanentloss"):
        assert key in info
