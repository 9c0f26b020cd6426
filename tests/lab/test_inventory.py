"""snapshot() on the lab's default topology (lab/README.md): the SAN comes out right."""

from __future__ import annotations

import re
import time

import pytest

from vsguesttruth.vcenter import snapshot

pytestmark = pytest.mark.lab

WWN = re.compile(r"^([0-9a-f]{2}:){7}[0-9a-f]{2}$")
CLUSTERS = {"cl-a": {"esx-a01", "esx-a02", "esx-a03"}, "cl-b": {"esx-b01", "esx-b02", "esx-b03", "esx-b04"}}


def cabling(lab) -> tuple[dict[str, dict[str, str]], dict[str, list[str]]]:
    """host name -> FC HBA device -> fabric, and LUN canonical name -> the fabrics it is presented through."""
    topo = lab.topology()
    hbas = {h["name"]: {a["device"]: a["fabric"] for a in h["hbas"] if a.get("fabric") and not a.get("protocol")}
             for h in topo["hosts"]}  # the SCSI cards (an FC-NVMe adapter shares its card)
    return hbas, {lun["canonical_name"]: lun["fabrics"] for lun in topo["luns"]}


@pytest.fixture(scope="module")
def inv(conn):
    return snapshot(conn)


def ds(inv, name):
    found = [d for d in inv.datastores.values() if d.name == name]
    assert found, f"no datastore {name}; have {sorted(d.name for d in inv.datastores.values())}"
    return found[0]


def test_hosts_and_clusters(inv):
    assert len(inv.hosts) == 7
    by_cluster: dict[str, set[str]] = {}
    for host in inv.hosts.values():
        by_cluster.setdefault(host.cluster, set()).add(host.name)
        assert host.connected and not host.maintenance
        assert host.moref.startswith("host-")
    assert by_cluster == CLUSTERS


def test_hbas_have_their_own_wwpns(inv, lab):
    wwpns = []
    fc, _ = cabling(lab)
    for host in inv.hosts.values():
        hbas = {h.device: h for h in host.hbas}
        assert {"vmhba0", *fc[host.name]} <= set(hbas), host.name
        assert len(fc[host.name]) == (1 if host.name == "esx-b04" else 2)  # esx-b04: one HBA, on fabric B
        for device in fc[host.name]:
            assert hbas[device].kind == "fc" and hbas[device].online
            assert WWN.match(hbas[device].wwpn), hbas[device].wwpn
            wwpns.append(hbas[device].wwpn)
        assert hbas["vmhba0"].wwpn == ""
    assert len(set(wwpns)) == len(wwpns) == 13


def test_array_luns_have_four_alua_paths_on_every_host_that_sees_them(inv, lab):
    """Two paths (one per controller) through every HBA the host has on a fabric the LUN is presented through:
    four on a host cabled to both fabrics, two to edge01 (fabric A only) and on esx-b04 (one HBA)."""
    fc, fabrics = cabling(lab)
    initial = {(h["name"], p["name"]): p["initial_state"] for h in lab.topology()["hosts"] for p in h["paths"]}
    array_luns = {name for d in inv.datastores.values() if d.kind == "VMFS" and not d.name.startswith("local-")
                  for name in d.extents}
    assert array_luns
    for host in inv.hosts.values():
        for canonical in array_luns:
            lun = host.lun(canonical)
            if lun is None:
                continue  # bronze01 is presented to cl-b only
            if canonical.startswith("eui."):
                continue  # the NVMe namespace: HPP, test_lab_truth_cases.py
            assert canonical.startswith("naa.")
            paths = host.paths_to(canonical)
            cabled = {d for d, f in fc[host.name].items() if f in fabrics[canonical]}
            assert len(paths) == 2 * len(cabled), (host.name, canonical, paths)
            # ALUA active/non-optimized paths are "active" too; only a standby target port group is not
            assert [p.state.value for p in paths] == [initial[(host.name, p.name)] for p in paths]
            half = len(paths) // 2
            assert sorted(p.state.value for p in paths) in (["active"] * len(paths), ["active"] * half + ["standby"] * half)
            assert {p.hba for p in paths} == cabled
            assert all(WWN.match(p.target) for p in paths)
            assert len({p.target for p in paths}) == len(paths)
            assert all(re.match(r"^vmhba[23]:C0:T\d+:L\d+$", p.name) for p in paths)


