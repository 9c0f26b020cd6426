"""Ansible's community.vmware read modules against the lab, healthy and under each fault.

One ansible-playbook per lab state runs every module (conftest.py); each must complete without an
exception, and report what it reports on a real vCenter in that state: the host's real hardware, its
adapters (an FC HBA offline after a pulled cable, the local one ``unknown``), the datastore the gold LUN
carries inaccessible under PDL and APD and nowhere else, datastore urls ``ds:///vmfs/volumes/<uuid>/``.
"""

from __future__ import annotations

import re

import pytest

from .conftest import HOST, MODULES, SPBM_MODULE


def result(observed, module: str) -> dict:
    r = observed.modules[module]
    assert not r.get("failed"), (module, r.get("msg"), r.get("module_stderr", "")[-2000:], r.get("exception", ""))
    return r


def test_every_module_completes(observed, interop):
    ran = {m for m in MODULES if m != SPBM_MODULE or interop.spbm}
    assert set(observed.modules) == ran
    for module in ran:
        r = result(observed, module)
        assert "exception" not in r and "module_stderr" not in r, (module, r)


def test_host_facts(observed):
    facts = result(observed, "vmware_host_facts")["ansible_facts"]
    assert facts["ansible_hostname"] == HOST
    assert facts["ansible_processor_count"] == 2 and facts["ansible_processor_cores"] == 32
    assert facts["ansible_processor_vcpus"] == 64
    assert facts["ansible_memtotal_mb"] == 512 * 1024
    assert facts["ansible_system_vendor"] == "Dell Inc." and facts["ansible_product_serial"] not in ("", "NA")
    assert facts["vsan_health"] == "unknown" and facts["vsan_node_uuid"]  # vSAN off: a node outside any cluster
    assert re.fullmatch(r"10\.\d+\.\d+\.\d+", facts["ansible_all_ipv4_addresses"][0])
    assert facts["ansible_uptime"] > 86400


def test_vmhba_info(observed):
    hbas = {h["device"]: h for h in result(observed, "vmware_host_vmhba_info")["hosts_vmhbas_info"][HOST]["vmhba_details"]}
    assert hbas["vmhba0"]["status"] == "unknown" and hbas["vmhba0"]["type"] == "SAS"
    assert hbas["vmhba2"]["status"] == ("offline" if observed.state == "cable_pull" else "online")
    assert hbas["vmhba3"]["status"] == "online"
    # two FC cards, each with its own node name
    assert hbas["vmhba2"]["node_wwn"] != hbas["vmhba3"]["node_wwn"]
    assert hbas["vmhba2"]["adapter"].startswith("Emulex")  # the PCI device behind the adapter


def test_scsidisk_and_disk_info(observed, interop):
    disks = result(observed, "vmware_host_scsidisk_info")["hosts_scsidisk_info"][HOST]
    names = [d["canonical_name"] for d in disks]
    assert interop.gold_canonical() in names and any(d["local_disk"] for d in disks)
    paths = {d["canonical_name"]: d["device_ctd_list"] for d in result(observed, "vmware_host_disk_info")["hosts_disk_info"][HOST]}
    assert len(paths[interop.gold_canonical()]) == 4  # the host still knows every path, dead or not


def test_datastore_info(observed):
    stores = {d["name"]: d for d in result(observed, "vmware_datastore_info")["datastores"]}
    gone = observed.state in ("pdl", "apd")
    assert stores["ds-gold"]["accessible"] is (not gone)
    assert all(d["accessible"] for name, d in stores.items() if name != "ds-gold")
    for d in stores.values():
        assert re.fullmatch(r"ds:///vmfs/volumes/[0-9a-f-]+/", d["url"]), d["url"]
        assert d["freeSpace"] < d["capacity"]


def test_guest_disk_info(observed):
    disks = result(observed, "vmware_guest_disk_info")["guest_disk_info"]
    kinds = {d["label"]: d for d in disks.values()}
    assert [d["key"] for d in disks.values()] == sorted(d["key"] for d in disks.values())
    rdm = [d for d in kinds.values() if d.get("backing_compatibility_mode") == "physicalMode"]
    assert rdm and rdm[0]["backing_lunuuid"]


def test_capability_cluster_service_vmnic(observed):
    cap = result(observed, "vmware_host_capability_info")["hosts_capability_info"][HOST]
    assert cap["vmotionSupported"] and cap["sanSupported"] and cap["maxRunningVMs"] == 1024
    cluster = result(observed, "vmware_cluster_info")["clusters"]["cl-a"]
    assert cluster["enable_ha"] is True and cluster["enabled_vsan"] is False
    assert cluster["resource_summary"]["cpuCapacityMHz"] > 0 and {h["name"] for h in cluster["hosts"]} >= {HOST}
    services = {s["key"]: s for s in result(observed, "vmware_host_service_info")["host_service_info"][HOST]}
    assert services["vpxa"]["running"] and services["ntpd"]["running"]
    assert not services["TSM-SSH"]["running"] and services["TSM-SSH"]["policy"] == "off"
    nics = result(observed, "vmware_host_vmnic_info")["hosts_vmnics_info"][HOST]
    assert nics["num_vmnics"] == 2 and all(n["actual_speed"] == 25000 for n in nics["vmnic_details"])


def test_storage_policies(observed, interop):
    if not interop.spbm:
        pytest.skip("vmware_vm_storage_policy_info opens SPBM on port 443 whatever `port` says "
                    "(community.vmware module_utils/vmware_spbm.py) and the lab could not listen on 443 here; "
                    "tests/lab/test_lab_clients.py covers the lab's /pbm/sdk")
    names = {p["name"] for p in result(observed, SPBM_MODULE)["spbm_profiles"]}
    assert {"vSAN Default Storage Policy", "VVol No Requirements Policy"} <= names
