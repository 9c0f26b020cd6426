"""The audit (single points of failure of healthy disks) and what-if (a failure applied to the model, judged and
planned as the live service would), on the lab's topology as plain data."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vsguesttruth.config import RemediationConfig
from vsguesttruth.incidents.audit import audit
from vsguesttruth.incidents.whatif import PROACTIVE_HA, Failure, WhatIfError, apply, unhealthy_hosts, what_if
from vsguesttruth.model import PathState
from vsguesttruth.plan import Action, plan
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext, Verdict

from fakes.inventory import (
    ds_moref,
    drop_paths,
    host_moref,
    lab_inventory,
    map_paths,
    move_vm,
    naa,
    set_hba,
    set_lun,
    set_mount,
    set_target,
    vm_moref,
)

LAB = lab_inventory()
AUTO = RemediationConfig(mode="auto", replicas={"ds-gold": "ds-gold-replica"})


def judged(inv) -> list[tuple[str, int, Verdict, str]]:
    return [(d.vm, d.key, d.verdict, d.explanation) for d in TruthContext(inv).disk_truths()]


def kinds(findings) -> set[tuple[str, str]]:
    return {(f.kind, f.key) for f in findings}


def one_fabric(inv, lun: str, fabric_hba: str = "vmhba2"):
    """``lun`` presented through one fabric only: every host's paths to it through ``fabric_hba``."""
    for moref, host in inv.hosts.items():
        inv = inv.with_host(replace(host, paths=tuple(p for p in host.paths if p.lun != naa(lun) or p.hba == fabric_hba)))
    return inv


# -- audit ------------------------------------------------------------------------------------------

def test_the_lab_without_deliberate_weaknesses_has_no_single_point_of_failure():
    assert audit(LAB) == []


def test_a_lun_on_one_fabric_is_a_fabric_and_an_hba_single_point_of_failure():
    found = audit(one_fabric(LAB, "silver01"))
    assert ("single_fabric", "fabric:A") in kinds(found)
    assert ("single_hba", f"hba:{host_moref('esx-a01')}/vmhba2") in kinds(found)
    fabric = next(f for f in found if f.kind == "single_fabric")
    assert set(fabric.vms) == {"web01", "snap01"} and fabric.luns == (naa("silver01"),) and "ds-silver" in fabric.datastores
    assert found[0] is fabric  # ranked by disks one failure would hit: the fabric's spans every host
    assert "through fabric A" in fabric.why and "2 disks (2 VMs)" in fabric.why


def test_a_lun_behind_one_controller_or_one_port():
    def masked(ports):
        inv = LAB
        for host in LAB.hosts.values():
            inv = inv.with_host(replace(host, paths=tuple(p for p in host.paths if p.lun != naa("span01")
                                                         or p.target in ports)))
        return inv

    found = audit(masked({"A-ctl0-p0", "A-ctl0-p1"}))
    assert ("single_controller", "controller:A-ctl0") in kinds(found)
    assert not any(f.kind in ("single_target", "single_fabric", "single_hba") for f in found)
    assert ("single_target", "target:A-ctl0-p1") in kinds(audit(masked({"A-ctl0-p1"})))


def test_a_host_with_fewer_paths_than_its_peers_is_drift_even_without_vms():
    found = audit(drop_paths(LAB, "esx-a03", "vmhba3"))
    drift = next(f for f in found if f.kind == "path_drift")
    assert drift.key == f"host:{host_moref('esx-a03')}" and "2 paths where its peers have 4" in drift.why
    assert set(drift.vms) == {"snap01"}
    empty = drop_paths(move_vm(LAB, "snap01", "esx-a01"), "esx-a03", "vmhba3")
    drift = next(f for f in audit(empty) if f.kind == "path_drift")
    assert drift.disks == () and "0 disks" in drift.why


def test_a_lun_presented_to_part_of_the_cluster():
    inv = LAB.with_host(replace(LAB.hosts[host_moref("esx-a03")], paths=tuple(
        p for p in LAB.hosts[host_moref("esx-a03")].paths if p.lun != naa("span01"))))
    found = [f for f in audit(inv) if f.kind == "presentation"]
    assert [f.key for f in found] == [f"lun:{naa('span01')}@cl-a"]
    assert found[0].hosts == ("esx-a03",) and "reaches 2 of the 3 hosts of cl-a" in found[0].why
    assert found[0].vms == ("app01",)


def test_a_datastore_the_admin_wants_replicated():
    found = audit(LAB, replicas={"ds-gold": "ds-gold-replica"}, replicas_wanted=["ds-gold", "ds-silver"])
    assert kinds(found) == {("no_replica", f"datastore:{ds_moref('ds-silver')}")}
    assert set(found[0].vms) == {"web01", "snap01"}
    gone = audit(LAB, replicas={"ds-gold": "ds-nowhere"}, replicas_wanted=["ds-gold"])
    assert "is not a datastore in vCenter" in gone[0].why


