"""LUN operational states, the hosts' advanced options and the APD timeout (lab/README.md, "Fault
semantics"): the documented readings by default (PDL Lost Communication, an expired APD "Dead or Error"),
every other reading of the API enum selectable per fault; Misc.APDTimeout, Misc.APDHandlingEnable and
Disk.AutoremoveOnPDL per host through its OptionManager; an APD turning into an APD timeout by itself.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from pyVmomi import vim, vmodl

from vsguesttruth.truth import Verdict, disk_truths
from vsguesttruth.vcenter.inventory import snapshot

from fakes.reads import PC, connect, fetch, find

pytestmark = pytest.mark.lab



@pytest.fixture(scope="module")
def topo(lab):
    return lab.topology()


def canonical(topo, name):
    return next(x for x in topo["luns"] if x["name"] == name)["canonical_name"]


def op_state(si, host_name, naa):
    luns = fetch(si, find(si, vim.HostSystem, host_name), "config.storageDevice.scsiLun")
    return next(x for x in luns if x.canonicalName == naa).operationalState


def mount(si, ds_name, host_name):
    host = find(si, vim.HostSystem, host_name)
    m = next(m for m in fetch(si, find(si, vim.Datastore, ds_name), "host") if m.key == host).mountInfo
    return m.accessible, m.inaccessibleReason


def post(lab, kind, body):
    req = urllib.request.Request(lab.control + f"/v1/fault/{kind}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# -- operational states ---------------------------------------------------------------------------

def test_documented_readings_by_default(si, lab, topo):
    gold = canonical(topo, "gold01")
    lab.fault("lun", lun="gold01", state="pdl")
    assert op_state(si, "esx-a01", gold) == ["lostCommunication"]
    lab.fault("lun", lun="gold01", state="apd")
    assert op_state(si, "esx-a01", gold) == ["ok"]
    assert mount(si, "ds-gold", "esx-a01") == (False, "AllPathsDown_Start")
    lab.fault("lun", lun="gold01", state="apd_timeout")
    assert op_state(si, "esx-a01", gold) == ["error"]  # vSphere Storage: "Dead or Error"
    assert mount(si, "ds-gold", "esx-a01") == (False, "AllPathsDown_Timeout")
    lab.fault("lun", lun="gold01", state="ok")
    assert op_state(si, "esx-a01", gold) == ["ok"] and mount(si, "ds-gold", "esx-a01") == (True, None)


@pytest.mark.parametrize("reading", ["lostCommunication", "timeout", "error", "off", "degraded", "quiesced", "unknownState"])
def test_a_lun_fault_selects_any_reading(si, lab, topo, reading):
    silver = canonical(topo, "silver01")
    status, _ = post(lab, "lun", {"lun": "silver01", "state": "apd", "operational_state": reading})
    assert status == 200
    assert op_state(si, "esx-b01", silver) == [reading]
    assert mount(si, "ds-silver", "esx-b01") == (False, "AllPathsDown_Start")  # the mount stays an APD's


def test_degraded_when_a_path_fault_selects_it(si, lab, topo):
    gold = canonical(topo, "gold01")
    path = next(p["name"] for h in topo["hosts"] if h["name"] == "esx-a02" for p in h["paths"] if p["lun"] == "gold01")
    assert post(lab, "path", {"host": "esx-a02", "path": path, "state": "dead", "operational_state": "degraded"})[0] == 200
    assert op_state(si, "esx-a02", gold) == ["degraded"]
    assert op_state(si, "esx-a01", gold) == ["ok"]  # only the host that lost the path
    post(lab, "path", {"host": "esx-a02", "path": path, "state": "ok"})
    assert op_state(si, "esx-a02", gold) == ["ok"]
    # the same for a pulled cable, and a dead array port
    assert post(lab, "hba", {"host": "esx-a02", "hba": "vmhba2", "state": "dead", "operational_state": "degraded"})[0] == 200
    assert op_state(si, "esx-a02", gold) == ["degraded"]
    lab.restore()
    assert post(lab, "target", {"target": "A-ctl0-p0", "state": "dead", "operational_state": "degraded"})[0] == 200
    assert op_state(si, "esx-b03", gold) == ["degraded"]


@pytest.mark.parametrize("kind,body,needle", [
    ("lun", {"lun": "gold01", "state": "apd", "operational_state": "melted"}, "operational_state"),
    ("lun", {"lun": "gold01", "state": "apd", "operational_state": 3}, "operational_state"),
    ("path", {"host": "esx-a01", "path": "vmhba2:C0:T0:L1", "state": "dead", "operational_state": "error"}, "degraded"),
])
def test_bad_readings_are_refused(lab, kind, body, needle):
    status, answer = post(lab, kind, body)
    assert status == 400 and needle in answer["error"]


def test_the_truth_keeps_an_apd_an_apd_whatever_the_reading(lab, conn):
    """The product: a LUN in APD whose operational state reads lostCommunication (or error, after the
    timeout) is still all paths down: its mounts say APD, not PDL."""
    for reading in ("lostCommunication", "error"):
        post(lab, "lun", {"lun": "silver01", "state": "apd", "operational_state": reading})
        inv = snapshot(conn)
        silver = next(d for d in inv.datastores.values() if d.name == "ds-silver").moref
        verdicts = {t.verdict for t in disk_truths(inv) if silver in t.disk.datastores}
        assert verdicts == {Verdict.ALL_PATHS_DOWN}, reading


# -- the hosts' advanced options -------------------------------------------------------------------

def options(host) -> dict:
    return {o.key: o.value for o in host.configManager.advancedOption.setting}


def test_advanced_options_per_host(si, lab):
    a01, a02 = find(si, vim.HostSystem, "esx-a01"), find(si, vim.HostSystem, "esx-a02")
    om = a01.configManager.advancedOption
    assert om != a02.configManager.advancedOption  # each host its own
    got = {o.key: o.value for o in om.QueryOptions("Misc.APD")}
    assert got == {"Misc.APDHandlingEnable": 1, "Misc.APDTimeout": 140}
    assert {o.key: o.value for o in om.QueryOptions("Disk.AutoremoveOnPDL")} == {"Disk.AutoremoveOnPDL": 1}
    assert all(isinstance(v, int) for v in got.values())
    timeout = next(d for d in om.supportedOption if d.key == "Misc.APDTimeout").optionType
    assert isinstance(timeout, vim.option.LongOption) and (timeout.min, timeout.max, timeout.defaultValue) == (20, 99999, 140)
    om.UpdateOptions(changedValue=[vim.option.OptionValue(key="Misc.APDTimeout", value=30)])
    assert options(a01)["Misc.APDTimeout"] == 30 and options(a02)["Misc.APDTimeout"] == 140
    with pytest.raises(vim.fault.InvalidName):
        om.QueryOptions("Nothing.Here")
    with pytest.raises(vim.fault.InvalidName):
        om.UpdateOptions(changedValue=[vim.option.OptionValue(key="Misc.NoSuchOption", value=1)])
    for bad in (5, 100000, "60"):
        with pytest.raises(vmodl.fault.InvalidArgument):
            om.UpdateOptions(changedValue=[vim.option.OptionValue(key="Misc.APDTimeout", value=bad)])
    assert options(a01)["Misc.APDTimeout"] == 30
    lab.restore()  # the topology's initial state, options included
    assert options(a01)["Misc.APDTimeout"] == 140


def test_read_only_user_cannot_change_options(lab):
    from pyVim.connect import Disconnect

    ro = connect(lab.info, "readonly", "readonly")
    try:
        host = find(ro, vim.HostSystem, "esx-a01")
        assert options(host)["Misc.APDTimeout"] == 140
        with pytest.raises(vim.fault.NoPermission):
            host.configManager.advancedOption.UpdateOptions(
                changedValue=[vim.option.OptionValue(key="Misc.APDTimeout", value=30)])
    finally:
        Disconnect(ro)


def test_an_apd_times_out_after_misc_apdtimeout(si, lab, topo):
    """Misc.APDTimeout is read when the APD starts (20 s here, its minimum); a host with APD handling off
    never times out; a host with the default (140 s) is still in APD meanwhile."""
    gold = canonical(topo, "gold01")
    a01, b01 = find(si, vim.HostSystem, "esx-a01"), find(si, vim.HostSystem, "esx-b01")
    a01.configManager.advancedOption.UpdateOptions(changedValue=[vim.option.OptionValue(key="Misc.APDTimeout", value=20)])
    b01.configManager.advancedOption.UpdateOptions(changedValue=[
        vim.option.OptionValue(key="Misc.APDTimeout", value=20), vim.option.OptionValue(key="Misc.APDHandlingEnable", value=0)])
    ds = find(si, vim.Datastore, "ds-gold")
    watcher = si.content.propertyCollector.CreatePropertyCollector()
    try:
        watcher.CreateFilter(PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=ds)], propSet=[PC.PropertySpec(type=vim.Datastore, pathSet=["host"])]), True)
        version = watcher.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=0)).version
        start_key = si.content.eventManager.latestEvent.key
        started = time.monotonic()
        lab.fault("lun", lun="gold01", state="apd")
        # a later change does not take effect for this APD
        a01.configManager.advancedOption.UpdateOptions(changedValue=[vim.option.OptionValue(key="Misc.APDTimeout", value=99999)])
        assert mount(si, "ds-gold", "esx-a01") == (False, "AllPathsDown_Start")
        timed_out = None
        while time.monotonic() - started < 40 and timed_out is None:
            update = watcher.WaitForUpdatesEx(version, PC.WaitOptions(maxWaitSeconds=5))
            if update is None:
                continue
            version = update.version
            for f in update.filterSet:
                for o in f.objectSet:
                    for c in o.changeSet:
                        if any(m.key == a01 and m.mountInfo.inaccessibleReason == "AllPathsDown_Timeout" for m in c.val):
                            timed_out = time.monotonic() - started
        assert timed_out is not None and 19 <= timed_out <= 30, timed_out
        assert op_state(si, "esx-a01", gold) == ["error"]
        assert mount(si, "ds-gold", "esx-a02") == (False, "AllPathsDown_Start")  # 140 s there
        assert mount(si, "ds-gold", "esx-b01") == (False, "AllPathsDown_Start")  # no APD handling
        spec = vim.event.EventFilterSpec(eventTypeId=["esx.problem.storage.apd.timeout"], maxCount=100)
        posted = [e for e in si.content.eventManager.QueryEvents(spec) if e.key > start_key]
        assert [(e.host.name, {a.key: a.value for a in e.arguments}) for e in posted] == [("esx-a01", {"1": gold, "2": "20"})]
        # handling enabled again during the APD: the timer starts with the current value
        b01.configManager.advancedOption.UpdateOptions(changedValue=[vim.option.OptionValue(key="Misc.APDHandlingEnable", value=1)])
        assert mount(si, "ds-gold", "esx-b01") == (False, "AllPathsDown_Start")
    finally:
        watcher.DestroyPropertyCollector()
