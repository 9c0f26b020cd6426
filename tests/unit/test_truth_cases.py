"""The cases a real vSphere shows and the lab used to hide, on plain data: the storage events folded into
evidence and time, the collector reading ALUA, policies and NVMe topology, the service level read one way
everywhere, a disconnected host and a power cycle in the reconciler, RDM mapping files and a move that cannot
happen in the planner and guard rails, and a recorded vCenter replayed offline. (The verdict rules
themselves, fault by fault: test_truth.py.)"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pyVmomi import vim

from vsguesttruth.config import GuestConfig, RemediationConfig
from vsguesttruth.guestinfo import POLICY, STATE, Levels
from vsguesttruth.model import Datastore, DeviceEvent, Lun, Mount, PathState, Vmcp
from vsguesttruth.plan import Action, plan, plan_move
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.remediation.vmcp import ha_words
from vsguesttruth.truth import Advice, TruthContext, Verdict, disk_truths, host_summary
from vsguesttruth.truth.events import HostEvent, fold
from vsguesttruth.vcenter import convert
from vsguesttruth.vcenter.capture import replay
from vsguesttruth.vcenter.eventfeed import host_event

from fakes import inventory as f
from fakes.reconcile import reconciler

LAB = f.lab_inventory()
GOLD = f.naa("gold01")
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
DATA = Path(__file__).parent / "data"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- 1, 12: the hosts' storage events as evidence and as time -------------------------------------------


def test_folded_events_keep_when_an_apd_began_and_close_on_their_clear():
    events = [HostEvent(1, at(0), "esx.problem.storage.apd.start", "host-10", GOLD),
              HostEvent(2, at(140), "esx.problem.storage.apd.timeout", "host-10", GOLD)]
    open_ = fold({}, events)
    [apd] = open_[("host-10", GOLD)]
    assert (apd.kind, apd.since, apd.event_type) == ("apd_timeout", at(0), "esx.problem.storage.apd.timeout")
    assert fold(open_, events) == open_  # read twice: the same
    assert fold(open_, [HostEvent(3, at(200), "esx.clear.storage.apd.exit", "host-10", GOLD)]) == {}


def test_folded_events_order_by_key_and_a_clear_ends_only_its_kinds():
    events = [HostEvent(5, at(5), "esx.clear.storage.redundancy.restored", "host-10", GOLD),
              HostEvent(4, at(4), "esx.problem.storage.redundancy.degraded", "host-10", GOLD),
              HostEvent(6, at(6), "esx.problem.scsi.device.state.permanentloss", "host-10", GOLD),
              HostEvent(7, at(7), "HostConnectionLostEvent", "host-11"),
              HostEvent(8, at(8), "esx.problem.storage.connectivity.lost", "host-10", GOLD)]
    open_ = fold({}, events)
    assert [d.kind for d in open_[("host-10", GOLD)]] == ["connectivity_lost", "pdl"]
    assert [d.kind for d in open_[("host-11", "")]] == ["not_connected"]
    again = fold(open_, [HostEvent(9, at(9), "HostConnectedEvent", "host-11"),
                         HostEvent(10, at(10), "esx.clear.scsi.device.state.permanentloss.deviceonline", "host-10", GOLD)])
    assert ("host-11", "") not in again and [d.kind for d in again[("host-10", GOLD)]] == ["connectivity_lost"]


def test_a_vcenter_event_becomes_plain_data():
    event = vim.event.EventEx(key=42, eventTypeId="esx.problem.storage.apd.timeout", createdTime=at(140),
                              host=vim.event.HostEventArgument(host=vim.HostSystem("host-10"), name="esx-a01"),
                              arguments=[vim.KeyAnyValue(key="1", value=GOLD), vim.KeyAnyValue(key="2", value="140")])
    assert host_event(event) == HostEvent(42, at(140), "esx.problem.storage.apd.timeout", "host-10", GOLD)
    lost = vim.event.HostConnectionLostEvent(key=43, createdTime=at(1), chainId=43,
                                             host=vim.event.HostEventArgument(host=vim.HostSystem("host-11"), name="x"))
    assert host_event(lost) == HostEvent(43, at(1), "HostConnectionLostEvent", "host-11", "")
    assert host_event(vim.event.GeneralUserEvent(key=44, createdTime=at(2), chainId=44, userName="u")) is None


def test_the_truth_says_since_when_from_events_else_from_the_watch():
    dead = f.set_hba(f.set_hba(LAB, "esx-a01", "vmhba2", "dead"), "esx-a01", "vmhba3", "dead")
    seen = replace(dead, since={f"{f.host_moref('esx-a01')}/{GOLD}": at(30)})
    web01 = f.find(disk_truths(seen), "web01")
    assert web01.verdict is Verdict.CONNECTIVITY_LOST
    here = web01.luns[0].hosts[0]
    assert (here.since, here.since_source) == (at(30), "watch")
    event = DeviceEvent(host=f.host_moref("esx-a01"), device=GOLD, kind="connectivity_lost", since=at(12),
                        event_type="esx.problem.storage.connectivity.lost", key=9)
    told = replace(seen, device_events={(f.host_moref("esx-a01"), GOLD): (event,)})
    here = f.find(disk_truths(told), "web01").luns[0].hosts[0]
    assert (here.since, here.since_source) == (at(12), "event")
    assert f.find(disk_truths(LAB), "web01").luns[0].hosts[0].since is None  # nothing wrong: no time


def test_a_stale_pdl_event_does_not_outvote_working_paths():
    event = DeviceEvent(host=f.host_moref("esx-a01"), device=GOLD, kind="pdl", since=at(0),
                        event_type="esx.problem.scsi.device.state.permanentloss", key=1)
    inv = replace(LAB, device_events={(f.host_moref("esx-a01"), GOLD): (event,)})
    assert f.find(disk_truths(inv), "web01").verdict is Verdict.HEALTHY


# -- 2, 9: the collector reads what real hosts report ----------------------------------------------------


def fc_path(name, hba, wwpn, state="active", working=None):
    transport = vim.host.FibreChannelTargetTransport(portWorldWideName=wwpn, nodeWorldWideName=0x5006016000000001)
    return vim.host.MultipathInfo.Path(key=f"key-{name}", name=name, pathState=state, state=state,
                                       isWorkingPath=working, adapter=f"key-vim.host.FibreChannelHba-{hba}",
                                       lun="lu-1", transport=transport)


def host_record(units, luns, hbas, states=None, nvme=None):
    props = {"name": "esx-1", "config.storageDevice.hostBusAdapter": hbas, "config.storageDevice.scsiLun": luns,
             "config.storageDevice.multipathInfo": vim.host.MultipathInfo(lun=units)}
    if states is not None:
        props["config.multipathState"] = vim.host.MultipathStateInfo(
            path=[vim.host.MultipathStateInfo.Path(name=n, pathState=s) for n, s in states.items()])
    if nvme is not None:
        props["config.storageDevice.nvmeTopology"] = nvme
    return props


def scsi_disk(name, key):
    return vim.host.ScsiDisk(key=key, uuid=f"uuid-{name}", canonicalName=name, lunType="disk", operationalState=["ok"])


def test_the_collector_reads_alua_io_policies_and_node_names():
    unit = vim.host.MultipathInfo.LogicalUnit(
        key="lu-1", id="uuid-naa.1", lun="k-1",
        path=[fc_path("vmhba2:C0:T0:L1", "vmhba2", 0x5006016000000010, working=True),
              fc_path("vmhba2:C0:T1:L1", "vmhba2", 0x5006016000000020, working=False)],
        policy=vim.host.MultipathInfo.LogicalUnitPolicy(policy="VMW_PSP_RR"),
        storageArrayTypePolicy=vim.host.MultipathInfo.LogicalUnitStorageArrayTypePolicy(policy="VMW_SATP_ALUA"))
    hba = vim.host.FibreChannelHba(key="key-vim.host.FibreChannelHba-vmhba2", device="vmhba2", status="online",
                                   portWorldWideName=0x100000109B0000A0, nodeWorldWideName=0x200000109B0000A0,
                                   storageProtocol="scsi")
    sas = vim.host.SerialAttachedHba(key="key-vim.host.SerialAttachedHba-vmhba0", device="vmhba0", status="unknown",
                                     nodeWorldWideName="500056b300000020")
    host = convert.convert_host("host-1", host_record([unit], [scsi_disk("naa.1", "k-1")], [hba, sas]), {},
                                port_names={"50:06:01:60:00:00:00:10": "A-ctl0-p0"})
    lun = host.luns[0]
    assert (lun.path_selection_policy, lun.satp, lun.claimed_by) == ("VMW_PSP_RR", "VMW_SATP_ALUA", "NMP")
    first, second = host.paths
    assert (first.io, second.io) == (True, False) and first.available and second.available
    assert first.target == "50:06:01:60:00:00:00:10" and first.target_node == "50:06:01:60:00:00:00:01"
    assert (first.target_port_name, second.target_port_name) == ("A-ctl0-p0", "")
    fc, local = host.hbas
    assert (fc.wwnn, fc.protocol, fc.san, fc.words) == ("20:00:00:10:9b:00:00:a0", "scsi", True, "FC HBA")
    assert (local.wwnn, local.san, local.words) == ("50:00:56:b3:00:00:00:20", False, "local adapter")


def test_nvme_namespaces_get_their_paths_from_the_nvme_topology_and_multipath_state():
    eui = "eui.00a09800000d00100000000006e0001"
    hbas = [vim.host.FibreChannelHba(key=f"key-vim.host.FibreChannelHba-{d}", device=d, status="online",
                                     storageProtocol="nvme") for d in ("vmhba64", "vmhba65")]
    topology = vim.host.NvmeTopology(adapter=[vim.host.NvmeTopology.Interface(
        key=f"if-{d}", adapter=f"key-vim.host.FibreChannelHba-{d}",
        connectedController=[vim.host.NvmeController(key=f"c-{d}-{n}", controllerNumber=256 + n, subnqn="nqn",
                                                     name="c", associatedAdapter="", transportType="fibreChannel",
                                                     fusedOperationSupported=False, numberOfQueues=4, queueSize=1024,
                                                     attachedNamespace=[vim.host.NvmeNamespace(
                                                         key="ns", name=eui, id=1, blockSize=512,
                                                         capacityInBlocks=1)])
                             for n in (0, 1)]) for d in ("vmhba64", "vmhba65")])
    states = {"vmhba64:C0:T0:L1": "active", "vmhba64:C0:T1:L1": "dead", "vmhba65:C0:T0:L1": "active",
              "vmhba65:C0:T1:L1": "active", "vmhba66:C0:T0:L1": "active"}  # the last: not an NVMe adapter's
    host = convert.convert_host("host-1", host_record([], [scsi_disk(eui, "k-9")], hbas, states, topology), {})
    assert host.luns[0].claimed_by == "HPP" and host.luns[0].path_selection_policy == ""
    assert sorted((p.name, p.state.value, p.io) for p in host.paths) == [
        ("vmhba64:C0:T0:L1", "active", None), ("vmhba64:C0:T1:L1", "dead", None),
        ("vmhba65:C0:T0:L1", "active", None), ("vmhba65:C0:T1:L1", "active", None)]


def test_an_nvme_topology_is_asked_only_of_a_vcenter_that_knows_it():
    assert "config.storageDevice.nvmeTopology" in convert.properties_for("vim.version.v8_0_2_0")["HostSystem"]
    assert "config.storageDevice.nvmeTopology" not in convert.properties_for("vim.version.version12")["HostSystem"]


def test_a_device_another_plugin_claims_is_judged_from_its_mount_never_as_zero_paths():
    eui = "eui.0001"
    ds = Datastore(moref="datastore-90", name="ds-hpp", kind="VMFS", extents=(eui,),
                   mounts=(Mount(host=f.host_moref("esx-a01")),))
    host = LAB.hosts[f.host_moref("esx-a01")]
    inv = LAB.with_host(replace(host, luns=host.luns + (Lun(canonical_name=eui, uuid="u-eui"),)))
    web01 = LAB.vms[f.vm_moref("web01")]
    inv = inv.with_datastore(ds).with_vm(replace(web01, disks=(replace(web01.disks[0], datastores=("datastore-90",)),)))
    truth = f.find(disk_truths(inv, ServiceLevel(min_working_paths=2)), "web01")
    assert truth.verdict is Verdict.HEALTHY and truth.sla_met
    assert "its paths are not reported by vSphere" in truth.explanation
    lost = inv.with_datastore(replace(ds, mounts=(Mount(host=f.host_moref("esx-a01"), accessible=False,
                                                        inaccessible_reason="AllPathsDown_Start"),)))
    assert f.find(disk_truths(lost), "web01").verdict is Verdict.ALL_PATHS_DOWN


# -- 5, 6: a disconnected host, a power cycle -----------------------------------------------------------


def test_nothing_is_written_for_vms_of_a_disconnected_host_and_they_are_answered_once_it_is_back():
    vc, rec, clock = reconciler()
    rec.reconcile(vc.inv)
    vc.written()
    vc.inv = f.set_host(vc.inv, "esx-a01", "disconnected")
    vc.guest("web01", "guestinfo.vsguesttruth.request", json.dumps({"id": "r1", "action": "refresh"}))
    clock.advance(60)
    result = rec.reconcile(vc.inv, full=True)
    assert vc.written() == [] and vc.probes == []  # vCenter would refuse: nothing for esx-a01's VMs
    assert {o.name for o in result.outcomes if o.state == "held"} >= {"web01", "db01", "local01"}
    vc.inv = f.set_host(vc.inv, "esx-a01", "connected")
    clock.advance(1)
    rec.reconcile(vc.inv)
    assert "web01" in vc.written() and vc.response("web01")["id"] == "r1"


def test_a_power_cycle_that_dropped_guestinfo_gets_the_document_again_whatever_was_remembered():
    vc, rec, clock = reconciler()
    rec.reconcile(vc.inv)
    web01 = f.vm_moref("web01")
    before = vc.info("web01", STATE)
    vm = vc.inv.vms[web01]
    off = replace(vm, power_state="poweredOff", guestinfo={})  # ESXi drops guestinfo at power-off
    vc.inv = vc.inv.with_vm(off)
    clock.advance(1)
    rec.reconcile(vc.inv)
    assert vc.info("web01", STATE) is not None  # written back to the powered-off VM: it persists there
    vc.written()
    # powered on again, its keys gone once more (an HA restart, or a key written while it ran), seconds later:
    # the service remembers writing it, yet writes it again at once
    vc.inv = vc.inv.with_vm(replace(vc.inv.vms[web01], power_state="poweredOn", guestinfo={}))
    clock.advance(1)
    rec.reconcile(vc.inv)
    assert vc.written() == ["web01"]
    assert vc.doc("web01")["verdict"] == "healthy" and before is not None


# -- 7, 8: the planner with mapping files and service levels --------------------------------------------


def test_the_planner_never_picks_a_host_that_cannot_see_an_rdms_mapping_file():
    inv = f.set_mount(f.set_hba(f.set_hba(LAB, "esx-a01", "vmhba2", "dead"), "esx-a01", "vmhba3", "dead"),
                      "ds-gold", "esx-a02", False, "AllPathsDown_Start")
    for name in ("esx-a02",):
        host = inv.hosts[f.host_moref(name)]
        inv = inv.with_host(replace(host, paths=tuple(replace(p, state=PathState.DEAD) if p.lun == GOLD else p
                                                      for p in host.paths)))
    decision = plan(inv, TruthContext(inv).vm_truths(), RemediationConfig(mode="auto")).for_vm(f.vm_moref("db01"))
    assert decision.action is Action.VMOTION and decision.to_host_name == "esx-a03"
    manual = plan_move(inv, f.vm_moref("db01"), RemediationConfig(), to_host=f.host_moref("esx-a02"))
    assert not manual.moves and "ds-gold" in manual.why


def test_one_level_for_a_vm_everywhere_and_the_plan_does_what_the_guest_is_told():
    policy = json.dumps({"min_working_paths": 4})
    inv = f.set_path(LAB, "esx-a01", "vmhba2:C0:T0:L1", "dead")
    web01 = inv.vms[f.vm_moref("web01")]
    inv = inv.with_vm(replace(web01, guestinfo={POLICY: policy}))
    levels = Levels(GuestConfig(), ServiceLevel())
    assert levels.of(inv.vms[f.vm_moref("web01")]) == ServiceLevel(min_working_paths=4)
    assert levels.source(inv.vms[f.vm_moref("web01")])["source"] == "applied"
    assert levels.all(inv.vms.values()) == {f.vm_moref("web01"): ServiceLevel(min_working_paths=4)}
    truth = TruthContext(inv).vm_truths(levels.default, levels.all(inv.vms.values()))
    told = next(t for t in truth if t.name == "web01")
    assert told.advice is Advice.MOVE and not told.level.met
    decision = plan(inv, truth, RemediationConfig(mode="auto"), levels=levels.all(inv.vms.values())).for_vm(web01.moref)
    assert decision is not None and decision.moves  # the planner does what the guest is told
    kept = plan(inv, truth, RemediationConfig(mode="auto", move_degraded=False),
                levels=levels.all(inv.vms.values())).for_vm(web01.moref)
    assert kept is None  # move_degraded off: the service leaves the move to the guest's request


def test_a_vm_on_a_disconnected_host_is_never_moved_by_hand_either():
    inv = f.set_host(LAB, "esx-a01", "notResponding")
    decision = plan_move(inv, f.vm_moref("web01"), RemediationConfig(), to_host=f.host_moref("esx-a02"))
    assert not decision.moves and "esx-a01 is notResponding" in decision.why


# -- 10: what vSphere HA does about a VM that could not move ---------------------------------------------


def test_ha_words_follow_the_clusters_vmcp_settings():
    on = Vmcp(cluster="cl-a", ha=True, vmcp=True, pdl="restartAggressive", apd="restartConservative",
              terminate_delay=180, apd_timeout=140)
    apd = ha_words(on, Verdict.CONNECTIVITY_LOST, "esx-a01")
    assert "restarts the VM on a host that reaches its storage, if it knows another host can take it" in apd
    assert "320 s after esx-a01 lost its paths (APD timeout 140 s + vmTerminateDelayForAPDSec 180 s)" in apd
    assert "at once" in ha_words(on, Verdict.MEDIA_FAILURE, "esx-a01")
    assert "140 s (the default" in ha_words(replace(on, apd_timeout=None), Verdict.ALL_PATHS_DOWN, "esx-a01")
    assert "VM Component Protection off" in ha_words(replace(on, vmcp=False), Verdict.CONNECTIVITY_LOST, "h")
    assert "is off" in ha_words(replace(on, ha=False), Verdict.CONNECTIVITY_LOST, "h")
    assert "does not restart" in ha_words(replace(on, apd="warning"), Verdict.CONNECTIVITY_LOST, "h")
    assert "in no cluster" in ha_words(None, Verdict.CONNECTIVITY_LOST, "h")


def test_a_failed_move_says_what_ha_does_instead_and_is_not_retried_into_a_storm():
    from vsguesttruth.remediation import Remediator

    from fakes.clock import Clock

    class Failing:
        def __init__(self):
            self.moves, self.events = 0, []

        def migrate(self, decision, progress=None):
            from vsguesttruth.errors import VsgtError

            self.moves += 1
            raise VsgtError("vMotion failed: the source host cannot access datastore 'ds-gold'")

        def post_event(self, vm, message):
            self.events.append(message)

        def after_failure(self, decision):
            return "vSphere HA on cl-a (VMCP, APD: restartConservative) restarts the VM ..."

    inv = f.set_hba(f.set_hba(LAB, "esx-a01", "vmhba2", "dead"), "esx-a01", "vmhba3", "dead")
    clock, executor = Clock(), Failing()
    config = RemediationConfig(mode="auto", stable_seconds=0, attempts=2, retry_seconds=60, breaker_failures=3)
    rails = Remediator(config, executor, clock=clock)
    for _ in range(30):  # a pass a second for half a minute: the retry waits, no storm
        for action in rails.step(inv, TruthContext(inv).vm_truths()):
            if action.kind == "move":
                rails.execute(action)
        clock.advance(1)
    assert executor.moves == 2  # web01 and db01 once each: the retry waits 60 s
    failed = [e for e in executor.events if " failed: " in e]
    assert failed and all("; meanwhile vSphere HA on cl-a" in e for e in failed)


# -- 3, 11: real replies replayed offline --------------------------------------------------------------


def capture_of(*names: str, events: tuple[str, ...] = ()) -> dict:
    bodies = [gzip.decompress((DATA / "fastdecode" / f"{n}.xml.gz").read_bytes()).decode() for n in names]
    return {"format": "vsguesttruth-capture", "version": 1, "replies": bodies, "events": list(events)}


def test_replaying_a_real_esxi_hosts_storage_reads_its_local_adapters_as_healthy(tmp_path):
    # vcsim's hosts report the storage govmomi recorded from a real ESXi host (simulator/esx,
    # host_storage_device_info.go): PVSCSI and IDE adapters with status "unknown", local disks under NMP
    path = tmp_path / "vcsim.json"
    path.write_text(json.dumps(capture_of("vcsim_hosts", "vcsim_datastores", "vcsim_vms")))
    inv = replay(path)
    assert len(inv.hosts) == 3 and len(inv.datastores) == 2 and len(inv.vms) == 5
    for host in inv.hosts.values():
        summary = host_summary(inv, host.moref)
        assert summary.line == "3 local adapters, 2/2 LUNs ok, 2/2 paths available, 2 carrying I/O"
        assert summary.verdict is Verdict.HEALTHY and summary.hbas_total == 0


def test_replaying_a_lab_capture_judges_it_as_status_did():
    inv = replay(DATA / "capture" / "lab-gold01-pdl.json.gz")  # `vsguesttruth capture --hash` of the lab
    truths = TruthContext(inv).disk_truths()
    assert len(inv.hosts) == 6 and len(inv.vms) == 21
    lost = [d for d in truths if d.verdict is Verdict.MEDIA_FAILURE]
    assert len(lost) == 11 and all("esx.problem.scsi.device.state.permanentloss" in d.explanation for d in lost)
    assert inv.device_events and not any("esx-" in h.name for h in inv.hosts.values())  # hashed names


def test_a_file_that_is_no_capture_is_refused_in_one_line(tmp_path):
    import pytest

    from vsguesttruth.errors import VsgtError

    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(VsgtError, match="is not a vsguesttruth capture"):
        replay(bad)
    bad.write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(VsgtError, match="is not a vsguesttruth capture"):
        replay(bad)