def test_an_rdm_whose_mapping_file_has_one_path():
    def one_path(host, p):
        return p if p.lun != naa("gold01") or p.name == "vmhba2:C0:T1:L1" else replace(p, state=PathState.DISABLED)

    inv = map_paths(LAB, one_path, ["esx-a01"])
    found = [f for f in audit(inv) if f.kind == "rdm_mapping"]
    assert [f.key for f in found] == [f"rdm:{ds_moref('ds-gold')}@{host_moref('esx-a01')}"]
    assert found[0].vms == ("db01",) and "vmhba2:C0:T1:L1" in found[0].why


def test_unhealthy_disks_are_incidents_not_findings():
    inv = one_fabric(set_lun(LAB, "silver01", "apd"), "silver01")
    assert not any(f.kind == "single_fabric" for f in audit(inv))


def test_findings_are_ranked_by_disks_hit():
    found = audit(one_fabric(one_fabric(LAB, "gold01"), "silver01", "vmhba3"), replicas_wanted=["*"])
    counts = [len(f.disks) for f in found]
    assert counts == sorted(counts, reverse=True) and found[0].key == "fabric:A"


# -- what-if ----------------------------------------------------------------------------------------

def test_what_if_an_hba_fails_is_what_the_lab_fault_gives():
    failed, words = apply(LAB, Failure("hba", "esx-a01", "vmhba2"))
    assert judged(failed) == judged(set_hba(LAB, "esx-a01", "vmhba2", "dead"))
    assert words == "vmhba2 on esx-a01 offline, its paths dead"


def test_what_if_a_target_a_controller_a_lun():
    assert judged(apply(LAB, Failure("target", "A-ctl0-p0"))[0]) == judged(set_target(LAB, "A-ctl0-p0", "dead"))
    ctl = apply(LAB, Failure("controller", "A-ctl1"))[0]
    both = set_target(set_target(LAB, "A-ctl1-p0", "dead"), "A-ctl1-p1", "dead")
    assert judged(ctl) == judged(both)
    pdl = apply(LAB, Failure("lun", "gold01", state="pdl"))[0]
    assert {d.verdict for d in TruthContext(pdl).disk_truths() if naa("gold01") in [x.canonical_name for x in d.luns]} \
        == {Verdict.MEDIA_FAILURE}


def test_what_if_a_fabric_fails_every_disk_degrades_and_nothing_moves():
    w = what_if(LAB, Failure("fabric", "A"), AUTO)
    assert w.counts() == {"degraded": 9} and not w.plan.decisions
    assert [i.key for i in w.incidents] == ["fabric:A"]
    assert ("esx-a01", "yellow") in w.unhealthy_hosts
    data = w.as_dict()
    assert data["disk_count"] == 9 and data["incidents"][0]["kind"] == "fabric"


def test_what_if_a_fabric_fails_under_a_level_of_three_paths_nothing_fits():
    w = what_if(LAB, Failure("fabric", "B"), AUTO, level=ServiceLevel(min_working_paths=3))
    assert w.plan.decisions and not w.plan.moves
    assert all("no healthy host" in d.why for d in w.plan.refusals)


def test_what_if_both_hbas_of_a_host_the_planner_moves_its_vms_as_it_would_live():
    inv = set_hba(LAB, "esx-a01", "vmhba3", "dead")
    w = what_if(inv, Failure("hba", "esx-a01", "vmhba2"), AUTO, recent_moves={vm_moref("web01"): 60.0})
    live = set_hba(inv, "esx-a01", "vmhba2", "dead")
    ctx = TruthContext(live)
    expected = plan(live, [t for t in ctx.vm_truths() if t.verdict is not Verdict.HEALTHY], AUTO, context=ctx)
    assert [(d.vm_name, d.action, d.to_host_name) for d in w.plan.decisions] == \
        [(d.vm_name, d.action, d.to_host_name) for d in expected.decisions]
    assert {d.vm_name for d in w.plan.moves} == {"web01", "db01"}
    assert all(d.action is Action.VMOTION and d.to_host_name in ("esx-a02", "esx-a03") for d in w.plan.moves)
    assert w.rails.used_last_hour == 1 and w.rails.in_cooldown == ("web01",) and w.rails.first_hour == 1
    assert any("budget: 10 moves per hour, 1 used in the last hour" in line for line in w.rails.lines())


def test_what_if_a_lun_in_pdl_fails_over_to_the_replica():
    w = what_if(LAB, Failure("lun", "ds-gold", state="pdl"), AUTO)
    assert {d.action for d in w.plan.moves} == {Action.RELOCATE_TO_REPLICA}
    assert all(d.to_datastore_name == "ds-gold-replica" for d in w.plan.moves)


def test_what_if_a_host_fails_says_ha_restarts_its_vms():
    w = what_if(LAB, Failure("host", "esx-b01"), AUTO)
    assert w.counts() == {"unknown": 2} and not w.plan.moves and "vSphere HA" in w.notes[0]


def test_what_if_in_the_proactive_ha_mode_names_unhealthy_hosts():
    inv = set_hba(LAB, "esx-a02", "vmhba3", "dead")
    w = what_if(inv, Failure("hba", "esx-a02", "vmhba2"), replace(AUTO, mode=PROACTIVE_HA))
    assert ("esx-a02", "red") in w.unhealthy_hosts and any("proactive-ha" in n for n in w.notes)
    assert w.as_dict()["proactive_ha"]["mode"] is True