def test_luns_are_shared_across_hosts_with_the_same_naa(inv):
    gold = ds(inv, "ds-gold").extents[0]
    seen = [h.lun(gold) for h in inv.hosts.values()]
    assert all(lun is not None for lun in seen)
    assert len({(lun.uuid, lun.canonical_name) for lun in seen}) == 1
    assert seen[0].media == "ssd" and seen[0].vaai == "vStorageSupported" and seen[0].ok
    silver = ds(inv, "ds-silver").extents[0]
    assert next(iter(inv.hosts.values())).lun(silver).media == "hdd"


def test_vmfs_extents_span_nfs_and_presentation(inv):
    assert len(ds(inv, "ds-span").extents) == 2
    for name in ("ds-gold", "ds-silver", "ds-gold-replica", "ds-bronze"):
        d = ds(inv, name)
        assert d.kind == "VMFS" and len(d.extents) == 1 and d.accessible
    nfs = ds(inv, "nfs01")
    assert nfs.kind.startswith("NFS") and re.match(r"^[^:]+:/", nfs.remote) and nfs.extents == ()
    gold = ds(inv, "ds-gold")
    assert {m.host for m in gold.mounts} == set(inv.hosts)
    assert all(m.mounted and m.accessible and m.inaccessible_reason == "" for m in gold.mounts)
    bronze = ds(inv, "ds-bronze")
    assert {inv.hosts[m.host].cluster for m in bronze.mounts} == {"cl-b"}
    cl_a = next(h for h in inv.hosts.values() if h.cluster == "cl-a")
    assert cl_a.lun(bronze.extents[0]) is None
    for host in inv.hosts.values():
        local = ds(inv, f"local-{host.name}")
        assert [m.host for m in local.mounts] == [host.moref]
        assert local.extents and host.lun(local.extents[0]).local


def test_rdm_of_db01_maps_to_its_lun(inv):
    db01 = inv.vm_by_name("db01")
    assert db01 is not None
    rdms = [d for d in db01.disks if d.backing == "rdm_physical"]
    assert len(rdms) == 1
    rdm = rdms[0]
    host = inv.hosts[db01.host]
    lun = host.lun_by_uuid(rdm.lun_uuid)
    assert lun is not None, (rdm.lun_uuid, [l.uuid for l in host.luns])
    assert lun.canonical_name in rdm.device_name
    assert not any(lun.canonical_name in d.extents for d in inv.datastores.values())  # raw, not a datastore
    assert len(host.paths_to(lun.canonical_name)) == 4


def test_snapshot_chain(inv):
    chained = [(vm, d) for vm in inv.vms.values() for d in vm.disks if len(d.files) > 1]
    assert chained, "no VM with a snapshot chain"
    vm, disk = chained[0]
    assert re.search(r"-0000\d\d\.vmdk$", disk.files[0]), disk.files
    assert not re.search(r"-0000\d\d\.vmdk$", disk.files[-1]), disk.files
    assert disk.datastores and all(d in inv.datastores for d in disk.datastores)


def test_vms_disks_controllers_and_placement(inv):
    assert 15 <= len(inv.vms) <= 30
    controllers = set()
    for vm in inv.vms.values():
        assert vm.host in inv.hosts, vm
        assert vm.uuid and vm.power_state in ("poweredOn", "poweredOff", "suspended")
        assert vm.disks, vm.name
        keys = set()
        for disk in vm.disks:
            controllers.add(disk.controller)
            assert disk.bus >= 0 and disk.unit >= 0
            assert (disk.controller, disk.bus, disk.unit) not in keys
            keys.add((disk.controller, disk.bus, disk.unit))
            assert disk.files and disk.datastores and all(d in inv.datastores for d in disk.datastores)
            assert disk.capacity_bytes > 0
    assert {"pvscsi", "lsilogic"} <= controllers


