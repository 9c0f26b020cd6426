"""The truth per disk on the lab's topology, fault by fault: who is affected, who is not, and why."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vsguesttruth.model import Datastore, PathState, Vm
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import (
    Advice,
    TruthContext,
    Verdict,
    by_disk,
    disk_truths,
    host_summary,
    judged_only,
    to_json,
    verdict_changes,
    vm_truth,
    vm_truths,
)

from fakes.inventory import apply as apply_fault
from fakes.inventory import (
    FAULTS,
    HOSTS,
    LOCAL_LUN,
    VMS,
    ds_moref,
    find,
    host_moref,
    lab_inventory,
    map_paths,
    move_vm,
    naa,
    set_hba,
    set_host,
    set_lun,
    set_mount,
    set_path,
    set_target,
    drop_paths,
    verdicts,
    vm_moref,
)

LAB = lab_inventory()
GOLD = naa("gold01")
H, D, C, A, M, B, U = (Verdict.HEALTHY, Verdict.DEGRADED, Verdict.CONNECTIVITY_LOST, Verdict.ALL_PATHS_DOWN,
                       Verdict.MEDIA_FAILURE, Verdict.BELOW_SLA, Verdict.UNKNOWN)


def kill_lun_on(inv, host: str, lun: str):
    return map_paths(inv, lambda h, p: replace(p, state=PathState.DEAD) if p.lun == naa(lun) else p, [host])


def only(truths, changed: dict[tuple[str, str], Verdict]) -> None:
    """Exactly the listed disks have the listed verdicts; every other disk is healthy."""
    expected = {key: Verdict.HEALTHY.value for key in verdicts(disk_truths(LAB))}
    expected.update({key: v.value for key, v in changed.items()})
    assert verdicts(truths) == expected


# ---------------------------------------------------------------------------------------------------
# Verdicts and advice


def test_severity_order_and_advice_follow_the_design_table():
    assert H < U < B < D < C < A < M
    assert Verdict.worst([U, M]) is M and Verdict.worst([U, H]) is U and Verdict.worst([]) is H
    assert {v: v.advice for v in Verdict} == {
        H: Advice.NONE, U: Advice.NONE, B: Advice.MOVE, D: Advice.KEEP_USING,
        C: Advice.MOVE_HOST, A: Advice.WAIT, M: Advice.FAIL_OVER,
    }


def test_lab_topology_is_healthy_everywhere():
    truths = disk_truths(LAB)
    assert len(truths) == sum(len(disks) for _, disks in VMS.values())
    assert all(t.verdict is H and t.advice is Advice.NONE and t.sla_met for t in truths)
    assert find(truths, "web01").explanation == (
        f"{GOLD} on esx-a01: I/O on 2 optimized paths via vmhba2 and vmhba3; 2 non-optimized ready (VMW_PSP_RR)")


# ---------------------------------------------------------------------------------------------------
# Paths


def test_one_dead_path_degrades_only_that_hosts_disks_on_that_lun():
    inv = set_path(LAB, "esx-a02", "vmhba2:C0:T1:L1", "dead")  # gold01's active path on fabric A
    truths = disk_truths(inv)
    only(truths, {("web02", "Hard disk 1"): D})
    web02 = find(truths, "web02")
    assert web02.explanation == (
        f"1 of 4 paths to {GOLD} dead on esx-a02 (vmhba2, target A-ctl1-p0); I/O on 1 optimized path via vmhba3; "
        "2 non-optimized ready (VMW_PSP_RR)")
    assert web02.advice is Advice.KEEP_USING and web02.sla_met


def test_cable_pull_names_the_offline_hba_and_the_surviving_one():
    inv = set_hba(LAB, "esx-a01", "vmhba2", "dead")
    truths = disk_truths(inv)
    only(truths, {("web01", "Hard disk 1"): D, ("web01", "Hard disk 2"): D,
                  ("db01", "Hard disk 1"): D, ("db01", "Hard disk 2"): D})
    assert find(truths, "web01").explanation == (
        f"2 of 4 paths to {GOLD} dead on esx-a01 (vmhba2 offline); I/O on 1 optimized path via vmhba3; "
        "1 non-optimized ready (VMW_PSP_RR)")


def test_all_paths_of_a_lun_dead_on_one_host_is_connectivity_lost_there_only():
    inv = kill_lun_on(LAB, "esx-a01", "gold01")
    truths = disk_truths(inv)
    only(truths, {("web01", "Hard disk 1"): C, ("db01", "Hard disk 1"): C, ("db01", "Hard disk 2"): D})
    web01 = find(truths, "web01")
    assert web01.advice is Advice.MOVE_HOST
    assert web01.explanation == (f"no I/O path to {GOLD} from esx-a01 (vmhba2, vmhba3); "
                                 "esx-a02, esx-a03, esx-b01 and 2 more reach it: move the VM")
    moved = find(disk_truths(move_vm(inv, "web01", "esx-b01")), "web01")  # what the advice asks for
    assert (moved.verdict, moved.host) == (H, "esx-b01")


def test_both_hbas_pulled_loses_every_san_disk_on_that_host_but_not_the_local_one():
    inv = set_hba(set_hba(LAB, "esx-a01", "vmhba2", "dead"), "esx-a01", "vmhba3", "dead")
    truths = disk_truths(inv)
    only(truths, {("web01", "Hard disk 1"): C, ("web01", "Hard disk 2"): C,
                  ("db01", "Hard disk 1"): C, ("db01", "Hard disk 2"): C})
    assert "(vmhba2 offline, vmhba3 offline)" in find(truths, "web01").explanation


def test_array_port_failure_degrades_every_host():
    truths = disk_truths(set_target(LAB, "A-ctl0-p0", "dead"))
    san = {key: D for key in verdicts(truths) if key[0] not in ("files01", "local01")}
    only(truths, san)
    assert "(vmhba2, target A-ctl0-p0); I/O on " in find(truths, "web03").explanation


def test_non_optimized_and_standby_paths_are_available_not_dead():
    # Both optimized paths of gold01 dead on esx-a01: I/O fails over to the non-optimized ones (RR uses them now).
    inv = set_path(set_path(LAB, "esx-a01", "vmhba2:C0:T1:L1", "dead"), "esx-a01", "vmhba3:C0:T1:L1", "dead")
    inv = map_paths(inv, lambda h, p: replace(p, io=True) if p.lun == GOLD and p.state is PathState.ACTIVE else p,
                    ["esx-a01"])
    web01 = find(disk_truths(inv), "web01")
    assert web01.verdict is D and web01.sla_met
    assert web01.luns[0].hosts[0].available == 2
    assert web01.explanation.endswith("I/O on 2 paths via vmhba2 and vmhba3 (VMW_PSP_RR)")  # which: not knowable
    # An ALUA standby port group is available too, and healthy when nothing is down.
    standby = map_paths(LAB, lambda h, p: replace(p, state=PathState.STANDBY, io=False) if not p.io else p)
    assert all(t.verdict is H for t in disk_truths(standby))
    assert find(disk_truths(standby), "web01").explanation.endswith(
        "I/O on 2 paths via vmhba2 and vmhba3; 2 standby (VMW_PSP_RR)")


def test_mru_one_path_carrying_io_is_healthy_and_says_which():
    inv = map_paths(LAB, lambda h, p: replace(p, io=p.name == "vmhba3:C0:T1:L1") if p.lun == GOLD else p)
    inv = inv.with_host(replace(inv.hosts[host_moref("esx-a01")], luns=tuple(
        replace(x, path_selection_policy="VMW_PSP_MRU") if x.canonical_name == GOLD else x
        for x in inv.hosts[host_moref("esx-a01")].luns)))
    web01 = find(disk_truths(inv, ServiceLevel(min_working_paths=4)), "web01")
    assert web01.verdict is H and web01.sla_met  # the level counts available paths, not the one carrying I/O
    assert web01.explanation == f"{GOLD} on esx-a01: I/O on 1 path via vmhba3; 3 more ready (VMW_PSP_MRU)"


def test_paths_without_isworkingpath_are_counted_available():
    inv = map_paths(LAB, lambda h, p: replace(p, io=None))
    assert find(disk_truths(inv), "web01").explanation == f"{GOLD} on esx-a01: 4 paths available (VMW_PSP_RR)"


def test_disabled_and_unknown_paths_degrade_too():
    inv = set_path(set_path(LAB, "esx-a01", "vmhba2:C0:T0:L1", "disabled"), "esx-a01", "vmhba3:C0:T0:L1", "unknown")
    web01 = find(disk_truths(inv), "web01")
    assert web01.verdict is D
    assert web01.explanation.startswith(f"2 of 4 paths to {GOLD} not available on esx-a01 (vmhba2, vmhba3")


def test_no_connected_host_reaching_the_lun_is_all_paths_down():
    inv = kill_lun_on(LAB, "esx-a01", "gold01")
    for name in HOSTS[1:]:
        inv = set_host(inv, name, "notResponding")  # a host that does not answer reaches nothing
    web01 = find(disk_truths(inv), "web01")
    assert web01.verdict is A
    assert web01.explanation == (f"all paths down to {GOLD} on every host (APD); no evidence of a permanent device "
                                 "loss: retry, do not fail over")


# ---------------------------------------------------------------------------------------------------
# LUN faults


def test_pdl_is_media_failure_for_every_disk_on_that_lun():
    truths = disk_truths(set_lun(LAB, "gold01", "pdl"))
    only(truths, {("web01", "Hard disk 1"): M, ("web02", "Hard disk 1"): M, ("web03", "Hard disk 1"): M,
                  ("db01", "Hard disk 1"): M, ("db01", "Hard disk 2"): D, ("snap01", "Hard disk 1"): M})
    web01 = find(truths, "web01")
    assert web01.advice is Advice.FAIL_OVER
    assert web01.explanation.startswith(
        f"{GOLD} permanently lost (PDL) on esx-a01: its datastore mount says PermanentDeviceLoss and the host "
        "reported esx.problem.scsi.device.state.permanentloss since 2024-05-01 10:42:01Z; ")


def test_pdl_of_an_rdm_needs_the_hosts_event():
    # An RDM has no datastore mount to say PermanentDeviceLoss: the host's permanentloss event is the evidence.
    with_events = find(disk_truths(set_lun(LAB, "rdm01", "pdl")), "db01", "Hard disk 2")
    assert with_events.verdict is M and "esx.problem.scsi.device.state.permanentloss" in with_events.explanation
    # Without it, lostCommunication and dead paths are what an APD shows too: wait, never fail over.
    without = find(disk_truths(set_lun(LAB, "rdm01", "pdl", events=False)), "db01", "Hard disk 2")
    assert without.verdict is A and without.advice is Advice.WAIT
    assert "operational state lostCommunication" in without.explanation


@pytest.mark.parametrize("state", ["error", "off", "lostCommunication", "timeout"])
def test_an_operational_state_saying_no_io_here_is_no_evidence_of_loss(state):
    host = LAB.hosts[host_moref("esx-a01")]
    inv = LAB.with_host(replace(host, luns=tuple(
        replace(lun, operational_state=(state,)) if lun.canonical_name == GOLD else lun for lun in host.luns)))
    truths = disk_truths(inv)
    only(truths, {("web01", "Hard disk 1"): C, ("db01", "Hard disk 1"): C, ("db01", "Hard disk 2"): D})  # move
    assert f"(operational state {state})" in find(truths, "web01").explanation


@pytest.mark.parametrize(("state", "verdict"), [
    (("degraded",), D), (("quiesced",), D), (("degraded", "quiesced"), D),
    (("unknownState",), H), (("unknown",), H),  # no information: the paths decide
])
def test_impaired_operational_state_is_degraded(state, verdict):
    host = LAB.hosts[host_moref("esx-a01")]
    inv = LAB.with_host(replace(host, luns=tuple(
        replace(lun, operational_state=state) if lun.canonical_name == GOLD else lun for lun in host.luns)))
    web01 = find(disk_truths(inv), "web01")
    assert web01.verdict is verdict
    if verdict is D:
        assert web01.explanation.startswith(f"{GOLD} reports operational state {', '.join(state)} on esx-a01; I/O on")


@pytest.mark.parametrize("state", ["apd", "apd_timeout"])
def test_apd_is_all_paths_down_and_says_wait(state):
    truths = disk_truths(set_lun(LAB, "gold01", state))
    only(truths, {("web01", "Hard disk 1"): A, ("web02", "Hard disk 1"): A, ("web03", "Hard disk 1"): A,
                  ("db01", "Hard disk 1"): A, ("db01", "Hard disk 2"): D, ("snap01", "Hard disk 1"): A})
    web01 = find(truths, "web01")
    assert web01.advice is Advice.WAIT
    assert f"all paths down to {GOLD} on every host (APD" in web01.explanation
    assert "no evidence of a permanent device loss" in web01.explanation
    assert "ds-gold inaccessible on every host (APD: AllPathsDown_" in web01.explanation
    assert web01.luns[0].hosts[0].since.isoformat() == "2024-05-01T10:42:01+00:00"
    if state == "apd_timeout":
        assert "past the APD timeout" in web01.explanation and "operational state error" in web01.explanation


@pytest.mark.parametrize("reading", ["ok", "error", "lostCommunication", "timeout", "off", "unknownState"])
def test_apd_past_the_timeout_stays_apd_whatever_the_operational_state(reading):
    for events in (True, False):
        truths = disk_truths(set_lun(LAB, "gold01", "apd_timeout", operational_state=reading, events=events))
        only(truths, {("web01", "Hard disk 1"): A, ("web02", "Hard disk 1"): A, ("web03", "Hard disk 1"): A,
                      ("db01", "Hard disk 1"): A, ("db01", "Hard disk 2"): D, ("snap01", "Hard disk 1"): A})
        assert all(t.advice is not Advice.FAIL_OVER for t in truths)


def test_mounts_saying_apd_everywhere_win_over_stale_paths():
    inv = LAB
    for name in HOSTS:
        inv = set_mount(inv, "ds-gold", name, False, "AllPathsDown_Start")
    web01 = find(disk_truths(inv), "web01")
    assert web01.verdict is A
    assert web01.explanation == "ds-gold inaccessible on every host (APD: AllPathsDown_Start)"


def test_mount_apd_on_one_host_only_is_connectivity_lost():
    inv = set_mount(LAB, "ds-gold", "esx-a01", False, "AllPathsDown_Timeout")
    truths = disk_truths(inv)
    only(truths, {("web01", "Hard disk 1"): C, ("db01", "Hard disk 1"): C, ("db01", "Hard disk 2"): D})
    assert "ds-gold inaccessible (AllPathsDown_Timeout) on esx-a01; esx-a02, esx-a03, esx-b01 and 2 more mount it" \
        in find(truths, "web01").explanation


def test_mount_pdl_on_the_vms_host_is_media_failure():
    truths = disk_truths(set_mount(LAB, "ds-gold", "esx-a02", False, "PermanentDeviceLoss"))
    only(truths, {("web02", "Hard disk 1"): M})
    assert find(truths, "web02").explanation == "ds-gold permanently lost (PDL) on esx-a02"


def test_pdl_reported_by_another_host_when_nobody_reaches_the_lun_is_media_failure():
    # esx-a01 sees nothing (paths dead, no sense data); esx-a02 got the PDL sense code; nobody else sees it.
    inv = kill_lun_on(LAB, "esx-a01", "gold01")
    a02 = inv.hosts[host_moref("esx-a02")]
    inv = inv.with_host(replace(
        a02, luns=tuple(replace(x, operational_state=("lostCommunication",)) if x.canonical_name == GOLD else x
                        for x in a02.luns),
        paths=tuple(replace(p, state=PathState.DEAD) if p.lun == GOLD else p for p in a02.paths)))
    for name in HOSTS[2:]:
        inv = set_host(inv, name, "disconnected")
    inv = set_mount(inv, "ds-gold", "esx-a02", False, "PermanentDeviceLoss")
    web01 = find(disk_truths(inv), "web01")
    assert web01.verdict is M
    assert web01.explanation.startswith(
        f"no host reaches {GOLD}; permanently lost (PDL) on esx-a02: its datastore mount says PermanentDeviceLoss")


# ---------------------------------------------------------------------------------------------------
# Hosts


@pytest.mark.parametrize("state", ["disconnected", "notResponding"])
def test_disconnected_host_makes_its_vms_unknown(state):
    truths = disk_truths(set_host(LAB, "esx-a01", state))
    only(truths, {("web01", "Hard disk 1"): U, ("web01", "Hard disk 2"): U, ("db01", "Hard disk 1"): U,
                  ("db01", "Hard disk 2"): U, ("local01", "Hard disk 1"): U})
    web01 = find(truths, "web01")
    assert web01.explanation == f"esx-a01 is {state}: vCenter's data about it is from before then, not current"
    assert web01.advice is Advice.NONE and not web01.sla_met
    since = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)
    seen = replace(set_host(LAB, "esx-a01", state), since={host_moref("esx-a01"): since})
    assert find(disk_truths(seen), "web01").explanation.startswith(f"esx-a01 is {state} since 2024-05-01 09:00:00Z")


def test_vm_on_a_missing_host_is_unknown():
    inv = LAB.with_vm(replace(LAB.vms[vm_moref("web01")], host=""))
    truths = disk_truths(inv)
    assert find(truths, "web01").verdict is U
    assert find(truths, "web01").explanation == "the VM's host is not known"


# ---------------------------------------------------------------------------------------------------
# Backings: RDM, extents, snapshot chains, NFS, local, unmapped


def test_rdm_maps_to_its_lun_through_lun_uuid():
    vm = LAB.vms[vm_moref("db01")]
    inv = LAB.with_vm(replace(vm, disks=(vm.disks[0], replace(vm.disks[1], device_name=""))))
    db01 = find(disk_truths(inv), "db01", "Hard disk 2")
    assert [lun.canonical_name for lun in db01.luns] == [naa("rdm01")] and db01.datastores == ()  # mapping file
    truths = disk_truths(kill_lun_on(inv, "esx-a01", "rdm01"))
    only(truths, {("db01", "Hard disk 2"): C})


def test_rdm_falls_back_to_the_device_path_and_is_unknown_when_no_host_sees_it():
    db01 = LAB.vms[vm_moref("db01")]
    rdm = db01.disks[1]
    by_path = LAB.with_vm(replace(db01, disks=(db01.disks[0], replace(rdm, lun_uuid=""))))
    assert find(disk_truths(by_path), "db01", "Hard disk 2").luns[0].canonical_name == naa("rdm01")
    lost = LAB.with_vm(replace(db01, disks=(db01.disks[0], replace(rdm, lun_uuid="02ffff", device_name=""))))
    truth = find(disk_truths(lost), "db01", "Hard disk 2")
    assert (truth.verdict, truth.explanation) == (U, "RDM LUN 02ffff is not seen by any host")


def test_rdm_io_bypasses_its_mapping_file_but_moves_need_it():
    inv = set_lun(LAB, "gold01", "apd")  # ds-gold holds db01's mapping file
    rdm = find(disk_truths(inv), "db01", "Hard disk 2")
    assert rdm.verdict is D and rdm.advice is Advice.KEEP_USING  # I/O goes on: it is the LUN's
    assert rdm.mapping is not None and (rdm.mapping.name, rdm.mapping.verdict) == ("ds-gold", A)
    assert "its mapping file's datastore ds-gold is out of reach from esx-a01 (all_paths_down)" in rdm.explanation
    assert rdm.explanation.endswith("I/O goes on to the LUN, but the disk cannot be moved (vMotion) or powered on "
                                    "until it is back")
    assert find(disk_truths(LAB), "db01", "Hard disk 2").mapping.verdict is H


def test_rdm_snapshot_deltas_count():
    vm = LAB.vms[vm_moref("db01")]
    rdm = replace(vm.disks[1], backing="rdm_virtual", datastores=(ds_moref("ds-silver"), ds_moref("ds-gold")),
                  files=("[ds-silver] db01/db01_1-000001.vmdk", "[ds-gold] db01/db01_1.vmdk"))
    inv = LAB.with_vm(replace(vm, disks=(vm.disks[0], rdm)))
    snap = find(disk_truths(set_lun(inv, "gold01", "apd")), "db01", "Hard disk 2")
    assert snap.verdict is D and [d.name for d in snap.datastores] == ["ds-silver"]
    assert [lun.canonical_name for lun in snap.luns] == [naa("rdm01"), naa("silver01")]
    snap = find(disk_truths(set_lun(inv, "silver01", "pdl")), "db01", "Hard disk 2")
    assert snap.verdict is M


def test_multi_extent_datastore_takes_the_worst_extent():
    inv = set_path(kill_lun_on(LAB, "esx-a02", "span02"), "esx-a02", "vmhba3:C0:T1:L3", "dead")
    app01 = find(disk_truths(inv), "app01")
    assert [(lun.canonical_name, lun.verdict) for lun in app01.luns] == [(naa("span01"), D), (naa("span02"), C)]
    assert app01.verdict is C and app01.explanation.startswith(f"no I/O path to {naa('span02')} from esx-a02")
    pdl = find(disk_truths(set_lun(LAB, "span01", "pdl")), "app01")
    assert pdl.verdict is M and [lun.verdict for lun in pdl.luns] == [M, H]


def test_snapshot_chain_across_two_datastores_takes_the_worst():
    inv = set_path(LAB, "esx-a03", "vmhba2:C0:T0:L2", "dead")  # silver01 (the delta) degraded
    snap = find(disk_truths(inv), "snap01")
    assert [d.name for d in snap.datastores] == ["ds-silver", "ds-gold"]
    assert [(d.verdict) for d in snap.datastores] == [D, H] and snap.verdict is D
    snap = find(disk_truths(set_lun(inv, "gold01", "apd")), "snap01")
    assert [(d.verdict) for d in snap.datastores] == [D, A] and snap.verdict is A


def test_nfs_verdict_comes_from_mounts():
    assert find(disk_truths(LAB), "files01").explanation == "nfs01 accessible on esx-b02"
    here = set_mount(LAB, "nfs01", "esx-b02", False)
    files01 = find(disk_truths(here), "files01")
    assert files01.verdict is C and files01.luns == ()
    assert files01.explanation == (
        "nfs01 inaccessible on esx-b02; esx-a01, esx-a02, esx-a03 and 2 more mount it: move the VM")
    nowhere = LAB
    for name in HOSTS:
        nowhere = set_mount(nowhere, "nfs01", name, False)
    files01 = find(disk_truths(nowhere), "files01")
    assert (files01.verdict, files01.explanation) == (A, "nfs01 inaccessible on every host (APD)")


def test_nfs_accessible_only_on_disconnected_hosts_is_all_paths_down():
    inv = LAB
    for name in HOSTS:
        inv = set_mount(inv, "nfs01", name, False) if name == "esx-b02" else set_host(inv, name, "disconnected")
    assert find(disk_truths(inv), "files01").verdict is A


def test_nfs_without_mount_information_is_unknown():
    nfs = LAB.datastores[ds_moref("nfs01")]
    files01 = find(disk_truths(LAB.with_datastore(replace(nfs, mounts=()))), "files01")
    assert (files01.verdict, files01.explanation) == (U, "no mount information for nfs01")


def test_local_lun_is_judged_alone_even_though_its_mpx_name_repeats_on_every_host():
    inv = set_path(LAB, "esx-a01", "vmhba0:C0:T0:L0", "dead")
    truths = disk_truths(inv)
    only(truths, {("local01", "Hard disk 1"): A})
    local01 = find(truths, "local01")
    assert local01.explanation.startswith(f"all paths down to {LOCAL_LUN} on esx-a01, the only host that sees it (APD)")
    lun = local01.luns[0]
    assert lun.local and lun.datastore == "local-esx-a01" and [e.host for e in lun.hosts] == ["esx-a01"]
    assert lun.hosts[0].mount_accessible is True
    # The same mpx name on esx-b02 is esx-b02's own disk, in its own local datastore.
    vm = LAB.vms[vm_moref("local01")]
    there = move_vm(LAB.with_vm(replace(vm, disks=(replace(vm.disks[0], datastores=(ds_moref("local-esx-b02"),)),))),
                    "local01", "esx-b02")
    there = set_mount(there, "local-esx-b02", "esx-b02", False, "AllPathsDown_Start")
    lun = find(disk_truths(there), "local01").luns[0]
    assert (lun.datastore, lun.hosts[0].host, lun.hosts[0].mount_reason) == (
        "local-esx-b02", "esx-b02", "AllPathsDown_Start")


def test_unmappable_disks_are_unknown_but_a_known_failure_wins():
    web01 = LAB.vms[vm_moref("web01")]
    disk = replace(web01.disks[0], datastores=("datastore-999", ds_moref("ds-gold")))
    inv = LAB.with_vm(replace(web01, disks=(disk,)))
    truth = find(disk_truths(inv), "web01")
    assert (truth.verdict, truth.explanation) == (U, "datastore datastore-999 is not in the inventory")
    assert find(disk_truths(set_lun(inv, "gold01", "pdl")), "web01").verdict is M
    other = LAB.with_vm(replace(web01, disks=(replace(web01.disks[0], backing="other", datastores=()),)))
    assert find(disk_truths(other), "web01").verdict is U


def test_vmfs_extent_seen_by_no_host_is_unknown():
    inv = LAB.with_datastore(Datastore(moref="datastore-77", name="ds-ghost", kind="VMFS", extents=("naa.6ffff",)))
    web01 = LAB.vms[vm_moref("web01")]
    inv = inv.with_vm(replace(web01, disks=(replace(web01.disks[0], datastores=("datastore-77",)),)))
    truth = find(disk_truths(inv), "web01")
    assert (truth.verdict, truth.explanation) == (U, "no host sees naa.6ffff: it is not mapped to a device")


# ---------------------------------------------------------------------------------------------------
# Service level


def test_below_sla_when_fewer_working_paths_than_the_level_wants():
    inv = drop_paths(LAB, "esx-a01", "vmhba3")  # zoned on fabric A only: 2 paths per LUN, both working
    level = ServiceLevel(min_working_paths=3)
    truths = disk_truths(inv, level)
    web01 = find(truths, "web01")
    assert web01.verdict is B and web01.advice is Advice.MOVE and not web01.sla_met
    assert web01.explanation == (f"{GOLD} on esx-a01: I/O on 1 optimized path via vmhba2; 1 non-optimized ready "
                                 "(VMW_PSP_RR); service level wants 3 available")
    assert find(truths, "web02").verdict is H and find(truths, "web02").sla_met  # 4 paths on esx-a02
    assert find(truths, "local01").verdict is B  # 1 local path is below 3 as well
    assert all(t.verdict is H for t in disk_truths(inv))  # without a level: fine
    assert find(disk_truths(inv, ServiceLevel(min_working_paths=2)), "web01").verdict is H


def test_degraded_below_the_level_stays_degraded_and_says_so():
    inv = set_path(set_path(LAB, "esx-a01", "vmhba2:C0:T1:L1", "dead"), "esx-a01", "vmhba3:C0:T1:L1", "dead")
    web01 = find(disk_truths(inv, ServiceLevel(min_working_paths=3)), "web01")
    assert web01.verdict is D and not web01.sla_met
    assert web01.explanation.endswith("; service level wants 3 available")
    # what the service does about it (the planner moves it) is what the guest is told
    assert web01.advice is Advice.MOVE
    truth = vm_truth(inv, vm_moref("web01"), ServiceLevel(min_working_paths=3))
    assert truth.advice is Advice.MOVE and not truth.level.met
    assert truth.level.shortfall == f"1 path short on {GOLD} (2 of 3)" and truth.level.fewest_paths == 2


def test_level_of_four_paths_with_three_is_degraded_below_level_and_advised_to_move():
    inv = set_path(LAB, "esx-a01", "vmhba2:C0:T0:L1", "dead")
    truth = vm_truth(inv, vm_moref("web01"), ServiceLevel(min_working_paths=4))
    assert truth.verdict is D and truth.advice is Advice.MOVE
    assert truth.level.words() == f"level 4 paths per LUN: 1 path short on {GOLD} (3 of 4)"
    fine = vm_truth(LAB, vm_moref("web01"), ServiceLevel(min_working_paths=4))
    assert fine.level.met and fine.level.words() == "level 4 paths per LUN: met" and fine.advice is Advice.NONE


def test_min_reachable_devices_is_a_vm_level():
    inv = kill_lun_on(LAB, "esx-a01", "rdm01")
    truth = vm_truth(inv, vm_moref("db01"), ServiceLevel(min_reachable_devices=2))
    assert truth.verdict is C and not truth.sla_met
    assert truth.explanation.endswith("; 1 of 2 disks usable, service level wants 2")
    fine = vm_truth(LAB, vm_moref("web02"), ServiceLevel(min_reachable_devices=2))
    assert (fine.verdict, fine.explanation) == (B, "1 of 1 disks usable, service level wants 2")
    assert vm_truth(LAB, vm_moref("db01"), ServiceLevel(min_reachable_devices=2)).sla_met


# ---------------------------------------------------------------------------------------------------
# Evidence, VM truth and JSON


def test_evidence_lists_every_host_that_sees_the_lun_with_paths_and_mounts():
    inv = set_mount(set_hba(LAB, "esx-b01", "vmhba3", "dead"), "ds-bronze", "esx-b02", False, "AllPathsDown_Start")
    bk01 = find(disk_truths(inv), "bk01")
    lun = bk01.luns[0]
    assert (lun.canonical_name, lun.datastore, lun.media, lun.vaai) == (
        naa("bronze01"), "ds-bronze", "hdd", "vStorageUnsupported")
    assert [e.host for e in lun.hosts] == ["esx-b01", "esx-b02", "esx-b03"]  # presented to cl-b only
    b01, b02, _ = lun.hosts
    assert b01.counts == {"active": 2, "standby": 0, "disabled": 0, "dead": 2, "unknown": 0} and b01.available == 2
    assert b01.io == 1 and b01.path_selection_policy == "VMW_PSP_RR" and b01.satp == "VMW_SATP_ALUA"
    assert {p.hba for p in b01.paths if p.state is PathState.DEAD} == {"vmhba3"}
    assert (b01.connected, b01.mount_accessible, b02.mount_accessible, b02.mount_reason) == (
        True, True, False, "AllPathsDown_Start")
    assert [(m.host, m.accessible) for m in bk01.datastores[0].mounts] == [
        ("esx-b01", True), ("esx-b02", False), ("esx-b03", True)]


def test_vm_truth_gives_identity_placement_and_the_worst_disk():
    inv = set_path(LAB, "esx-a01", "vmhba2:C0:T0:L6", "dead")
    truth = vm_truth(inv, vm_moref("db01"))
    assert (truth.name, truth.host, truth.host_moref, truth.cluster, truth.power_state) == (
        "db01", "esx-a01", host_moref("esx-a01"), "cl-a", "poweredOn")
    assert [d.verdict for d in truth.disks] == [H, D] and truth.verdict is D
    assert truth.explanation.startswith(f"Hard disk 2: 1 of 4 paths to {naa('rdm01')} dead on esx-a01")
    assert vm_truth(LAB, vm_moref("db01")).explanation == "2 disks healthy on esx-a01"
    assert [t.name for t in vm_truths(LAB)] == list(VMS)
    with pytest.raises(KeyError):
        vm_truth(LAB, "vm-404")
    empty = LAB.with_vm(Vm(moref="vm-9", name="pxe01", host=host_moref("esx-a01")))
    assert vm_truth(empty, "vm-9").verdict is U


def test_json_is_plain_data():
    truth = vm_truth(set_hba(LAB, "esx-a01", "vmhba2", "dead"), vm_moref("db01"))
    data = truth.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["verdict"] == "degraded" and data["advice"] == "keep_using" and data["host"] == "esx-a01"
    disk = data["disks"][1]
    assert disk["advice"] == "keep_using" and disk["disk"]["backing"] == "rdm_physical"
    evidence = disk["luns"][0]["hosts"][0]
    assert evidence["host"] == "esx-a01" and evidence["available"] == evidence["working"] == 2
    assert evidence["paths"][0] == {"name": "vmhba2:C0:T0:L6", "lun": naa("rdm01"), "hba": "vmhba2",
                                    "target": "A-ctl0-p0", "state": "dead", "io": False,
                                    "target_node": "50:06:01:60:0a:00:00:00", "target_port_name": "A-ctl0-p0"}
    assert data["level"] == {"min_working_paths": 1, "min_reachable_devices": None, "met": True, "fewest_paths": 2,
                             "usable_disks": 2, "disks": 2, "shortfall": ""}
    assert to_json(find(disk_truths(LAB), "files01"))["datastores"][0]["mounts"][0]["accessible"] is True


def test_json_without_evidence_keeps_only_the_judged_hosts_view():
    web01 = find(disk_truths(set_hba(LAB, "esx-a01", "vmhba2", "dead")), "web01")
    full, brief = web01.as_dict(), web01.as_dict(evidence=False)
    assert len(full["luns"][0]["hosts"]) == 6 and len(full["datastores"][0]["mounts"]) == 6
    assert [h["host"] for h in brief["luns"][0]["hosts"]] == ["esx-a01"]
    assert brief["luns"][0]["hosts"][0]["counts"]["dead"] == 2
    assert [m["host"] for m in brief["datastores"][0]["mounts"]] == ["esx-a01"]
    assert {k: v for k, v in brief.items() if k not in ("luns", "datastores")} == {
        k: v for k, v in full.items() if k not in ("luns", "datastores")}


@settings(max_examples=60, deadline=None)
@given(FAULTS)
def test_a_truth_kept_with_its_own_hosts_evidence_says_what_the_full_one_says(faults):
    """What the service keeps of the VMs that are not healthy (for remediation): the VM's own host's view of each
    LUN and mount, every verdict and explanation as judged from all of them."""
    inv = LAB
    for fault in faults:
        inv = apply_fault(inv, fault)
    for truth in vm_truths(inv):
        kept = judged_only(truth)
        assert to_json(kept, evidence=False) == to_json(truth, evidence=False)
        assert all(len(lt.hosts) <= 1 for d in kept.disks for lt in d.luns)
        assert all(len(ds.mounts) <= 1 for d in kept.disks for ds in d.datastores)


def test_one_context_answers_many_questions_the_same_way():
    inv = set_target(LAB, "A-ctl1-p1", "dead")
    ctx = TruthContext(inv)
    assert ctx.disk_truths() == disk_truths(inv)
    assert ctx.vm_truth(vm_moref("web01")) == vm_truth(inv, vm_moref("web01"))
    assert ctx.host_summary(host_moref("esx-b01")) == host_summary(inv, host_moref("esx-b01"))


# ---------------------------------------------------------------------------------------------------
# Host summary


def test_host_summary_counts_adapters_luns_and_paths():
    summary = host_summary(LAB, host_moref("esx-a01"))
    # local adapters report status "unknown" on real hosts: counted apart, never "offline"
    assert summary.line == ("2/2 FC HBAs online, 2 local adapters, 7/7 LUNs ok, 25/25 paths available, "
                            "15 carrying I/O")
    assert summary.verdict is H and len(summary.hbas) == 4 and summary.local_adapters == 2
    pulled = host_summary(set_hba(LAB, "esx-a01", "vmhba2", "dead"), host_moref("esx-a01"))
    # a LUN that lost redundancy is still "ok": its own state is ok and this host reaches it
    assert pulled.line == ("1/2 FC HBAs online, 2 local adapters, 7/7 LUNs ok, 13/25 paths available, "
                           "8 carrying I/O")
    assert pulled.verdict is D
    lost = host_summary(set_lun(LAB, "gold01", "pdl"), host_moref("esx-a01"))
    assert lost.line.startswith("2/2 FC HBAs online, 2 local adapters, 6/7 LUNs ok, 1 lostCommunication")
    gold = next(lun for lun in pulled.luns if lun.canonical_name == GOLD)
    assert (gold.datastore, gold.available, gold.io, gold.total, gold.verdict) == ("ds-gold", 2, 1, 4, D)
    assert gold.path_selection_policy == "VMW_PSP_RR"
    assert gold.by_hba == {"vmhba2": {"active": 0, "standby": 0, "disabled": 0, "dead": 2, "unknown": 0},
                           "vmhba3": {"active": 2, "standby": 0, "disabled": 0, "dead": 0, "unknown": 0}}
    vmhba2 = next(h for h in pulled.hbas if h.device == "vmhba2")
    assert (vmhba2.online, vmhba2.available, vmhba2.total, vmhba2.words) == (False, 0, 12, "FC HBA")


def test_a_healthy_host_with_only_local_adapters_never_reads_as_broken():
    host = LAB.hosts[host_moref("esx-a01")]
    local = replace(host, hbas=tuple(h for h in host.hbas if not h.san),
                    paths=tuple(p for p in host.paths if p.hba == "vmhba0"),
                    luns=tuple(lun for lun in host.luns if lun.local))
    summary = host_summary(LAB.with_host(local), host.moref)
    assert summary.line == "2 local adapters, 1/1 LUNs ok, 1/1 paths available, 1 carrying I/O"
    assert summary.hbas_total == 0 and summary.verdict is H


def test_a_lun_that_is_ok_but_not_reached_from_here_is_unreachable_not_not_ok():
    summary = host_summary(kill_lun_on(LAB, "esx-a01", "gold01"), host_moref("esx-a01"))
    assert (summary.luns_ok, summary.luns_unreachable) == (6, 1)
    assert ", 6/7 LUNs ok, 1 unreachable, " in summary.line


def test_host_summary_of_a_disconnected_host_is_unknown_and_says_since_when():
    inv = set_host(LAB, "esx-b03", "disconnected")
    summary = host_summary(inv, host_moref("esx-b03"))
    assert summary.verdict is U and summary.since is None
    assert summary.line.startswith("disconnected: vCenter's data is from before then; last known 2/2 FC HBAs online")
    since = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)
    summary = host_summary(replace(inv, since={host_moref("esx-b03"): since}), host_moref("esx-b03"))
    assert summary.since == since and summary.line.startswith("disconnected since 2024-05-01 09:00:00Z: ")
    with pytest.raises(KeyError):
        host_summary(LAB, "host-404")


def test_host_summary_in_apd_counts_the_lun_unreachable_and_explains_it():
    summary = host_summary(set_lun(LAB, "bronze01", "apd"), host_moref("esx-b01"))  # cl-b sees bronze01 too
    assert summary.line == ("2/2 FC HBAs online, 2 local adapters, 7/8 LUNs ok, 1 unreachable, "
                            "25/29 paths available, 15 carrying I/O")
    bronze = next(lun for lun in summary.luns if lun.verdict is not H)
    assert (summary.verdict, bronze.canonical_name) == (A, naa("bronze01"))
    assert bronze.explanation.startswith(f"all paths down to {naa('bronze01')} on every host (APD) since ")


# ---------------------------------------------------------------------------------------------------
# Watching: verdict changes


def test_verdict_changes_reports_only_changed_appeared_and_gone_disks():
    before = by_disk(disk_truths(LAB))
    assert verdict_changes(before, before) == []
    after = by_disk(disk_truths(set_path(LAB, "esx-a02", "vmhba2:C0:T1:L1", "dead")))
    [change] = verdict_changes(before, after)
    assert (change.vm_name, change.label, change.host, change.old, change.new) == (
        "web02", "Hard disk 1", "esx-a02", H, D)
    assert change.id == (vm_moref("web02"), 2000) and change.explanation.startswith("1 of 4 paths")
    # A path more on the same LUN: still degraded, no change.
    worse = by_disk(disk_truths(set_path(set_path(LAB, "esx-a02", "vmhba2:C0:T1:L1", "dead"),
                                         "esx-a02", "vmhba3:C0:T1:L1", "dead")))
    assert verdict_changes(after, worse) == []
    gone = {k: v for k, v in before.items() if k[0] != vm_moref("web01")}
    changes = verdict_changes(before, gone) + verdict_changes(gone, before)
    assert [(c.vm_name, c.key, c.old, c.new) for c in changes] == [
        ("web01", 2000, H, None), ("web01", 2001, H, None), ("web01", 2000, None, H), ("web01", 2001, None, H)]


# ---------------------------------------------------------------------------------------------------
# Properties


PATH_LUN = {(h.name, p.name): p.lun for h in LAB.hosts.values() for p in h.paths}
ALL_PATHS = sorted(PATH_LUN)
BAD_STATES = st.sampled_from(["dead", "disabled", "unknown"])
faults = st.lists(st.tuples(st.sampled_from(ALL_PATHS), BAD_STATES), max_size=40)


def apply(inv, kills):
    for (host, path), state in kills:
        inv = set_path(inv, host, path, state)
    return inv


@settings(max_examples=40)
@given(faults, faults, st.sampled_from([None, ServiceLevel(min_working_paths=3)]))
def test_breaking_more_paths_never_makes_a_verdict_better(some, more, level):
    fewer = disk_truths(apply(LAB, some), level)
    worse = disk_truths(apply(apply(LAB, some), more), level)
    for a, b in zip(fewer, worse, strict=True):
        assert b.verdict >= a.verdict, (a.explanation, b.explanation)


@settings(max_examples=40)
@given(st.sampled_from(sorted({(t.vm_name, t.label) for t in disk_truths(LAB)})), faults)
def test_a_disks_truth_depends_only_on_its_own_luns(disk, kills):
    before = find(disk_truths(LAB), *disk)
    own = {lun.canonical_name for lun in before.luns}
    if before.mapping is not None:  # an RDM: its mapping file's datastore counts too
        own |= {name for ds in LAB.datastores.values() if ds.name == before.mapping.name for name in ds.extents}
    foreign = [k for k in kills if PATH_LUN[k[0]] not in own]
    assert find(disk_truths(apply(LAB, foreign)), *disk) == before


@settings(max_examples=40)
@given(faults, st.integers(0, 2 ** len(ALL_PATHS) - 1))
def test_restoring_every_path_to_a_working_state_gives_healthy(kills, standby_bits):
    broken = apply(LAB, kills)
    standby = {path for i, path in enumerate(ALL_PATHS) if standby_bits >> i & 1}  # any ALUA mix works
    fixed = map_paths(broken, lambda h, p: replace(
        p, state=PathState.STANDBY if (h.name, p.name) in standby else PathState.ACTIVE))
    assert all(t.verdict is H for t in disk_truths(fixed))


@settings(max_examples=50)
@given(st.lists(st.sampled_from(list(Verdict)), min_size=1))
def test_worst_is_order_independent_and_unknown_only_beats_healthy(vs):
    worst = Verdict.worst(vs)
    assert worst == Verdict.worst(reversed(vs)) and worst in vs
    assert Verdict.worst([*vs, U]) == (U if worst is H else worst)
