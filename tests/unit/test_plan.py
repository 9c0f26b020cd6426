"""The planner on plain data: host choice, ties, refusals, replicas, service levels, guest requests."""

from __future__ import annotations

from dataclasses import replace

from fakes.inventory import (
    host_moref, lab_inventory, set_hba, set_host, set_lun, set_mount, set_path, vm_moref,
)
from vsguesttruth.config import RemediationConfig
from vsguesttruth.model import Vm
from vsguesttruth.plan import Action, MoveRequest, force, plan, plan_for, plan_move
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext, Verdict

CFG = RemediationConfig()
REPLICAS = RemediationConfig(replicas={"ds-gold": "ds-gold-replica"})


def run(inv, config=CFG, level=None, **kw):
    ctx = TruthContext(inv)
    return plan(inv, ctx.vm_truths(level), config, level=level, context=ctx, **kw)


def cable_pull(inv, host="esx-a01"):
    return set_hba(set_hba(inv, host, "vmhba2", "dead"), host, "vmhba3", "dead")


def names(p):
    return {d.vm_name: d for d in p.decisions}


def test_healthy_inventory_plans_nothing():
    assert run(lab_inventory()).decisions == ()


def test_cable_pull_moves_affected_vms_within_the_cluster_and_spreads_load():
    p = names(run(cable_pull(lab_inventory())))
    assert set(p) == {"web01", "db01"}  # local01's local disk does not go through the FC HBAs
    web01, db01 = p["web01"], p["db01"]
    assert web01.action is db01.action is Action.VMOTION
    assert web01.verdict is Verdict.CONNECTIVITY_LOST and web01.trigger == "connectivity_lost"
    # a02 has web02+app01, a03 snap01: db01 (planned first, by name) takes a03, then a02 and a03 tie on load
    # (2 each) and web01 goes to a02 by name
    assert db01.to_host_name == "esx-a03" and web01.to_host_name == "esx-a02"
    assert {web01.to_host, db01.to_host} <= {host_moref("esx-a02"), host_moref("esx-a03")}
    assert web01.from_host_name == "esx-a01"
    assert "lost every path on esx-a01 (vmhba2 offline, vmhba3 offline)" in web01.why
    assert "esx-a02 reaches both disks on 8/8 paths" in web01.why
    # with a level of 2 paths, the local VM is below it, and cannot go anywhere: said so, not moved
    local = names(run(cable_pull(lab_inventory()), level=ServiceLevel(min_working_paths=2)))["local01"]
    assert local.action is Action.NONE and "local-esx-a01 not mounted" in local.why


def test_ties_break_by_host_name_and_are_deterministic():
    inv = cable_pull(lab_inventory())
    # esx-a02 runs web02 (app01 powered off), esx-a03 snap01: equal paths, equal load
    inv = inv.with_vm(replace(inv.vms[vm_moref("app01")], power_state="poweredOff"))
    first = names(run(inv))
    assert first["db01"].to_host_name == "esx-a02"  # the tie goes to the first name
    assert first["web01"].to_host_name == "esx-a03"  # db01's planned move counts as load on esx-a02
    assert names(run(inv)) == first  # same input, same plan


def test_most_working_paths_beats_load():
    inv = cable_pull(lab_inventory())
    # esx-a02 (less loaded than esx-a03? make it so) lost one path: esx-a03 with 4/4 wins
    inv = set_path(inv, "esx-a02", "vmhba2:C0:T1:L1", "dead")
    p = names(run(inv))
    assert p["web01"].to_host_name == "esx-a03"


def test_disconnected_and_maintenance_hosts_are_not_candidates():
    inv = set_host(cable_pull(lab_inventory()), "esx-a02", "disconnected")
    inv = inv.with_host(replace(inv.hosts[host_moref("esx-a03")], maintenance=True))
    web01 = names(run(inv))["web01"]
    assert web01.action is Action.NONE
    assert "no other connected host in cl-a out of maintenance" in web01.why


def test_other_cluster_only_when_allowed():
    inv = set_host(cable_pull(lab_inventory()), "esx-a02", "disconnected")
    inv = set_host(inv, "esx-a03", "disconnected")
    assert names(run(inv))["web01"].action is Action.NONE
    cross = RemediationConfig(same_cluster_only=False, allowed_hosts=("esx-b0[12]",))
    web01 = names(run(inv, cross))["web01"]
    assert web01.action is Action.VMOTION and web01.to_host_name in ("esx-b01", "esx-b02")


def test_apd_everywhere_is_a_refusal_that_waits():
    p = run(set_lun(lab_inventory(), "gold01", "apd"))
    assert p.moves == ()
    web01 = names(p)["web01"]
    assert web01.verdict is Verdict.ALL_PATHS_DOWN
    assert "ds-gold all paths down on every host (APD)" in web01.why and "waiting" in web01.why


