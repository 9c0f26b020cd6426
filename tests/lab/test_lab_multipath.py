"""Multipathing as ESXi reports it (lab/README.md, "Multipathing"): ALUA arrays whose non-owning controller
is active/non-optimized or standby, a symmetric active/active array, and the path selection policy
deciding which paths carry I/O (isWorkingPath) as paths die and come back; a pulled cable and what a
rescan does to its dead paths.
"""

from __future__ import annotations

import pytest
from pyVmomi import vim

from fakes.reads import fetch, find

pytestmark = pytest.mark.lab



@pytest.fixture(scope="module")
def topo(lab):
    return lab.topology()


def unit(si, host, topo, lun_name):
    """(the LogicalUnit of the LUN on the host, {path name: path})."""
    uuid = next(x for x in topo["luns"] if x["name"] == lun_name)["uuid"]
    mpi = fetch(si, host, "config.storageDevice.multipathInfo")
    lu = next(lu for lu in mpi.lun if lu.id == uuid)
    return lu, {p.name: p for p in lu.path}


def working(si, host, topo, lun_name) -> set[str]:
    return {p.name for p in unit(si, host, topo, lun_name)[0].path if p.isWorkingPath}


def states(si, host, topo, lun_name) -> dict[str, str]:
    return {p.name: p.state for p in unit(si, host, topo, lun_name)[0].path}


def consistent(si, host):
    """config.multipathState says what multipathInfo says, path by path."""
    info = {p.name: p.pathState for lu in fetch(si, host, "config.storageDevice.multipathInfo").lun for p in lu.path}
    assert {p.name: p.pathState for p in fetch(si, host, "config.multipathState").path} == info
    return info


def paths_of(topo, host, lun, optimized=None):
    h = next(h for h in topo["hosts"] if h["name"] == host)
    return [p["name"] for p in h["paths"] if p["lun"] == lun and (optimized is None or p["optimized"] == optimized)]


# -- ALUA and the path selection policies --------------------------------------------------------

def test_round_robin_uses_the_optimized_paths_then_the_non_optimized(si, lab, topo):
    host = find(si, vim.HostSystem, "esx-a01")
    lu, _ = unit(si, host, topo, "gold01")
    assert (lu.policy.policy, lu.storageArrayTypePolicy.policy) == ("VMW_PSP_RR", "VMW_SATP_ALUA")
    optimized, other = paths_of(topo, "esx-a01", "gold01", True), paths_of(topo, "esx-a01", "gold01", False)
    assert len(optimized) == len(other) == 2
    assert set(states(si, host, topo, "gold01").values()) == {"active"}  # active/non-optimized is active
    assert working(si, host, topo, "gold01") == set(optimized)
    for p in optimized:
        lab.fault("path", host="esx-a01", path=p, state="dead")
    assert working(si, host, topo, "gold01") == set(other)  # no optimized path left
    info = consistent(si, host)
    assert [info[p] for p in other] == ["active", "active"]


def test_mru_fails_over_and_back_to_an_optimized_path(si, lab, topo):
    """MRU keeps the path it uses while it works, but with ALUA an optimized path is better than a
    non-optimized one (vSphere Storage, "Multipathing Considerations")."""
    host = find(si, vim.HostSystem, "esx-a01")
    lu, _ = unit(si, host, topo, "silver01")
    assert lu.policy.policy == "VMW_PSP_MRU"
    optimized = paths_of(topo, "esx-a01", "silver01", True)
    first = working(si, host, topo, "silver01")
    assert len(first) == 1 and first <= set(optimized)
    lab.fault("path", host="esx-a01", path=first.pop(), state="dead")
    second = working(si, host, topo, "silver01")
    assert second == set(optimized) - {p for p, s in states(si, host, topo, "silver01").items() if s == "dead"}
    lab.fault("path", host="esx-a01", path=next(iter(second)), state="dead")
    third = working(si, host, topo, "silver01")  # every optimized path dead: a non-optimized one
    assert len(third) == 1 and not third & set(optimized)
    lab.fault("path", host="esx-a01", path=optimized[1], state="ok")
    assert working(si, host, topo, "silver01") == {optimized[1]}  # an optimized path is back: MRU takes it
    lab.fault("path", host="esx-a01", path=optimized[0], state="ok")
    assert working(si, host, topo, "silver01") == {optimized[1]}  # most recently used: no move to another
    consistent(si, host)


def test_fixed_fails_back_to_its_preferred_path(si, lab, topo):
    host = find(si, vim.HostSystem, "esx-a01")
    lu, _ = unit(si, host, topo, "span02")
    assert lu.policy.policy == "VMW_PSP_FIXED" and isinstance(lu.policy, vim.host.MultipathInfo.FixedLogicalUnitPolicy)
    prefer = lu.policy.prefer
    assert prefer in paths_of(topo, "esx-a01", "span02", True) and working(si, host, topo, "span02") == {prefer}
    lab.fault("path", host="esx-a01", path=prefer, state="dead")
    other = working(si, host, topo, "span02")
    assert len(other) == 1 and prefer not in other
    lab.fault("path", host="esx-a01", path=prefer, state="ok")
    assert working(si, host, topo, "span02") == {prefer}


