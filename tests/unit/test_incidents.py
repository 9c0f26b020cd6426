"""Incidents on the lab's topology, fault by fault: which component failed, what it hits; and the grouping's
invariants over any sequence of the lab's faults (hypothesis)."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from vsguesttruth.incidents import Kind, failures, footprints, hits, san_map
from vsguesttruth.incidents.hits import disk_failures
from vsguesttruth.model import Inventory, PathState
from vsguesttruth.truth import TruthContext, Verdict

from fakes.inventory import (
    FAULTS,
    HOSTS,
    apply,
    drop_paths,
    ds_moref,
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
    vm_moref,
)

LAB = lab_inventory()
PORT0 = ("A-ctl0-p0", "A-ctl1-p0", "B-ctl0-p0", "B-ctl1-p0")  # fabric A


def grouped(inv: Inventory):
    """(failures, hits by failure key with verdicts) of an inventory."""
    ctx = TruthContext(inv)
    found = failures(inv, ctx)
    return found, hits(found, footprints(inv, ctx), inv, {t.vm: t for t in ctx.vm_truths()})


def hit_names(found_hits, key: str) -> set[tuple[str, str]]:
    return {(h.vm_name, h.label) for h in found_hits[key]}


def unhealthy(inv: Inventory) -> set[tuple[str, str]]:
    return {(d.vm_name, d.label) for d in TruthContext(inv).disk_truths() if d.verdict is not Verdict.HEALTHY}


def test_a_healthy_inventory_has_no_failure():
    assert failures(LAB) == ()


def test_the_san_map_infers_two_fabrics_and_the_controllers_from_port_names():
    san = san_map(LAB)
    assert set(san.fabrics) == {"A", "B"}
    assert san.fabrics["A"].device == "vmhba2" and set(san.fabrics["A"].ports) == set(PORT0)
    assert san.fabric_of(host_moref("esx-b03"), "vmhba3") == "B"
    assert set(san.controllers) == {"A-ctl0", "A-ctl1", "B-ctl0", "B-ctl1"}
    assert san.controllers["A-ctl0"].ports == ("A-ctl0-p0", "A-ctl0-p1")
    assert san.find_port("a-ctl1-p1").wwpn == "A-ctl1-p1" and san.find_fabric("a").name == "A"
    assert san.find_controller("A-ctl0-p1").key == "A-ctl0" and san.find_fabric("B-ctl0-p0").name == "A"


def test_controllers_from_a_shared_target_node_wwn_when_ports_have_no_names():
    def nodes(host, p):
        return replace(p, target_port_name="", target_node=f"50:0a:09:80:00:00:00:0{p.target[5]}" if p.target else "")

    san = san_map(map_paths(LAB, nodes))
    assert {c.name for c in san.controllers.values()} == {"node 50:0a:09:80:00:00:00:00", "node 50:0a:09:80:00:00:00:01"}


def test_one_dead_path_is_one_path_failure():
    inv = set_path(LAB, "esx-a01", "vmhba2:C0:T0:L1", "dead")
    found, h = grouped(inv)
    assert [(f.kind, f.cause, f.host_names) for f in found] == [(Kind.PATH, "dead", ("esx-a01",))]
    assert "vmhba2:C0:T0:L1 on esx-a01" in found[0].name and "A-ctl0-p0" in found[0].name
    assert hit_names(h, found[0].key) == {("web01", "Hard disk 1"), ("db01", "Hard disk 1")} == unhealthy(inv)


def test_a_disabled_path_is_named_disabled():
    found, _ = grouped(set_path(LAB, "esx-a02", "vmhba3:C0:T1:L2", "disabled"))
    assert [(f.kind, f.cause) for f in found] == [(Kind.PATH, "disabled")]


def test_a_cable_pull_is_one_hba_failure_offline_on_its_host():
    inv = set_hba(LAB, "esx-a01", "vmhba2", "dead")
    found, h = grouped(inv)
    assert [(f.kind, f.cause, f.key) for f in found] == [(Kind.HBA, "offline", f"hba:{host_moref('esx-a01')}/vmhba2")]
    assert found[0].detail["fabric"] == "A" and "WWPN" in found[0].name
    assert hit_names(h, found[0].key) == unhealthy(inv) == {("web01", "Hard disk 1"), ("web01", "Hard disk 2"),
                                                            ("db01", "Hard disk 1"), ("db01", "Hard disk 2")}
    assert all(x.verdict is Verdict.DEGRADED for x in h[found[0].key])


def test_a_pulled_cable_whose_paths_a_rescan_dropped_is_still_an_incident():
    inv = drop_paths(set_hba(LAB, "esx-a01", "vmhba2", "dead"), "esx-a01", "vmhba2")
    found, h = grouped(inv)
    assert [(f.kind, f.cause) for f in found] == [(Kind.HBA, "offline")] and h[found[0].key] == ()


def test_a_dead_array_port_is_one_target_failure_on_every_host_that_uses_it():
    inv = set_target(LAB, "A-ctl0-p0", "dead")
    found, h = grouped(inv)
    assert [(f.kind, f.cause, f.key) for f in found] == [(Kind.TARGET, "dead", "target:A-ctl0-p0")]
    f = found[0]
    assert f.host_names == HOSTS and f.detail["fabric"] == "A" and f.detail["controller"] == "A-ctl0"
    assert f.line().startswith("target A-ctl0-p0 dead on 6 hosts (")
    assert hit_names(h, f.key) == unhealthy(inv) and len(h[f.key]) == 9
    assert "ds-gold" in f.datastores and naa("gold01") in f.luns


def test_both_ports_of_a_controller_are_one_controller_failure():
    inv = set_target(set_target(LAB, "A-ctl0-p0", "dead"), "A-ctl0-p1", "dead")
    found, h = grouped(inv)
    assert [(f.kind, f.key) for f in found] == [(Kind.CONTROLLER, "controller:A-ctl0")]
    assert "A-ctl0-p0, A-ctl0-p1" in found[0].name and hit_names(h, found[0].key) == unhealthy(inv)


def test_every_port_of_fabric_a_dead_is_one_fabric_failure():
    inv = LAB
    for port in PORT0:
        inv = set_target(inv, port, "dead")
    found, h = grouped(inv)
    assert [(f.kind, f.key, f.cause) for f in found] == [(Kind.FABRIC, "fabric:A", "dead")]
    assert found[0].name.startswith("fabric A (vmhba2 on 6 hosts, 4 target ports)")
    assert hit_names(h, found[0].key) == unhealthy(inv)


def test_a_switch_that_takes_every_fabric_b_hba_offline_is_one_fabric_failure():
    inv = LAB
    for host in HOSTS:
        inv = set_hba(inv, host, "vmhba3", "dead")
    found, _ = grouped(inv)
    assert [(f.kind, f.key, f.cause) for f in found] == [(Kind.FABRIC, "fabric:B", "dead")]
    assert len(found[0].hosts) == 6


def test_pdl_and_apd_are_lun_failures_with_their_cause():
    found, h = grouped(set_lun(LAB, "gold01", "pdl"))
    assert [(f.kind, f.cause) for f in found] == [(Kind.LUN, "pdl")]
    assert "gold01" in found[0].name and "ds-gold" in found[0].name
    assert {(x.vm_name, x.label, x.verdict) for x in h[found[0].key] if x.vm_name == "db01"} == {
        ("db01", "Hard disk 1", Verdict.MEDIA_FAILURE),
        ("db01", "Hard disk 2", Verdict.DEGRADED)}  # the RDM: its mapping file is on ds-gold
    assert {x.verdict for x in h[found[0].key] if x.label == "Hard disk 1"} == {Verdict.MEDIA_FAILURE}
    found, h = grouped(set_lun(LAB, "silver01", "apd_timeout"))
    assert [(f.kind, f.cause) for f in found] == [(Kind.LUN, "apd")]
    assert {x.verdict for x in h[found[0].key]} == {Verdict.ALL_PATHS_DOWN}


def test_a_lun_reported_failed_by_its_operational_state_is_a_lun_failure():
    def failed(inv):
        for moref, host in inv.hosts.items():
            inv = inv.with_host(replace(host, luns=tuple(
                replace(x, operational_state=("error",)) if x.canonical_name == naa("span01") else x for x in host.luns)))
        return inv

    found, h = grouped(failed(LAB))
    assert [(f.kind, f.cause) for f in found] == [(Kind.LUN, "failed")]
    assert hit_names(h, found[0].key) == {("app01", "Hard disk 1")}


def test_a_host_vcenter_cannot_reach_is_a_host_failure_hitting_its_vms():
    found, h = grouped(set_host(LAB, "esx-a01", "notResponding"))
    assert [(f.kind, f.cause, f.host_names) for f in found] == [(Kind.HOST, "notResponding", ("esx-a01",))]
    assert {x.vm_name for x in h[found[0].key]} == {"web01", "db01", "local01"}
    assert {x.verdict for x in h[found[0].key]} == {Verdict.UNKNOWN}


def test_an_nfs_mount_lost_on_one_host_is_a_datastore_failure():
    inv = set_mount(LAB, "nfs01", "esx-b02", False)
    found, h = grouped(inv)
    assert [(f.kind, f.key, f.host_names) for f in found] == [(Kind.DATASTORE, f"datastore:{ds_moref('nfs01')}", ("esx-b02",))]
    assert hit_names(h, found[0].key) == {("files01", "Hard disk 1")} == unhealthy(inv)


def test_a_vm_on_a_host_without_its_datastore_is_evidence_on_that_host():
    inv = move_vm(LAB, "bk01", "esx-a01")  # ds-bronze is presented to cl-b only
    found, h = grouped(inv)
    assert [(f.kind, f.cause, f.host_names) for f in found] == [(Kind.PATH, "no_path", ("esx-a01",))]
    assert hit_names(h, found[0].key) == {("bk01", "Hard disk 1")} == unhealthy(inv)


def test_overlapping_faults_are_separate_incidents_and_a_disk_hit_by_both_is_under_both():
    inv = set_hba(set_target(LAB, "A-ctl1-p0", "dead"), "esx-a01", "vmhba2", "dead")
    found, h = grouped(inv)
    assert {f.key for f in found} == {"target:A-ctl1-p0", f"hba:{host_moref('esx-a01')}/vmhba2"}
    both = set.intersection(*(hit_names(h, f.key) for f in found))
    assert ("web01", "Hard disk 1") in both and ("db01", "Hard disk 2") in both
    assert set.union(*(hit_names(h, f.key) for f in found)) == unhealthy(inv)


def test_a_dead_port_on_top_of_a_lun_in_apd_keeps_both():
    inv = set_target(set_lun(LAB, "span01", "apd"), "A-ctl0-p0", "dead")
    found, _ = grouped(inv)
    assert {(f.kind, f.cause) for f in found} == {(Kind.TARGET, "dead"), (Kind.LUN, "apd")}


def test_both_fabrics_down_are_two_fabric_failures_not_one_per_lun():
    inv = LAB
    for host in HOSTS:
        inv = set_hba(set_hba(inv, host, "vmhba2", "dead"), host, "vmhba3", "dead")
    found, h = grouped(inv)
    assert sorted(f.key for f in found) == ["fabric:A", "fabric:B"]
    assert set.union(*(hit_names(h, f.key) for f in found)) == unhealthy(inv)


def test_names_carry_wwpns_port_names_and_the_lab_words():
    def wwpns(host, p):
        return replace(p, target="52:4a:93:70:00:a0:01:" + str(10 + PORT0.index(p.target)) if p.target in PORT0
                       else p.target) if p.target else p

    inv = set_target(map_paths(LAB, wwpns), "52:4a:93:70:00:a0:01:10", "dead")
    found, _ = grouped(inv)
    assert found[0].name == "target 52:4a:93:70:00:a0:01:10 (A-ctl0-p0)"
    assert found[0].detail["port_name"] == "A-ctl0-p0"


# -- invariants ---------------------------------------------------------------------------------------

#: verdicts that say something failed (``unknown`` only counts when the VM's host is not connected: a disk
#: that cannot be mapped is not a failure)
FAILED = {Verdict.DEGRADED, Verdict.CONNECTIVITY_LOST, Verdict.ALL_PATHS_DOWN, Verdict.MEDIA_FAILURE}


def failed_disks(inv: Inventory) -> set[tuple[str, int]]:
    out = set()
    for d in TruthContext(inv).disk_truths():
        host = inv.hosts.get(d.host_moref)
        if d.verdict in FAILED or (d.verdict is Verdict.UNKNOWN and host is not None and not host.connected):
            out.add((d.vm, d.key))
    return out


def shuffled(inv: Inventory, seed: int) -> Inventory:
    rnd = random.Random(seed)

    def mix(items):
        items = list(items)
        rnd.shuffle(items)
        return items

    hosts = {m: replace(h, paths=tuple(mix(h.paths)), luns=tuple(mix(h.luns)), hbas=tuple(mix(h.hbas)))
             for m, h in mix(inv.hosts.items())}
    return replace(inv, hosts=hosts, datastores=dict(mix(inv.datastores.items())), vms=dict(mix(inv.vms.items())))


@settings(max_examples=60, deadline=None)
@given(FAULTS)
def test_every_failed_disk_belongs_to_at_least_one_incident(faults):
    inv = LAB
    for fault in faults:
        inv = apply(inv, fault)
    found, h = grouped(inv)
    covered = {(x.vm, x.key) for hs in h.values() for x in hs}
    assert failed_disks(inv) <= covered
    assert all(f.symptoms for f in found)
    if not faults:
        assert found == ()


@settings(max_examples=40, deadline=None)
@given(FAULTS, st.integers(0, 2**32))
def test_the_grouping_does_not_depend_on_input_order(faults, seed):
    inv = LAB
    for fault in faults:
        inv = apply(inv, fault)
    found, h = grouped(inv)
    found2, h2 = grouped(shuffled(inv, seed))
    assert [(f.key, f.cause, f.symptoms, f.scope, f.hosts) for f in found] == \
           [(f.key, f.cause, f.symptoms, f.scope, f.hosts) for f in found2]
    assert h == h2


@settings(max_examples=40, deadline=None)
@given(FAULTS)
def test_every_symptom_is_explained_by_exactly_the_chosen_failures(faults):
    inv = LAB
    for fault in faults:
        inv = apply(inv, fault)
    found, _ = grouped(inv)
    from vsguesttruth.incidents import symptoms

    ctx = TruthContext(inv)
    every = set(symptoms(inv, ctx, footprints(inv, ctx)))
    explained = {s for f in found for s in f.symptoms}
    assert explained == every
    for f in found:  # each failure explains something no other one does
        others = {s for g in found if g is not f for s in g.symptoms}
        assert set(f.symptoms) - others


def test_paths_of_a_disconnected_host_are_no_evidence():
    inv = set_host(set_hba(LAB, "esx-a02", "vmhba2", "dead"), "esx-a02", "disconnected")
    found, _ = grouped(inv)
    assert [f.kind for f in found] == [Kind.HOST]


def test_a_dead_path_to_the_local_disk_is_a_path_failure():
    inv = map_paths(LAB, lambda h, p: replace(p, state=PathState.DEAD) if p.hba == "vmhba0" else p, ["esx-a01"])
    found, h = grouped(inv)
    assert [(f.kind, f.host_names) for f in found] in ([(Kind.PATH, ("esx-a01",))], [(Kind.HBA, ("esx-a01",))])
    assert hit_names(h, found[0].key) == {("local01", "Hard disk 1")}


def test_hits_without_truths_have_no_verdicts():
    inv = set_target(LAB, "A-ctl0-p0", "dead")
    ctx = TruthContext(inv)
    found = failures(inv, ctx)
    plain = hits(found, footprints(inv, ctx), inv)
    assert plain[found[0].key] and all(x.verdict is None for x in plain[found[0].key])
    assert {x.vm for x in plain[found[0].key]} >= {vm_moref("web01")}


def test_the_same_inventory_gives_equal_failures():
    assert failures(set_target(LAB, "A-ctl0-p0", "dead")) == failures(set_target(LAB, "A-ctl0-p0", "dead"))


@settings(max_examples=40, deadline=None)
@given(FAULTS, st.booleans())
def test_footprints_kept_across_inventories_are_a_fresh_inventorys(faults, written):
    """The service's Footprints follow each backing once while no datastore's extents change: a VM that got a
    new document (a new object) or a fault elsewhere gives the footprints a fresh inventory gives."""
    from dataclasses import replace

    from vsguesttruth.incidents.footprint import Footprints

    from fakes import inventory as f

    kept = Footprints()
    inv = f.lab_inventory()
    prints = kept.of(inv, TruthContext(inv))
    assert all(prints[m] for m in inv.vms)
    for fault in faults:
        inv = f.apply(inv, fault)
    if written:
        web01 = inv.vm_by_name("web01")
        inv = replace(inv, vms={**inv.vms, web01.moref: replace(web01, guestinfo={"guestinfo.x": "1"})})
    later = kept.of(inv, TruthContext(inv))
    fresh = footprints(inv, TruthContext(inv))
    assert {m: later[m] for m in inv.vms} == {m: fresh[m] for m in inv.vms}


def with_delta(old, new):
    """``new`` stamped with the watch's delta from ``old``: the hosts, datastores and VMs that are new objects."""
    from vsguesttruth.model import Delta

    def changed(kind):
        a, b = getattr(old, kind), getattr(new, kind)
        return frozenset(m for m in a.keys() | b.keys() if a.get(m) is not b.get(m))

    return replace(new).stamped(Delta(old.serial, changed("hosts"), changed("datastores"), changed("vms")))