def test_no_healthy_host_names_what_every_candidate_lacks():
    # ds-gold inaccessible on a02 and a03 (APD there), web01 lost its paths on a01: nowhere to go
    inv = cable_pull(lab_inventory())
    for host in ("esx-a02", "esx-a03"):
        inv = set_mount(inv, "ds-gold", host, False, "AllPathsDown_Start")
    web01 = names(run(inv))["web01"]
    assert web01.action is Action.NONE
    assert web01.why.startswith("no healthy host in cl-a: on every other host (esx-a02, esx-a03) ds-gold")
    assert web01.why.endswith("waiting")


def test_media_failure_relocates_to_the_replica_on_the_same_host():
    p = names(run(set_lun(lab_inventory(), "gold01", "pdl"), REPLICAS))
    web01 = p["web01"]
    assert web01.action is Action.RELOCATE_TO_REPLICA
    assert (web01.from_datastore_name, web01.to_datastore_name) == ("ds-gold", "ds-gold-replica")
    assert web01.to_host == web01.from_host and not web01.changes_host
    # every disk placed: the ds-gold disk to the replica, the ds-silver disk stays
    inv = lab_inventory()
    gold = next(d.moref for d in inv.datastores.values() if d.name == "ds-gold")
    replica = next(d.moref for d in inv.datastores.values() if d.name == "ds-gold-replica")
    silver = next(d.moref for d in inv.datastores.values() if d.name == "ds-silver")
    assert dict(web01.disks) == {2000: replica, 2001: silver}
    assert gold not in dict(web01.disks).values()
    # a chain spanning datastores is not consolidated behind the admin's back
    assert p["snap01"].action is Action.NONE and "snapshot chain spans" in p["snap01"].why


def test_media_failure_replica_from_custom_attribute_and_refusals():
    inv = set_lun(lab_inventory(), "gold01", "pdl")
    assert names(run(inv, replicas={"ds-gold": "ds-gold-replica"}))["web01"].action is Action.RELOCATE_TO_REPLICA
    none = names(run(inv, RemediationConfig(replica_attribute="replica")))["web01"]
    assert none.action is Action.NONE
    assert none.why.startswith("no replica configured for ds-gold") and "custom attribute replica" in none.why
    missing = names(run(inv, RemediationConfig(replicas={"ds-gold": "ds-nowhere"})))["web01"]
    assert "ds-nowhere of ds-gold is not a datastore" in missing.why
    # the RDM of a failed LUN cannot be failed over by a relocation
    rdm = names(run(set_lun(lab_inventory(), "rdm01", "pdl"), REPLICAS))["db01"]
    assert rdm.action is Action.NONE and "RDM of a failed LUN" in rdm.why


def test_replica_not_mounted_on_current_host_picks_another_host():
    inv = set_lun(lab_inventory(), "gold01", "pdl")
    inv = set_mount(inv, "ds-gold-replica", "esx-a01", False, "AllPathsDown_Start")
    web01 = names(run(inv, REPLICAS))["web01"]
    assert web01.action is Action.RELOCATE_TO_REPLICA and web01.to_host_name in ("esx-a02", "esx-a03")
    assert web01.changes_host


def test_below_sla_moves_where_the_level_holds():
    level = ServiceLevel(min_working_paths=4)
    inv = set_path(lab_inventory(), "esx-a01", "vmhba2:C0:T1:L1", "dead")  # web01/db01: 3 of 4 to gold01
    p = names(run(inv, level=level))
    assert p["web01"].action is Action.VMOTION and p["web01"].trigger == "degraded"
    # with the default level a degraded disk keeps working: no move
    assert "web01" not in names(run(inv))
    # move_degraded off: keep it
    assert "web01" not in names(run(inv, RemediationConfig(move_degraded=False), level=level))


def test_below_sla_with_a_device_count_level():
    inv = set_lun(lab_inventory(), "silver01", "apd")  # web01's second disk unusable everywhere
    level = ServiceLevel(min_reachable_devices=2)
    web01 = names(run(inv, level=level))["web01"]
    assert web01.verdict is Verdict.ALL_PATHS_DOWN and web01.action is Action.NONE


def test_guest_request_refused_unless_allowed():
    inv = lab_inventory()
    request = MoveRequest(vm=vm_moref("web02"), id="r1", reason="maintenance")
    refused = names(run(inv, requests=[request]))["web02"]
    assert refused.action is Action.NONE and refused.request_id == "r1"
    assert "allow_migrate_requests" in refused.why
    allowed = names(run(inv, RemediationConfig(allow_guest_requests=True), requests=[request]))["web02"]
    assert allowed.action is Action.VMOTION and allowed.trigger == "request" and allowed.request_id == "r1"
    assert allowed.to_host_name in ("esx-a01", "esx-a03") and "the guest asked to move" in allowed.why