def test_symmetric_active_active_array(si, topo):
    host = find(si, vim.HostSystem, "esx-b03")
    lu, paths = unit(si, host, topo, "gold01-r")
    assert lu.storageArrayTypePolicy.policy == "VMW_SATP_DEFAULT_AA" and lu.policy.policy == "VMW_PSP_RR"
    assert {p.state for p in paths.values()} == {"active"} and all(p.isWorkingPath for p in paths.values())


def test_alua_standby_array_activates_its_standby_paths(si, lab, topo):
    host = find(si, vim.HostSystem, "esx-b01")
    arch = states(si, host, topo, "arch01")
    active = sorted(p for p, s in arch.items() if s == "active")
    standby = sorted(p for p, s in arch.items() if s == "standby")
    assert len(active) == len(standby) == 2
    assert working(si, host, topo, "arch01") <= set(active) and len(working(si, host, topo, "arch01")) == 1
    for p in active:
        lab.fault("path", host="esx-b01", path=p, state="dead")
    after = states(si, host, topo, "arch01")
    assert [after[p] for p in standby] == ["active", "active"]  # the SATP activated the standby group
    assert len(working(si, host, topo, "arch01") & set(standby)) == 1
    archive = find(si, vim.Datastore, "ds-archive")
    assert next(m for m in fetch(si, archive, "host") if m.key == host).mountInfo.accessible
    consistent(si, host)


# -- a pulled cable --------------------------------------------------------------------------------

def test_a_pulled_cable_shows_the_link_down(si, lab):
    host = find(si, vim.HostSystem, "esx-a02")
    lab.fault("hba", host="esx-a02", hba="vmhba3", state="dead")
    hbas = {a.device: a for a in fetch(si, host, "config.storageDevice.hostBusAdapter")}
    assert (hbas["vmhba3"].status, hbas["vmhba3"].portType, hbas["vmhba3"].speed) == ("offline", "unknown", 0)
    assert (hbas["vmhba2"].status, hbas["vmhba2"].portType, hbas["vmhba2"].speed) == ("online", "fabric", 32)
    ss = fetch(si, host, "configManager.storageSystem")
    assert {a.device: a.status for a in ss.storageDeviceInfo.hostBusAdapter}["vmhba3"] == "offline"
    lab.fault("hba", host="esx-a02", hba="vmhba3", state="ok")
    hbas = {a.device: a for a in fetch(si, host, "config.storageDevice.hostBusAdapter")}
    assert (hbas["vmhba3"].status, hbas["vmhba3"].portType, hbas["vmhba3"].speed) == ("online", "fabric", 32)


def test_a_rescan_drops_the_dead_paths_of_a_pulled_cable(si, lab, topo):
    host = find(si, vim.HostSystem, "esx-a02")
    ss = host.configManager.storageSystem
    before = consistent(si, host)
    luns = len(fetch(si, host, "config.storageDevice.scsiLun"))
    lab.fault("hba", host="esx-a02", hba="vmhba3", state="dead")
    dead = {p for p, s in consistent(si, host).items() if s == "dead"}
    assert dead == {p for p in before if p.startswith("vmhba3:")}
    ss.RefreshStorageSystem()  # re-reads: the dead paths stay listed
    assert {p for p, s in consistent(si, host).items() if s == "dead"} == dead
    ss.RescanHba("vmhba2")  # another adapter: nothing to drop there
    assert {p for p, s in consistent(si, host).items() if s == "dead"} == dead
    ss.RescanAllHba()  # the targets behind the pulled cable are gone: so are their paths
    after = consistent(si, host)
    assert set(after) == set(before) - dead and "dead" not in after.values()
    assert len(fetch(si, host, "config.storageDevice.scsiLun")) == luns  # the devices stay
    topology = fetch(si, host, "config.storageDevice.scsiTopology")
    vmhba3 = next(a for a in topology.adapter if a.adapter.endswith("vmhba3"))
    assert vmhba3.target == []
    lab.fault("hba", host="esx-a02", hba="vmhba3", state="ok")  # plugged back: the paths are found again
    assert consistent(si, host) == before
    assert host.configIssue == []  # and the redundancy problems are cleared


def test_a_rescan_keeps_the_dead_paths_of_a_device_in_apd(si, lab, topo):
    host = find(si, vim.HostSystem, "esx-a02")
    before = consistent(si, host)
    for hba in ("vmhba2", "vmhba3"):
        lab.fault("hba", host="esx-a02", hba=hba, state="dead")
    host.configManager.storageSystem.RescanAllHba()
    after = consistent(si, host)
    assert set(after) == set(before)  # no array LUN has a working path left: they stay in APD
    assert {s for p, s in after.items() if not p.startswith("vmhba0:")} == {"dead"}
