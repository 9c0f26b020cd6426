"""The cases a real vSphere shows, on the lab that now shows them too: APD past its timeout, ALUA as arrays
present it, local adapters, LUNs ok but unreachable, a disconnected host, volatile guestinfo, RDM mapping
files, one service level everywhere, an NVMe namespace under HPP, a vMotion that fails, capture and replay,
and the hosts' storage events. Each through real SOAP: the lab, the collector, the truth, the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vsguesttruth.config import Config, RemediationConfig
from vsguesttruth.guestinfo import POLICY, STATE, decode_state
from vsguesttruth.lab import Lab
from vsguesttruth.reconcile import Reconciler
from vsguesttruth.remediation import Remediator, VcenterExecutor
from vsguesttruth.truth import Advice, TruthContext, Verdict
from vsguesttruth.vcenter import (
    ConnectionSettings,
    Informer,
    Publisher,
    connect,
    eventfeed,
    events,
    set_extra_config,
    snapshot,
)

CLI = str(Path(sys.executable).parent / "vsguesttruth")


@pytest.fixture
def cli(lab, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[san]\nport_names = {}\n')
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    env = {**base, "VSGT_LAB_HOME": str(lab.run_dir), "VSGT_CONFIG": str(config)}

    def run(*args, timeout=60):
        return subprocess.run([CLI, *args, "--lab"], env=env, capture_output=True, text=True, timeout=timeout)

    run.config = config
    return run


def status(cli, *args) -> dict:
    result = cli("status", "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def disk(doc, vm, label="Hard disk 1"):
    return next(d for d in doc["disks"] if d["vm"] == vm and d["disk"] == label)


def vm_named(inv, name):
    return next(v for v in inv.vms.values() if v.name == name)


# -- 1: an APD that outlasts the APD timeout stays an APD -----------------------------------------------


@pytest.mark.parametrize("reading", ["error", "lostCommunication", "timeout"])
def test_apd_past_its_timeout_is_all_paths_down_whatever_the_operational_state(lab, cli, reading):
    lab.fault("lun", lun="gold01", state="apd_timeout", operational_state=reading)
    web01 = disk(status(cli, "--vm", "web01"), "web01")
    assert (web01["verdict"], web01["advice"]) == ("all_paths_down", "wait"), web01["explanation"]
    assert "past the APD timeout" in web01["explanation"] and "no evidence of a permanent device loss" in web01["explanation"]
    assert f"operational state {reading}" in web01["explanation"]


def test_pdl_is_media_failure_from_the_mount_and_for_an_rdm_from_the_hosts_event(lab, cli):
    lab.fault("lun", lun="gold01", state="pdl")
    lab.fault("lun", lun="rdm01", state="pdl")
    doc = status(cli, "--vm", "db01")
    vmdk, rdm = disk(doc, "db01"), disk(doc, "db01", "Hard disk 2")
    assert vmdk["verdict"] == "media_failure" and "PermanentDeviceLoss" in vmdk["explanation"]
    assert rdm["verdict"] == "media_failure" and rdm["advice"] == "fail_over"
    assert "esx.problem.scsi.device.state.permanentloss" in rdm["explanation"]  # no mount: the event says it


# -- 2: ALUA, path selection policies, which paths carry I/O -------------------------------------------


def test_alua_paths_are_available_and_the_explanation_says_which_carry_io(lab, conn, cli):
    doc = status(cli, "--vm", "web01", "--vm", "web02")
    gold = disk(doc, "web01")["explanation"]
    assert gold.endswith("I/O on 2 optimized paths via vmhba2 and vmhba3; 2 non-optimized ready (VMW_PSP_RR)")
    assert disk(doc, "web02", "Hard disk 2")["explanation"].endswith("I/O on 1 path via vmhba2; 3 more ready (VMW_PSP_MRU)")
    inv = snapshot(conn)
    host = inv.host_by_name("esx-a01")
    optimized = next(p for p in host.paths if p.io and p.lun == inv.hosts[host.moref].luns[1].canonical_name)
    lab.fault("path", host="esx-a01", path=optimized.name, state="dead")
    after = disk(status(cli, "--vm", "web01"), "web01")
    assert after["verdict"] == "degraded" and after["sla_met"]
    assert "I/O on 1 optimized path via" in after["explanation"] and "2 non-optimized ready" in after["explanation"]
    paths = cli("paths", "--host", "esx-a01")
    assert "VMW_PSP_RR" in paths.stdout and "VMW_PSP_MRU" in paths.stdout and "VMW_PSP_FIXED" in paths.stdout
    mapped = cli("map", "web01").stdout
    assert "VMW_PSP_RR / VMW_SATP_ALUA" in mapped and "active (I/O)" in mapped


def test_an_alua_standby_port_group_is_available_and_a_symmetric_array_carries_io_everywhere(lab, conn):
    inv = snapshot(conn)
    ctx = TruthContext(inv)
    b01 = inv.host_by_name("esx-b01")
    archive = next(d for d in inv.datastores.values() if d.name == "ds-archive").extents[0]
    here = next(h for h in ctx.lun_truth(b01.moref, archive).hosts if h.host == "esx-b01")
    assert here.counts["standby"] == 2 and here.available == 4  # ALUA standby: available, not dead
    replica = next(d for d in inv.datastores.values() if d.name == "ds-gold-replica").extents[0]
    sym = next(h for h in ctx.lun_truth(b01.moref, replica).hosts if h.host == "esx-b01")
    assert sym.io == 4 and sym.satp == "VMW_SATP_DEFAULT_AA"


# -- 3, 4: adapters and LUNs counted as admins count them ----------------------------------------------


def test_a_healthy_host_never_reads_as_broken_and_an_unreachable_lun_is_not_a_bad_one(lab, cli):
    line = json.loads(cli("paths", "--host", "esx-a01", "--json").stdout)["hosts"][0]["line"]
    assert line.startswith("2/2 FC HBAs online, 1 local adapter, 8/8 LUNs ok, 27/27 paths available")
    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    lab.fault("hba", host="esx-a01", hba="vmhba3", state="dead")
    summary = json.loads(cli("paths", "--host", "esx-a01", "--json").stdout)["hosts"][0]
    assert summary["line"].startswith("0/2 FC HBAs online, 1 local adapter, 1/8 LUNs ok, 7 unreachable")
    assert (summary["luns_ok"], summary["luns_unreachable"]) == (1, 7)


# -- 5: a disconnected host -------------------------------------------------------------------------------


def test_nothing_acts_on_a_disconnected_host_and_its_data_says_how_old_it_is(lab, conn, cli):
    publisher = Publisher(conn, concurrency=2, attempts=1, task_timeout=30)
    try:
        rec = Reconciler(Config(), publisher)
        with Informer(conn) as informer:
            rec.reconcile(informer.next(10), full=True)
            lab.fault("host", host="esx-b02", state="disconnected")
            inv = informer.next(10)
            while inv.host_by_name("esx-b02").connected:
                inv = informer.next(10)
            result = rec.reconcile(inv, full=True)
            b02 = inv.host_by_name("esx-b02")
            on_b02 = {v.name for v in inv.vms.values() if v.host == b02.moref}
            assert on_b02 and not result.failed  # no ReconfigVM was tried (vCenter refuses it there)
            assert {o.name for o in result.outcomes if o.state == "held"} >= on_b02
            truth = TruthContext(inv).vm_truth(vm_named(inv, "web12").moref)
            assert truth.verdict is Verdict.UNKNOWN and " is disconnected since " in truth.explanation
            lab.fault("host", host="esx-b02", state="connected")
            inv = informer.next(10)
            while not inv.host_by_name("esx-b02").connected:
                inv = informer.next(10)
            assert not rec.reconcile(inv).failed
    finally:
        publisher.close()
    plan = json.loads(cli("plan", "--json").stdout)
    assert all(d["to_host_name"] != "esx-b02" for d in plan["moves"])


# -- 6: guestinfo is volatile -------------------------------------------------------------------------------


def test_a_vm_that_powers_on_gets_its_document_again_within_a_second(lab, conn, si):
    """The lab models no HA restart: a power-off (which drops the keys, as ESXi does) and a power-on."""
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    publisher = Publisher(conn, concurrency=4, attempts=2, task_timeout=30)
    rec = Reconciler(Config(), publisher)
    stop = threading.Event()
    seen: dict[str, float] = {}

    def serve(informer):
        while not stop.is_set():
            inv = informer.next(1)
            if inv is None:
                continue
            vm = vm_named(inv, "web03")
            if vm.power_state == "poweredOn" and "on" not in seen and "off" in seen:
                seen["on"] = time.monotonic()
            rec.reconcile(inv, as_of=time.monotonic())
            if vm.power_state == "poweredOn" and "on" in seen and "written" not in seen:
                fresh = snapshot(conn)
                if vm_named(fresh, "web03").guestinfo.get(STATE):
                    seen["written"] = time.monotonic()

    try:
        with Informer(conn) as informer:
            rec.reconcile(informer.next(10), full=True)
            web03 = si.content.searchIndex.FindByInventoryPath("dc1/vm/web03") or next(
                v for v in si.content.viewManager.CreateContainerView(si.content.rootFolder, [vim.VirtualMachine],
                                                                         True).view if v.name == "web03")
            thread = threading.Thread(target=serve, args=(informer,), daemon=True)
            thread.start()
            WaitForTask(web03.PowerOffVM_Task())
            seen["off"] = time.monotonic()
            time.sleep(2)
            WaitForTask(web03.PowerOnVM_Task())
            deadline = time.monotonic() + 20
            while "written" not in seen and time.monotonic() < deadline:
                time.sleep(0.1)
            stop.set()
            thread.join(10)
    finally:
        publisher.close()
    assert "written" in seen, seen
    assert seen["written"] - seen["on"] < 1.0 + 0.5  # within a second of the power-on being seen (+ our read)
    doc = decode_state(vm_named(snapshot(conn), "web03").guestinfo[STATE])
    assert doc["vm"]["name"] == "web03"


# -- 7: RDM mapping files ----------------------------------------------------------------------------------


def test_an_rdms_mapping_file_decides_where_it_can_go(lab, conn, cli):
    lun = next(d for d in snapshot(conn).datastores.values() if d.name == "ds-gold").extents[0]
    for path in snapshot(conn).host_by_name("esx-a03").paths_to(lun):
        lab.fault("path", host="esx-a03", path=path.name, state="dead")
    mapped = cli("map", "db01").stdout
    assert "RDM mapping file on datastore ds-gold" in mapped
    refused = cli("migrate", "db01", "--to-host", "esx-a03", "--dry-run")
    assert refused.returncode == 3 and "ds-gold" in refused.stderr
    chosen = json.loads(cli("migrate", "db01", "--dry-run", "--json").stdout)["decision"]
    assert chosen["to_host_name"] not in ("esx-a03", "") and chosen["moves"]


def test_a_lost_mapping_file_datastore_is_evidence_on_the_rdm(lab, cli):
    lab.fault("lun", lun="gold01", state="apd")
    rdm = disk(status(cli, "--vm", "db01"), "db01", "Hard disk 2")
    assert rdm["verdict"] == "degraded" and rdm["advice"] == "keep_using"
    assert "cannot be moved (vMotion) or powered on until it is back" in rdm["explanation"]


# -- 8: one service level, one truth -----------------------------------------------------------------------


def test_the_guests_level_is_what_status_map_plan_and_its_document_say(lab, conn, cli):
    inv = snapshot(conn)
    web01 = vm_named(inv, "web01")
    set_extra_config(conn, web01.moref, POLICY, json.dumps({"min_working_paths": 4}))
    host = inv.host_by_name("esx-a01")
    lab.fault("path", host="esx-a01", path=host.paths_to(web01_lun(inv, web01))[0].name, state="dead")
    row = disk(status(cli, "--vm", "web01"), "web01")
    assert row["verdict"] == "degraded" and row["advice"] == "move" and not row["sla_met"]
    assert row["level"].startswith("level 4 paths per LUN: 1 path short on")
    mapped = json.loads(cli("map", "web01", "--json").stdout)
    assert mapped["level"]["source"] == "applied" and mapped["level"]["shortfall"] and mapped["advice"] == "move"
    plan = json.loads(cli("plan", "--json").stdout)
    assert any(d["vm_name"] == "web01" and d["trigger"] == "degraded" for d in plan["moves"]), plan
    publisher = Publisher(conn, concurrency=2, attempts=1, task_timeout=30)
    try:
        Reconciler(Config(), publisher).reconcile(snapshot(conn), full=True)
    finally:
        publisher.close()
    doc = decode_state(vm_named(snapshot(conn), "web01").guestinfo[STATE])
    assert doc["advice"] == "move" and doc["service_level"]["met"] is False
    set_extra_config(conn, web01.moref, POLICY, "")


def web01_lun(inv, vm):
    ds = inv.datastores[vm.disks[0].datastores[0]]
    return ds.extents[0]


# -- 9: an NVMe namespace under HPP -------------------------------------------------------------------------


def test_an_nvme_namespace_has_no_multipath_info_and_is_judged_from_its_topology(lab, conn, cli):
    inv = snapshot(conn)
    b03 = inv.host_by_name("esx-b03")
    namespace = next(lun for lun in b03.luns if lun.canonical_name.startswith("eui."))
    assert namespace.claimed_by == "HPP" and namespace.path_selection_policy == ""
    assert {h.device: h.protocol for h in b03.hbas if h.kind == "fc"} == {
        "vmhba2": "scsi", "vmhba3": "scsi", "vmhba64": "nvme", "vmhba65": "nvme"}
    db13 = disk(status(cli, "--vm", "db13"), "db13")
    assert db13["verdict"] == "healthy" and db13["explanation"].endswith("4 paths available")
    lab.fault("target", target="D-ctl0-p0", state="dead")
    db13 = disk(status(cli, "--vm", "db13"), "db13")
    assert db13["verdict"] == "degraded" and "1 of 4 paths" in db13["explanation"]
    line = json.loads(cli("paths", "--host", "esx-b03", "--json").stdout)["hosts"][0]["line"]
    assert "2/2 FC-NVMe adapters online" in line


# -- 10: a move that cannot happen ------------------------------------------------------------------------


def test_a_vmotion_that_fails_is_reported_with_what_ha_will_do_and_not_retried_into_a_storm(lab, conn, placement):
    lab._lab.vmotion_from_host_without_paths("fail")
    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    lab.fault("hba", host="esx-a01", hba="vmhba3", state="dead")
    config = RemediationConfig(mode="auto", stable_seconds=0, attempts=2, retry_seconds=2, cooldown_minutes=1,
                               breaker_failures=3, max_concurrent=1)
    rails = Remediator(config, VcenterExecutor(conn, config))
    tried = 0
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        inv = snapshot(conn)
        for action in rails.step(inv, TruthContext(inv).vm_truths()):
            if action.kind == "move":
                tried += 1
                assert not rails.execute(action)
        time.sleep(0.5)
    assert 2 <= tried <= 4, tried  # web01 and app01, each at most `attempts` times in 12 s: no storm
    web01 = vm_named(snapshot(conn), "web01")
    messages = [e.message for e in events.query(conn, web01.moref)]
    failed = [m for m in messages if "failed:" in m]
    assert failed, messages
    assert "vMotion failed: the source host esx-a01 cannot access datastore" in failed[-1]
    assert ("vSphere HA on cl-a (VMCP, APD: restartConservative) restarts the VM on a host that reaches its "
            "storage") in failed[-1] and "(APD timeout 140 s + vmTerminateDelayForAPDSec 180 s)" in failed[-1]


# -- 11: capture and replay ---------------------------------------------------------------------------------


@pytest.mark.parametrize("hashed", [False, True])
def test_replaying_a_capture_prints_what_status_printed(lab, cli, tmp_path, hashed):
    lab.fault("lun", lun="bronze01", state="apd_timeout")
    lab.fault("hba", host="esx-a02", hba="vmhba3", state="dead")
    path = tmp_path / "capture.json.gz"
    made = cli("capture", "-o", str(path), *(["--hash"] if hashed else []))
    assert made.returncode == 0, made.stderr
    live = cli("status", "--json")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    replayed = subprocess.run([CLI, "replay", str(path), "--json"], capture_output=True, text=True, timeout=60,
                              env={**env, "VSGT_CONFIG": str(cli.config)})
    assert replayed.returncode == live.returncode == 1
    before, after = json.loads(live.stdout), json.loads(replayed.stdout)
    assert after["counts"] == before["counts"]
    if not hashed:  # the same incidents, dated now (a capture holds no event history: their ids follow the date)
        def undated(incidents):
            return sorted(({k: v for k, v in i.items() if k not in ("id", "since", "since_from", "duration_s")}
                           for i in incidents), key=lambda i: i["key"])

        assert undated(before.pop("incidents")) == undated(after.pop("incidents"))
        for doc in (before, after):
            for d in doc["disks"]:
                assert bool(d.pop("incidents")) == (d["verdict"] != "healthy")
        assert after == before
    else:
        raw = path.read_bytes()
        import gzip

        text = gzip.decompress(raw).decode()
        assert "esx-a02" not in text and "ds-bronze" not in text and "web11" not in text


# -- 12: events as evidence and as time ----------------------------------------------------------------------


@pytest.fixture
def own_lab(tmp_path):
    """A lab of the test's own: its sessions are expired without ending the session lab's connections."""
    lab = Lab(tmp_path / "lab")
    info = lab.up(timing=False)
    conn = connect(ConnectionSettings(url=info.url, username=info.username, password=info.password, ca_file=info.cert))
    try:
        yield lab, conn
    finally:
        conn.close()
        lab.down()


def test_the_informer_follows_storage_events_without_reading_them_twice(own_lab):
    lab, conn = own_lab
    with Informer(conn) as informer:
        informer.next(10)
        lab.fault("lun", lun="silver01", state="pdl")
        deadline = time.monotonic() + 15
        inv = None
        while time.monotonic() < deadline:
            found = informer.next(2)
            inv = found or inv
            if inv is not None and any(d.kind == "pdl" for ds in inv.device_events.values() for d in ds):
                break
        pdl = [d for ds in inv.device_events.values() for d in ds if d.kind == "pdl"]
        assert pdl and all(d.event_type == "esx.problem.scsi.device.state.permanentloss" for d in pdl)
        feed = informer._feed
        read = feed.read_count
        assert lab.expire_sessions() >= 1  # the informer logs in again and catches up
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and informer.resyncs == 0:
            informer.next(2)
        assert informer.resyncs >= 1
        assert feed.read_count == read  # the catch-up after the new session read nothing twice
        truth = TruthContext(informer.latest()).vm_truth(vm_named(informer.latest(), "web02").moref)
        silver = next(d for d in truth.disks if d.label == "Hard disk 2")
        assert silver.verdict is Verdict.MEDIA_FAILURE and silver.advice is Advice.FAIL_OVER
        assert silver.luns[0].hosts[0].since_source == "event"
    assert eventfeed.recent(conn)  # a one-off read (status) finds the same open conditions
