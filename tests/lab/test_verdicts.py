"""From a fault on the SAN to the verdict of every disk: the lab, the collector and the truth together.

Each test injects one fault kind through the lab's control API, takes a fresh snapshot through SOAP,
and checks the disks that should be affected AND the ones that should not.
"""

from __future__ import annotations

import pytest

from vsguesttruth.truth import TruthContext, Verdict
from vsguesttruth.vcenter import snapshot


def truths(conn):
    inv = snapshot(conn)
    return inv, TruthContext(inv).disk_truths()


def ds_named(inv, name):
    ds = next((d for d in inv.datastores.values() if d.name == name), None)
    assert ds is not None, f"lab has no datastore {name}"
    return ds


def on_datastore(disks, ds):
    return [d for d in disks if ds.moref in {x.moref for x in d.datastores}]


def test_everything_healthy_at_start(conn):
    inv, disks = truths(conn)
    assert len(inv.hosts) == 7 and len(inv.vms) >= 18
    assert disks and {d.verdict for d in disks} == {Verdict.HEALTHY}


def test_one_path_dead_degrades_that_host_only(lab, conn):
    inv, _ = truths(conn)
    gold = ds_named(inv, "ds-gold")
    victim_host = inv.host_by_name("esx-a01")
    path = victim_host.paths_to(gold.extents[0])[0]
    lab.fault("path", host="esx-a01", path=path.name, state="dead")
    _, disks = truths(conn)
    gold_disks = on_datastore(disks, gold)
    here = [d for d in gold_disks if d.host == "esx-a01"]
    elsewhere = [d for d in gold_disks if d.host != "esx-a01"]
    assert here and elsewhere, "the lab should have ds-gold VMs on esx-a01 and on other hosts"
    assert {d.verdict for d in here} == {Verdict.DEGRADED}
    assert {d.verdict for d in elsewhere} == {Verdict.HEALTHY}
    assert all("esx-a01" in d.explanation and path.hba in d.explanation for d in here)
    others = [d for d in disks if d not in gold_disks]
    assert {d.verdict for d in others} == {Verdict.HEALTHY}


def test_all_paths_of_a_lun_dead_on_one_host_is_connectivity_lost_there(lab, conn):
    inv, _ = truths(conn)
    gold = ds_named(inv, "ds-gold")
    host = inv.host_by_name("esx-a01")
    for path in host.paths_to(gold.extents[0]):
        lab.fault("path", host="esx-a01", path=path.name, state="dead")
    _, disks = truths(conn)
    gold_disks = on_datastore(disks, gold)
    assert {d.verdict for d in gold_disks if d.host == "esx-a01"} == {Verdict.CONNECTIVITY_LOST}
    assert {d.verdict for d in gold_disks if d.host != "esx-a01"} == {Verdict.HEALTHY}


def test_cable_pull_degrades_every_san_disk_on_that_host(lab, conn):
    lab.fault("hba", host="esx-a02", hba="vmhba2", state="dead")
    inv, disks = truths(conn)
    host = inv.host_by_name("esx-a02")
    assert next(h for h in host.hbas if h.device == "vmhba2").online is False
    san = [d for d in disks if d.host == "esx-a02" and d.luns and not all(lun.local for lun in d.luns)]
    assert san and {d.verdict for d in san} == {Verdict.DEGRADED}
    assert {d.verdict for d in disks if d.host != "esx-a02"} == {Verdict.HEALTHY}


def test_array_port_failure_degrades_every_host(lab, conn):
    lab.fault("target", target="A-ctl0-p0", state="dead")
    inv, disks = truths(conn)
    gold = ds_named(inv, "ds-gold")
    gold_disks = on_datastore(disks, gold)
    assert {d.host for d in gold_disks} >= {"esx-a01", "esx-a02"}
    assert {d.verdict for d in gold_disks} == {Verdict.DEGRADED}
    nfs = on_datastore(disks, ds_named(inv, "nfs01"))
    assert nfs and {d.verdict for d in nfs} == {Verdict.HEALTHY}


def test_pdl_is_media_failure(lab, conn):
    lab.fault("lun", lun="gold01", state="pdl")
    inv, disks = truths(conn)
    gold = ds_named(inv, "ds-gold")
    gold_disks = on_datastore(disks, gold)
    assert gold_disks and {d.verdict for d in gold_disks} == {Verdict.MEDIA_FAILURE}
    # db01's RDM keeps its I/O, but its mapping file is on ds-gold: it can no longer be moved or powered on
    mapped = [d for d in disks if d.mapping is not None and d.mapping.name == "ds-gold"]
    assert mapped and {d.verdict for d in mapped} == {Verdict.DEGRADED}
    assert {d.verdict for d in disks if d not in gold_disks and d not in mapped} == {Verdict.HEALTHY}


@pytest.mark.parametrize("state", ["apd", "apd_timeout"])
def test_apd_is_all_paths_down(lab, conn, state):
    lab.fault("lun", lun="silver01", state=state)
    inv, disks = truths(conn)
    silver = on_datastore(disks, ds_named(inv, "ds-silver"))
    assert silver and {d.verdict for d in silver} == {Verdict.ALL_PATHS_DOWN}
    assert {d.verdict for d in disks if d not in silver} == {Verdict.HEALTHY}


def test_restore_brings_everything_back(lab, conn):
    lab.fault("lun", lun="gold01", state="pdl")
    lab.fault("hba", host="esx-b01", hba="vmhba3", state="dead")
    lab.restore()
    _, disks = truths(conn)
    assert {d.verdict for d in disks} == {Verdict.HEALTHY}


def test_disconnected_host_is_unknown(lab, conn):
    lab.fault("host", host="esx-b02", state="disconnected")
    _, disks = truths(conn)
    assert {d.verdict for d in disks if d.host == "esx-b02"} == {Verdict.UNKNOWN}
    assert {d.verdict for d in disks if d.host != "esx-b02"} == {Verdict.HEALTHY}


def test_rdm_maps_to_its_lun(conn):
    inv, disks = truths(conn)
    rdm = [d for d in disks if d.vm_name == "db01" and d.disk.backing == "rdm_physical"]
    assert len(rdm) == 1
    host = inv.hosts[rdm[0].host_moref]
    lun = next(lun for lun in host.luns if lun.canonical_name == rdm[0].luns[0].canonical_name)
    vm = inv.vm_by_name("db01")
    assert next(d for d in vm.disks if d.key == rdm[0].key).lun_uuid == lun.uuid
    assert len(rdm[0].luns[0].hosts) >= 2  # every host that sees the LUN is in the evidence


def test_multi_extent_datastore_maps_both_luns_and_takes_the_worst(lab, conn):
    inv, disks = truths(conn)
    span = ds_named(inv, "ds-span")
    assert len(span.extents) == 2
    span_disks = on_datastore(disks, span)
    assert span_disks and all({lun.canonical_name for lun in d.luns} == set(span.extents) for d in span_disks)
    lab.fault("lun", lun="span02", state="pdl")
    _, disks = truths(conn)
    assert {d.verdict for d in on_datastore(disks, span)} == {Verdict.MEDIA_FAILURE}


def test_snapshot_chain_resolves_to_its_datastores(conn):
    inv, disks = truths(conn)
    chained = [d for d in disks if len(d.disk.files) > 1]
    assert chained, "the lab has a VM with a snapshot delta chain"
    for d in chained:
        assert d.datastores and d.disk.files[-1].endswith(".vmdk")