def test_guest_request_on_a_broken_vm_uses_the_same_decision():
    inv = cable_pull(lab_inventory())
    request = MoveRequest(vm=vm_moref("web01"), id="r2")
    d = names(run(inv, RemediationConfig(allow_guest_requests=True), requests=[request]))["web01"]
    assert d.trigger == "connectivity_lost" and d.request_id == "r2" and d.action is Action.VMOTION


def test_powered_off_vms_are_left_alone():
    inv = cable_pull(lab_inventory())
    inv = inv.with_vm(replace(inv.vms[vm_moref("web01")], power_state="poweredOff"))
    assert "web01" not in names(run(inv))


def test_manual_move_refuses_a_host_that_does_not_reach_the_storage_and_force_overrides():
    inv = lab_inventory()
    d = plan_move(inv, vm_moref("bk01"), CFG, to_host=host_moref("esx-a01"))  # ds-bronze: cl-b only
    assert d.action is Action.NONE and "ds-bronze not mounted" in d.why
    forced = force(d)
    assert forced.action is Action.VMOTION and forced.forced and forced.to_host == host_moref("esx-a01")
    ok = plan_move(inv, vm_moref("bk01"), CFG, to_host=host_moref("esx-b02"))
    assert ok.action is Action.VMOTION and ok.trigger == "manual"
    same = plan_move(inv, vm_moref("bk01"), CFG, to_host=host_moref("esx-b01"))
    assert same.action is Action.NONE and "already runs on esx-b01" in same.why


def test_manual_move_without_target_and_to_a_datastore():
    inv = lab_inventory()
    picked = plan_move(inv, vm_moref("web02"), CFG)
    assert picked.action is Action.VMOTION and picked.to_host_name in ("esx-a01", "esx-a03")
    silver = next(d.moref for d in inv.datastores.values() if d.name == "ds-silver")
    sv = plan_move(inv, vm_moref("web02"), CFG, to_datastore=silver)
    assert sv.action is Action.STORAGE_VMOTION and sv.to_datastore == silver and dict(sv.disks) == {2000: silver}
    replica = next(d.moref for d in inv.datastores.values() if d.name == "ds-gold-replica")
    rp = plan_move(inv, vm_moref("web02"), REPLICAS, to_datastore=replica)
    assert rp.action is Action.RELOCATE_TO_REPLICA


def test_plan_is_plain_json():
    p = run(cable_pull(lab_inventory()), level=ServiceLevel(min_working_paths=2))
    data = p.as_dict()
    assert {m["vm_name"] for m in data["moves"]} == {"web01", "db01"}
    assert data["moves"][0]["action"] == "vmotion" and isinstance(data["moves"][0]["disks"], list)
    assert data["refusals"][0]["vm_name"] == "local01"


def test_planner_ignores_vms_missing_from_the_inventory():
    inv = cable_pull(lab_inventory())
    ctx = TruthContext(inv)
    truths = ctx.vm_truths()
    smaller = inv.without(vm_moref("web01"))
    assert "web01" not in names(plan(smaller, truths, CFG))
    assert isinstance(next(iter(smaller.vms.values())), Vm)


# -- one VM, as the plugin's move action asks -------------------------------------------------------

def test_plan_for_one_vm_is_its_decision_in_the_plan_or_a_refusal_saying_why_not():
    inv = lab_inventory()
    healthy = plan_for(inv, vm_moref("web01"), CFG)
    assert not healthy.moves and healthy.trigger == "healthy" and healthy.why == "web01 is healthy: nothing to move"
    pulled = cable_pull(inv)
    whole = run(pulled).for_vm(vm_moref("web01"))
    one = plan_for(pulled, vm_moref("web01"), CFG)
    assert one.action is whole.action is Action.VMOTION and one.why.split(';')[0] == whole.why.split(';')[0]
    degraded = plan_for(set_hba(inv, "esx-a01", "vmhba2", "dead"), vm_moref("web01"), CFG)
    assert not degraded.moves and "keep using the disks" in degraded.why and degraded.trigger == "degraded"
    apd = plan_for(set_lun(inv, "gold01", "apd"), vm_moref("web01"), CFG)
    assert not apd.moves and "moving cannot help" in apd.why
    off = replace(inv.vms[vm_moref("web02")], power_state="poweredOff")
    assert plan_for(inv.with_vm(off), off.moref, CFG).why == "web02 is poweredOff: nothing to move"
