"""Fault injection (lab/README.md, "The control API"): every fault is visible to a fresh read and to a
WaitForUpdatesEx watcher within a second, restore brings back the healthy state, the API rejects what
it does not know, and the multipath SOAP methods of HostStorageSystem work.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from pyVmomi import vim, vmodl

pytestmark = pytest.mark.lab

WITHIN = 1.0  # seconds: how soon a watcher must see a fault (README)
PC = vmodl.query.PropertyCollector
HOST = "esx-a01"
GOLD_PATH = "vmhba2:C0:T0:L1"  # gold01 (LUN 1) through A-ctl0-p0: active


# -- helpers ------------------------------------------------------------------------------------

def find(si, kind, name):
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    try:
        for obj in view.view:
            if obj.name == name:
                return obj
    finally:
        view.Destroy()
    raise LookupError(name)


def fetch(si, obj, path):
    """A fresh read of one property path of one object."""
    spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=obj)], propSet=[PC.PropertySpec(type=type(obj), pathSet=[path])])
    result = si.content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
    for o in result.objects:
        for p in o.propSet:
            if p.name == path:
                return p.val
    return None


class Watcher:
    """A WaitForUpdatesEx watcher of some property paths of one object, on its own collector."""

    def __init__(self, si, obj, *paths):
        self.pc = si.content.propertyCollector.CreatePropertyCollector()
        spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=obj)], propSet=[PC.PropertySpec(type=type(obj), pathSet=list(paths))])
        self.pc.CreateFilter(spec, True)
        self.version = self.pc.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=0)).version

    def next(self, max_wait=3):
        """(seconds waited, {changed path: value}) of the next update."""
        start = time.monotonic()
        result = self.pc.WaitForUpdatesEx(self.version, PC.WaitOptions(maxWaitSeconds=max_wait))
        waited = time.monotonic() - start
        if result is None:
            return waited, {}
        self.version = result.version
        return waited, {c.name: c.val for f in result.filterSet for o in f.objectSet for c in o.changeSet}

    def close(self):
        self.pc.DestroyPropertyCollector()


@pytest.fixture
def watch(si):
    watchers = []

    def make(obj, *paths):
        w = Watcher(si, obj, *paths)
        watchers.append(w)
        return w

    yield make
    for w in watchers:
        w.close()


def expect_update(watcher, path):
    waited, changes = watcher.next()
    assert changes, "the watcher saw nothing"
    assert waited < WITHIN, f"the watcher saw the fault after {waited:.2f}s"
    assert path in changes, f"watched {path}, got {sorted(changes)}"
    return changes[path]


def call(lab, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(lab.control + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def path_states(multipath_info):
    return {p.name: p.pathState for lu in multipath_info.lun for p in lu.path}


def health(si):
    """Everything faults can change, from fresh reads."""
    content = si.RetrieveContent()
    out = {}
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    for h in view.view:
        sd = fetch(si, h, "config.storageDevice")
        out[h.name] = (
            fetch(si, h, "runtime.connectionState"),
            tuple(sorted(path_states(sd.multipathInfo).items())),
            tuple(sorted((a.device, a.status) for a in sd.hostBusAdapter)),
            tuple(sorted((lun.canonicalName, tuple(lun.operationalState)) for lun in sd.scsiLun)),
        )
    view.Destroy()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.Datastore], True)
    for ds in view.view:
        out[ds.name] = (
            fetch(si, ds, "summary.accessible"),
            tuple(sorted((m.key._moId, m.mountInfo.accessible, m.mountInfo.inaccessibleReason or "") for m in fetch(si, ds, "host"))),
        )
    view.Destroy()
    return out


@pytest.fixture(scope="module")
def healthy(si, lab):
    lab.restore()
    return health(si)


@pytest.fixture(scope="module")
def topo(lab):
    return lab.topology()


def lun(topo, name):
    return next(x for x in topo["luns"] if x["name"] == name)


# -- path ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("watched", ["config.storageDevice", "config.storageDevice.multipathInfo", "config.multipathState"])
def test_path_dead_seen_by_watcher_and_fresh_read(si, lab, watch, healthy, watched):
    host = find(si, vim.HostSystem, HOST)
    w = watch(host, watched)
    lab.fault("path", host=HOST, path=GOLD_PATH, state="dead")
    value = expect_update(w, watched)
    if watched == "config.multipathState":
        assert {p.name: p.pathState for p in value.path}[GOLD_PATH] == "dead"
    else:
        info = value.multipathInfo if watched == "config.storageDevice" else value
        assert path_states(info)[GOLD_PATH] == "dead"
    # fresh reads, everywhere a client may look
    mpi = fetch(si, host, "config.storageDevice.multipathInfo")
    path = next(p for lu in mpi.lun for p in lu.path if p.name == GOLD_PATH)
    assert (path.pathState, path.state, path.isWorkingPath) == ("dead", "dead", False)
    assert {p.name: p.pathState for p in fetch(si, host, "config.multipathState").path}[GOLD_PATH] == "dead"
    ss = fetch(si, host, "configManager.storageSystem")
    assert {p.name: p.pathState for p in ss.multipathStateInfo.path}[GOLD_PATH] == "dead"
    # one dead path of four: the datastore stays accessible
    gold = find(si, vim.Datastore, "ds-gold")
    assert all(m.mountInfo.accessible for m in fetch(si, gold, "host"))
    # other hosts untouched
    other = find(si, vim.HostSystem, "esx-a02")
    assert path_states(fetch(si, other, "config.storageDevice.multipathInfo"))[GOLD_PATH] == "active"

    lab.restore()
    value = expect_update(w, watched)
    assert health(si) == healthy


@pytest.mark.parametrize("state", ["active", "standby", "disabled", "dead"])
def test_path_states(si, lab, state):
    host = find(si, vim.HostSystem, HOST)
    lab.fault("path", host=HOST, path="vmhba3:C0:T1:L2", state=state)
    assert path_states(fetch(si, host, "config.storageDevice.multipathInfo"))["vmhba3:C0:T1:L2"] == state


def test_all_paths_of_a_lun_dead_on_one_host_is_a_host_local_apd(si, lab, watch):
    host = find(si, vim.HostSystem, HOST)
    gold = find(si, vim.Datastore, "ds-gold")
    w = watch(gold, "host")
    for p in ("vmhba2:C0:T0:L1", "vmhba2:C0:T1:L1", "vmhba3:C0:T0:L1", "vmhba3:C0:T1:L1"):
        lab.fault("path", host=HOST, path=p, state="dead")
    mounts = {m.key._moId: m.mountInfo for m in expect_update(w, "host")}
    assert mounts[host._moId].accessible is False
    assert mounts[host._moId].inaccessibleReason == "AllPathsDown_Start"
    assert sum(m.accessible for m in mounts.values()) == len(mounts) - 1 == 6, "the other hosts still reach ds-gold"
    assert fetch(si, gold, "summary.accessible") is True


# -- hba ----------------------------------------------------------------------------------------

def test_hba_dead(si, lab, watch, healthy):
    host = find(si, vim.HostSystem, HOST)
    w = watch(host, "config.storageDevice.hostBusAdapter")
    lab.fault("hba", host=HOST, hba="vmhba2", state="dead")
    hbas = {a.device: a.status for a in expect_update(w, "config.storageDevice.hostBusAdapter")}
    assert hbas["vmhba2"] == "offline" and hbas["vmhba3"] == "online"
    states = path_states(fetch(si, host, "config.storageDevice.multipathInfo"))
    for name, state in states.items():
        if name.startswith("vmhba2:"):
            assert state == "dead"
        elif name.startswith("vmhba3:"):
            assert state in ("active", "standby")
    lab.fault("hba", host=HOST, hba="vmhba2", state="ok")
    hbas = {a.device: a.status for a in expect_update(w, "config.storageDevice.hostBusAdapter")}
    assert hbas["vmhba2"] == "online"
    assert health(si) == healthy


# -- target -------------------------------------------------------------------------------------

def test_target_dead_on_every_host(si, lab, watch, topo):
    target = "A-ctl0-p0"
    b03 = find(si, vim.HostSystem, "esx-b03")
    w = watch(b03, "config.storageDevice.multipathInfo")
    lab.fault("target", target=target, state="dead")
    expect_update(w, "config.storageDevice.multipathInfo")
    for th in topo["hosts"]:
        host = find(si, vim.HostSystem, th["name"])
        states = path_states(fetch(si, host, "config.storageDevice.multipathInfo"))
        for p in th["paths"]:
            if p["canonical_name"].startswith("eui."):
                continue  # the NVMe namespace's paths are not in multipathInfo (HPP)
            if p["target"] == target:
                assert states[p["name"]] == "dead", (th["name"], p["name"])
            else:
                assert states[p["name"]] == p["initial_state"]
    after = {t["name"]: t["state"] for t in lab.topology()["targets"]}
    assert after[target] == "dead" and after["A-ctl1-p0"] == "ok"


def test_fabric_dead_takes_every_hba_and_port_on_it(si, lab, watch, topo, healthy):
    """A switch failure: every HBA cabled to fabric A offline (no light: port type unknown, speed 0), every path
    through fabric A dead on every host, fabric B untouched; LUNs on fabric A only lose every path."""
    b02 = find(si, vim.HostSystem, "esx-b02")
    w = watch(b02, "config.storageDevice.hostBusAdapter")
    lab.fault("fabric", fabric="A", state="dead")
    hbas = {a.device: a for a in expect_update(w, "config.storageDevice.hostBusAdapter")}
    assert hbas["vmhba2"].status == "offline" and hbas["vmhba2"].portType == "unknown" and hbas["vmhba2"].speed == 0
    assert hbas["vmhba3"].status == "online"
    ports = {t["name"]: t["port"] for t in topo["targets"]}
    edge = lun(topo, "edge01")["canonical_name"]
    for th in topo["hosts"]:
        host = find(si, vim.HostSystem, th["name"])
        states = path_states(fetch(si, host, "config.storageDevice.multipathInfo"))
        for p in th["paths"]:
            if p["canonical_name"].startswith("eui."):
                continue  # an NVMe namespace's path: HPP, not in multipathInfo (test_lab_truth_cases.py)
            on_a = p["target"] and ports[p["target"]] == 0
            assert states[p["name"]] == ("dead" if on_a else p["initial_state"]), (th["name"], p["name"])
        if th["name"] != "esx-b04":
            assert {p["name"] for p in th["paths"] if p["canonical_name"] == edge} <= \
                {n for n, st in states.items() if st == "dead"}
    after = lab.topology()
    assert {f["name"]: f["state"] for f in after["fabrics"]} == {"A": "dead", "B": "ok"}
    assert {t["name"]: t["state"] for t in after["targets"]}["A-ctl0-p0"] == "dead"
    b04 = next(h for h in after["hosts"] if h["name"] == "esx-b04")
    assert {a["device"]: a["status"] for a in b04["hbas"]}["vmhba2"] == "online"  # cabled to fabric B
    lab.fault("fabric", fabric="A", state="ok")
    assert {a.device: a.status for a in expect_update(w, "config.storageDevice.hostBusAdapter")}["vmhba2"] == "online"
    assert health(si) == healthy


def test_a_fabric_outage_and_a_cable_pull_are_separate_faults(si, lab):
    lab.fault("hba", host=HOST, hba="vmhba2", state="dead")
    lab.fault("fabric", fabric="A", state="dead")
    lab.fault("fabric", fabric="A", state="ok")
    host = next(h for h in lab.topology()["hosts"] if h["name"] == HOST)
    assert {a["device"]: a["status"] for a in host["hbas"]}["vmhba2"] == "offline"  # still pulled
    for body, error in (({"fabric": "C", "state": "dead"}, "unknown fabric 'C'"),
                        ({"fabric": "A", "state": "burning"}, "must be dead or ok")):
        with pytest.raises(Exception, match=error):
            lab.fault("fabric", **body)


# -- lun ----------------------------------------------------------------------------------------

def test_lun_pdl(si, lab, watch, topo, healthy):
    gold = find(si, vim.Datastore, "ds-gold")
    host = find(si, vim.HostSystem, "esx-b02")
    w_ds = watch(gold, "host", "summary.accessible")
    w_summary = watch(gold, "summary")
    w_host = watch(host, "config.storageDevice.scsiLun")
    lab.fault("lun", lun="gold01", state="pdl")
    canonical = lun(topo, "gold01")["canonical_name"]

    luns = {x.canonicalName: x for x in expect_update(w_host, "config.storageDevice.scsiLun")}
    assert luns[canonical].operationalState == ["lostCommunication"]
    assert expect_update(w_summary, "summary").accessible is False
    waited, changes = w_ds.next()
    assert waited < WITHIN and changes["summary.accessible"] is False
    for m in changes["host"]:
        assert (m.mountInfo.accessible, m.mountInfo.inaccessibleReason) == (False, "PermanentDeviceLoss")
    # fresh reads on every host
    for th in topo["hosts"]:
        h = find(si, vim.HostSystem, th["name"])
        sd = fetch(si, h, "config.storageDevice")
        assert {x.canonicalName: x for x in sd.scsiLun}[canonical].operationalState == ["lostCommunication"]
        lu = next(lu for lu in sd.multipathInfo.lun if lu.id == lun(topo, "gold01")["uuid"])
        fc = [a for a in th["hbas"] if a.get("fabric") and not a.get("protocol")]
        assert len(lu.path) == 2 * len(fc) and {p.pathState for p in lu.path} == {"dead"}  # esx-b04: one HBA
        vol = {m.volume.name: m.mountInfo for m in fetch(si, h, "config.fileSystemVolume").mountInfo}["ds-gold"]
        assert (vol.accessible, vol.inaccessibleReason) == (False, "PermanentDeviceLoss")
    assert fetch(si, gold, "summary.accessible") is False
    # the replica is fine
    assert fetch(si, find(si, vim.Datastore, "ds-gold-replica"), "summary.accessible") is True

    lab.restore()
    assert expect_update(w_summary, "summary").accessible is True
    assert health(si) == healthy


@pytest.mark.parametrize("state,reason,operational", [
    ("apd", "AllPathsDown_Start", "ok"),  # undocumented: the device keeps its state until the timeout
    ("apd_timeout", "AllPathsDown_Timeout", "error"),  # vSphere Storage: "Dead or Error"
])
def test_lun_apd(si, lab, watch, topo, state, reason, operational):
    span = find(si, vim.Datastore, "ds-span")
    w = watch(span, "host")
    lab.fault("lun", lun=lun(topo, "span02")["canonical_name"], state=state)  # by canonical name
    mounts = expect_update(w, "host")
    assert {(m.mountInfo.accessible, m.mountInfo.inaccessibleReason) for m in mounts} == {(False, reason)}
    host = find(si, vim.HostSystem, "esx-a03")
    sd = fetch(si, host, "config.storageDevice")
    lu = next(lu for lu in sd.multipathInfo.lun if lu.id == lun(topo, "span02")["uuid"])
    assert {p.pathState for p in lu.path} == {"dead"}
    assert {x.canonicalName: x for x in sd.scsiLun}[lun(topo, "span02")["canonical_name"]].operationalState == [operational]
    assert fetch(si, span, "summary.accessible") is False


# -- host ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["disconnected", "notResponding"])
def test_host_connection_state(si, lab, watch, state, healthy):
    host = find(si, vim.HostSystem, "esx-b01")
    w = watch(host, "runtime.connectionState")
    w_summary = watch(host, "summary.runtime")
    lab.fault("host", host="esx-b01", state=state)
    assert expect_update(w, "runtime.connectionState") == state
    assert expect_update(w_summary, "summary.runtime").connectionState == state
    assert fetch(si, host, "runtime.connectionState") == state
    assert fetch(si, host, "summary.runtime.connectionState") == state
    for vm in fetch(si, host, "vm"):
        assert fetch(si, vm, "runtime.connectionState") == "disconnected"
    lab.fault("host", host="esx-b01", state="connected")
    assert expect_update(w, "runtime.connectionState") == "connected"
    assert health(si) == healthy


# -- restore ------------------------------------------------------------------------------------

def test_restore_returns_to_healthy(si, lab, healthy):
    lab.fault("path", host=HOST, path=GOLD_PATH, state="disabled")
    lab.fault("hba", host="esx-a02", hba="vmhba3", state="dead")
    lab.fault("target", target="A-ctl1-p1", state="dead")
    lab.fault("lun", lun="silver01", state="pdl")
    lab.fault("lun", lun="bronze01", state="apd_timeout")
    lab.fault("host", host="esx-b03", state="notResponding")
    assert health(si) != healthy
    assert lab.restore() == {"ok": True}
    assert health(si) == healthy
    assert lab.restore() == {"ok": True}, "restore is idempotent"


# -- the control API itself ------------------------------------------------------------------------

def test_health_and_topology(lab):
    assert call(lab, "GET", "/v1/health") == (200, {"ok": True})
    status, topo = call(lab, "GET", "/v1/topology")
    assert status == 200
    assert {"hosts", "luns", "targets", "datastores", "vms"} <= set(topo)
    host = next(h for h in topo["hosts"] if h["name"] == HOST)
    assert {"name", "lun", "hba", "target", "state"} <= set(host["paths"][0])


@pytest.mark.parametrize("kind,body,code,needle", [
    ("path", {"host": "esx-z9", "path": GOLD_PATH, "state": "dead"}, 404, "esx-z9"),
    ("path", {"host": HOST, "path": "vmhba9:C0:T0:L1", "state": "dead"}, 404, "vmhba9:C0:T0:L1"),
    ("path", {"host": HOST, "path": GOLD_PATH, "state": "melted"}, 400, "state"),
    ("path", {"host": HOST, "state": "dead"}, 400, "path"),
    ("hba", {"host": HOST, "hba": "vmhba7", "state": "dead"}, 404, "vmhba7"),
    ("hba", {"host": "esx-z9", "hba": "vmhba2", "state": "dead"}, 404, "esx-z9"),
    ("target", {"target": "Z-ctl0-p0", "state": "dead"}, 404, "Z-ctl0-p0"),
    ("lun", {"lun": "platinum01", "state": "pdl"}, 404, "platinum01"),
    ("lun", {"lun": "gold01", "state": "melted"}, 400, "pdl"),
    ("host", {"host": "esx-z9", "state": "disconnected"}, 404, "esx-z9"),
    ("host", {"host": HOST, "state": "asleep"}, 400, "disconnected"),
    ("switch", {"switch": "sw1", "state": "dead"}, 404, "switch"),
])
def test_control_api_errors(lab, kind, body, code, needle):
    status, answer = call(lab, "POST", f"/v1/fault/{kind}", body)
    assert status == code
    assert needle in answer["error"]


def test_control_api_rejects_bad_requests(lab):
    assert call(lab, "GET", "/v1/fault/path")[0] == 405
    assert call(lab, "GET", "/v1/nothing")[0] == 404
    req = urllib.request.Request(lab.control + "/v1/fault/lun", data=b"not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400
    assert "error" in json.loads(err.value.read())


# -- HostStorageSystem SOAP methods ------------------------------------------------------------------

def test_disable_enable_multipath_path(si, lab, watch, healthy):
    host = find(si, vim.HostSystem, HOST)
    ss = host.configManager.storageSystem
    w = watch(host, "config.storageDevice.multipathInfo")
    w_ss = watch(ss, "multipathStateInfo")
    ss.DisableMultipathPath(pathName=GOLD_PATH)
    assert path_states(expect_update(w, "config.storageDevice.multipathInfo"))[GOLD_PATH] == "disabled"
    assert {p.name: p.pathState for p in expect_update(w_ss, "multipathStateInfo").path}[GOLD_PATH] == "disabled"
    assert path_states(fetch(si, host, "config.storageDevice.multipathInfo"))[GOLD_PATH] == "disabled"
    topo_path = next(p for p in next(h for h in lab.topology()["hosts"] if h["name"] == HOST)["paths"] if p["name"] == GOLD_PATH)
    assert topo_path["state"] == "disabled"
    ss.EnableMultipathPath(pathName=GOLD_PATH)
    assert path_states(expect_update(w, "config.storageDevice.multipathInfo"))[GOLD_PATH] == "active"
    assert health(si) == healthy


def test_multipath_methods_errors(si, lab):
    host = find(si, vim.HostSystem, HOST)
    ss = host.configManager.storageSystem
    with pytest.raises(vim.fault.NotFound):
        ss.DisableMultipathPath(pathName="vmhba9:C0:T0:L1")
    # enabling a path that a fault killed does not revive it
    lab.fault("path", host=HOST, path=GOLD_PATH, state="dead")
    ss.EnableMultipathPath(pathName=GOLD_PATH)
    assert path_states(fetch(si, host, "config.storageDevice.multipathInfo"))[GOLD_PATH] == "dead"


def test_refresh_and_rescan_keep_state(si, lab):
    host = find(si, vim.HostSystem, HOST)
    ss = host.configManager.storageSystem
    lab.fault("path", host=HOST, path=GOLD_PATH, state="dead")
    ss.RefreshStorageSystem()
    ss.RescanAllHba()
    sd = fetch(si, host, "config.storageDevice")
    assert path_states(sd.multipathInfo)[GOLD_PATH] == "dead"
    assert {a.device for a in sd.hostBusAdapter} == {"vmhba0", "vmhba2", "vmhba3"}