@settings(max_examples=60, deadline=None)
@given(st.lists(FAULTS, min_size=1, max_size=5))
def test_evidence_kept_across_inventories_gives_a_fresh_inventorys_failures(steps):
    """The incident pass keeps its symptoms, VM placements and path counts from one inventory to the next
    (re-read only where hosts, VMs or datastores changed): any sequence of faults (and their undoing, a path
    back, a VM moved) gives the failures a fresh look at the last inventory gives."""
    from vsguesttruth.incidents.evidence import Evidence
    from vsguesttruth.incidents.footprint import Footprints
    from vsguesttruth.incidents.hits import DiskFailures
    from vsguesttruth.truth.hostindex import HostIndex

    evidence, index, inv = Evidence(), HostIndex(), replace(LAB).stamped(None)
    kept_prints, kept_disks = Footprints(), DiskFailures()
    failures(inv, TruthContext(inv, index), evidence=evidence)
    for faults in steps:
        before = inv
        for fault in faults:
            inv = apply(inv, fault)
        inv = set_path(inv, "esx-a01", "vmhba2:C0:T0:L1", "dead" if len(faults) % 2 else "active")
        inv = with_delta(before, inv)  # what the watch tells of the objects that changed
        ctx = TruthContext(inv, index)
        kept = failures(inv, ctx, evidence=evidence)
        assert kept == failures(inv)
        # the disks they hit, from the VMs per host the evidence keeps (and each host's disks kept while its
        # failures, VMs and footprints stay), as from a walk of every VM
        prints = footprints(inv, ctx)
        by_host = disk_failures(kept, prints, inv, on_host=evidence.placement.vms_on)
        assert by_host == disk_failures(kept, prints, inv)
        assert list(kept_disks(kept, kept_prints.of(inv, ctx), inv, evidence.placement.vms_on).items()) == \
            list(by_host.items())