def test_proactive_ha_health_red_only_for_storage_other_hosts_reach():
    ctx = TruthContext(LAB)
    assert unhealthy_hosts(ctx, LAB) == ()
    # every path of one host to its LUNs gone while the other hosts reach them: red, that host only
    both = set_hba(set_hba(LAB, "esx-a02", "vmhba2", "dead"), "esx-a02", "vmhba3", "dead")
    assert unhealthy_hosts(TruthContext(both), both) == (("esx-a02", "red"),)
    # APD on every host, PDL: the array's failure, no host is to blame
    for state in ("apd", "pdl"):
        gone = set_lun(LAB, "gold01", state)
        assert unhealthy_hosts(TruthContext(gone), gone) == (), state
    # an NFS datastore inaccessible on one host only, accessible on its peers
    nfs = next(ds for ds in LAB.datastores.values() if ds.kind.startswith("NFS"))
    lost = set_mount(LAB, nfs.name, "esx-b01", False)
    assert ("esx-b01", "red") in unhealthy_hosts(TruthContext(lost), lost)


def test_proactive_ha_health_yellow_when_redundancy_is_gone_or_below_the_level():
    one = set_hba(LAB, "esx-a01", "vmhba2", "dead")
    assert unhealthy_hosts(TruthContext(one), one) == (("esx-a01", "yellow"),)
    host = LAB.hosts[host_moref("esx-b02")]
    paths = max(sum(1 for p in host.paths if p.lun == lun.canonical_name) for lun in host.luns if not lun.local)
    wanted = ServiceLevel(min_working_paths=paths + 1)
    assert ("esx-b02", "yellow") in unhealthy_hosts(TruthContext(LAB), LAB, wanted)
    assert all(health == "yellow" for _, health in unhealthy_hosts(TruthContext(LAB), LAB, wanted))


def test_what_if_names_only_the_hosts_the_failure_makes_unhealthy():
    w = what_if(LAB, Failure("lun", "ds-gold", state="apd"), replace(AUTO, mode=PROACTIVE_HA))
    assert w.changes and w.unhealthy_hosts == ()
    wanted = ServiceLevel(min_working_paths=2)
    w = what_if(LAB, Failure("hba", "esx-a01", "vmhba2"), replace(AUTO, mode=PROACTIVE_HA), level=wanted)
    assert w.unhealthy_hosts == (("esx-a01", "yellow"),)


@pytest.mark.parametrize("failure, message", [
    (Failure("hba", "esx-z9", "vmhba2"), "no host named 'esx-z9'"),
    (Failure("hba", "esx-a01", "vmhba7"), "esx-a01 has no HBA 'vmhba7'"),
    (Failure("target", "52:00"), "no path uses a target port '52:00'"),
    (Failure("controller", "Z-ctl9"), "no controller 'Z-ctl9'"),
    (Failure("fabric", "Q"), "no fabric 'Q'; the paths show A, B"),
    (Failure("lun", "nope", state="pdl"), "no LUN named 'nope'"),
    (Failure("lun", "gold01", state="gone"), "PDL (--pdl) or in APD (--apd)"),
    (Failure("switch", "A"), "unknown failure kind 'switch'"),
])
def test_what_if_of_something_not_there_says_what_is(failure, message):
    with pytest.raises(WhatIfError, match=message.replace("(", r"\(").replace(")", r"\)")):
        apply(LAB, failure)


def test_a_target_by_wwpn_in_any_spelling():
    def wwpns(host, p):
        return replace(p, target="52:4a:93:70:00:a0:01:10") if p.target == "A-ctl0-p0" else p

    inv = map_paths(LAB, wwpns)
    assert apply(inv, Failure("target", "524A937000A00110"))[1] == "target 52:4a:93:70:00:a0:01:10 (A-ctl0-p0) dead on every host"
    assert apply(inv, Failure("target", "A-ctl0-p0"))[1].startswith("target 52:4a:93:70:00:a0:01:10")


def test_a_host_with_one_hba_loses_everything_when_it_fails():
    lonely = LAB.hosts[host_moref("esx-b03")]
    inv = move_vm(LAB.with_host(replace(lonely, hbas=tuple(h for h in lonely.hbas if h.device != "vmhba3"),
                                        paths=tuple(p for p in lonely.paths if p.hba != "vmhba3"))), "bk01", "esx-b03")
    found = kinds(audit(inv))
    assert {("single_hba", f"hba:{host_moref('esx-b03')}/vmhba2"), ("path_drift", f"host:{host_moref('esx-b03')}")} <= found
    w = what_if(inv, Failure("hba", "esx-b03", "vmhba2"), AUTO)
    assert {(c.vm_name, c.new) for c in w.changes} == {("bk01", Verdict.CONNECTIVITY_LOST)}
    assert [(d.vm_name, d.to_host_name) for d in w.plan.moves] == [("bk01", "esx-b01")]
    assert w.unhealthy_hosts == (("esx-b03", "red"),)