def test_matches_the_lab_topology_field_by_field(inv, lab):
    """Everything the lab says it built (GET /v1/topology) is what snapshot() read through SOAP."""
    topology = lab.topology()
    wwpn_of_target = {t["name"]: t["wwpn"] for t in topology["targets"]}
    luns = {lun["canonical_name"]: lun for lun in topology["luns"]}
    lun_by_name = {lun["name"]: lun for lun in topology["luns"]}
    ds_moref = {d["name"]: d["moref"] for d in topology["datastores"]}
    host_moref = {h["name"]: h["moref"] for h in topology["hosts"]}

    assert set(host_moref.values()) == set(inv.hosts)
    for want in topology["hosts"]:
        host = inv.hosts[want["moref"]]
        assert (host.name, host.cluster, host.connection_state) == (want["name"], want["cluster"], want["connection_state"])
        assert {(h.device, h.key, h.kind, h.status, h.wwpn, h.protocol) for h in host.hbas} == {
            (h["device"], h["key"], h["kind"], h["status"], h.get("wwpn", ""), h.get("protocol", "scsi"))
            for h in want["hbas"]}
        assert {lun.canonical_name for lun in host.luns} >= set(want["luns"])
        # an NVMe namespace's paths come from multipathState, which names no target port
        assert {(p.name, p.lun, p.hba, p.target, p.state.value) for p in host.paths} == {
            (p["name"], p["canonical_name"], p["hba"],
             "" if p["canonical_name"].startswith("eui.") else wwpn_of_target.get(p["target"], ""), p["state"])
            for p in want["paths"]}
        for canonical in want["luns"]:
            lun, spec = host.lun(canonical), luns.get(canonical)
            if spec is None:
                continue  # the host's local disk
            assert lun.uuid == spec["uuid"] and lun.capacity_bytes == spec["capacity_bytes"]
            assert lun.media == ("ssd" if spec["ssd"] else "hdd")
            assert lun.vaai == ("vStorageSupported" if spec["vaai"] else "vStorageUnsupported")
            assert lun.operational_state == ("ok",)

    assert set(ds_moref.values()) == set(inv.datastores)
    for want in topology["datastores"]:
        ds = inv.datastores[want["moref"]]
        assert (ds.name, ds.kind, ds.accessible, ds.capacity_bytes) == (
            want["name"], want["type"], want["accessible"], want["capacity_bytes"])
        assert ds.extents == tuple(want.get("extents", ()))
        assert ds.remote == want.get("remote", "")
        assert {(m.host, m.accessible) for m in ds.mounts} == {(host_moref[m["host"]], m["accessible"]) for m in want["mounts"]}

    assert {v["moref"] for v in topology["vms"]} == set(inv.vms)
    for want in topology["vms"]:
        vm = inv.vms[want["moref"]]
        assert (vm.name, vm.host, vm.power_state) == (want["name"], host_moref[want["host"]], want["power_state"])
        disks = {d.key: d for d in vm.disks}
        assert set(disks) == {d["key"] for d in want["disks"]}
        for w in want["disks"]:
            d = disks[w["key"]]
            assert (d.label, d.controller, d.bus, d.unit, d.backing, d.uuid, d.capacity_bytes) == (
                w["label"], w["controller"], w["bus"], w["unit"], w["backing"], w["uuid"], w["capacity_bytes"]), vm.name
            assert d.files == tuple(w["files"]) and d.datastores == tuple(ds_moref[n] for n in w["datastores"])
            if "lun" in w:
                assert d.lun_uuid == lun_by_name[w["lun"]]["uuid"]


def test_pagination_gives_the_same_inventory(conn, inv):
    pages: list[int] = []
    paged = snapshot(conn, max_objects=3, on_page=pages.append)
    assert paged == inv
    total = len(inv.hosts) + len(inv.datastores) + len(inv.vms) + 2  # + the 2 clusters
    assert sum(pages) == total
    # A real vCenter honours maxObjects; the lab may answer in one page. Either way all is read.
    assert len(pages) == 1 or all(n <= 3 for n in pages)


def test_snapshot_is_fast(conn):
    snapshot(conn)  # warm
    times = []
    for _ in range(3):
        start = time.perf_counter()
        snapshot(conn)
        times.append(time.perf_counter() - start)
    best = min(times)
    print(f"\nsnapshot() on the default topology: best {best * 1000:.0f} ms of {[round(t * 1000) for t in times]}")
    assert best < 2.0