def test_a_failure_described_before_is_named_anew_after_a_rename():
    """The grouping keeps each failure's description while its evidence stays (a storm changes a few of dozens);
    a host, cluster or LUN renamed (the evidence the same) is named by its new name, as a fresh look names it."""
    from vsguesttruth.incidents.evidence import Evidence

    evidence = Evidence()
    inv = set_path(LAB, "esx-a01", "vmhba2:C0:T0:L1", "dead")
    san = san_map(inv)  # the incident pass keeps it while no host's HBA-to-target edges change
    [before] = failures(inv, TruthContext(inv), san=san, evidence=evidence)
    assert failures(inv, TruthContext(inv), san=san, evidence=evidence)[0] is before  # not described again
    host = inv.host_by_name("esx-a01")
    lun = next(x for x in host.luns if x.canonical_name == before.luns[0])
    renamed = replace(host, name="esx-a01-new", cluster="prod-renamed",
                      luns=tuple(replace(x, display_name="gold-renamed") if x is lun else x for x in host.luns))
    inv = replace(inv, hosts={**inv.hosts, host.moref: renamed})
    [after] = failures(inv, TruthContext(inv), san=san, evidence=evidence)
    assert after == failures(inv)[0] and after != before
    assert "esx-a01-new" in after.name and after.clusters == ("prod-renamed",)
