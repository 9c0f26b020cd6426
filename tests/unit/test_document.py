"""The state document: content, schema, level-triggered next_document, fields, size under 64 KB."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vsguesttruth.config import GuestConfig
from vsguesttruth.guestinfo import ENCODING, PLAIN_LIMIT, STATE_LIMIT, decode_state, document, encode_state, load_schema
from vsguesttruth.guestinfo.policy import GuestPolicy, default_policy, effective_policy
from vsguesttruth.model import Datastore, Disk, Host, Inventory, Lun, Mount, Path, PathState, Vm
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext

from fakes import inventory as f
from fakes.inventory import FAULTS, apply

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
LATER = datetime(2025, 1, 2, 3, 9, 0, tzinfo=timezone.utc)
VALIDATOR = jsonschema.Draft202012Validator(load_schema("state"))
POLICY = default_policy(GuestConfig())


def validate(value: str) -> dict:
    """A state value: the wire form validates, and so does the document inside an envelope."""
    wire = json.loads(value)
    VALIDATOR.validate(wire)
    doc = decode_state(value)
    VALIDATOR.validate(doc)
    assert "encoding" not in doc
    return doc


def truth(inv: Inventory, vm: str, level: ServiceLevel | None = None):
    return TruthContext(inv).vm_truth(f.vm_moref(vm), level)


def test_document_of_a_healthy_vm():
    inv = f.lab_inventory()
    doc = validate(document.next_document(None, truth(inv, "db01"), POLICY, NOW))
    assert doc["schema"] == 1 and doc["generation"] == 1 and doc["changed"] == "2025-01-02T03:04:05Z"
    assert doc["vm"] == {"name": "db01", "uuid": inv.vms[f.vm_moref("db01")].uuid, "host": "esx-a01", "cluster": "cl-a"}
    assert doc["verdict"] == "healthy" and doc["advice"] == "none"
    assert doc["policy"]["status"] == "default"
    vmdk, rdm = doc["disks"]
    assert vmdk["label"] == "Hard disk 1" and vmdk["controller"] == "pvscsi" and (vmdk["bus"], vmdk["unit"]) == (0, 0)
    assert vmdk["backing"] == "vmdk" and vmdk["datastore"] == "ds-gold" and "datastores" not in vmdk
    assert vmdk["capacity"] == 40 * 2**30 and vmdk["uuid"].startswith("6000C29")
    assert vmdk["reachable"] is True and vmdk["verdict"] == "healthy" and vmdk["advice"] == "none"
    assert vmdk["luns"] == [{"name": f.naa("gold01"), "media": "ssd", "type": "disk", "vaai": "supported",
                             "state": "ok", "policy": "VMW_PSP_RR", "paths": {"active": 4}, "io": 2}]
    assert doc["service_level"] == {"met": True, "fewest_paths": 4}
    assert rdm["backing"] == "rdm_physical" and rdm["luns"][0]["name"] == f.naa("rdm01")


def test_degraded_disk_counts_paths_by_state_on_the_vms_host():
    inv = f.set_hba(f.lab_inventory(), "esx-a01", "vmhba2", "dead")
    doc = validate(document.next_document(None, truth(inv, "web01"), POLICY, NOW))
    disk = doc["disks"][0]
    assert disk["verdict"] == "degraded" and disk["advice"] == "keep_using" and disk["reachable"] is True
    assert disk["luns"][0]["paths"] == {"active": 2, "dead": 2}
    assert "vmhba2" in disk["explanation"]
    assert doc["verdict"] == "degraded"


def test_lost_connectivity_and_pdl():
    inv = f.set_hba(f.set_hba(f.lab_inventory(), "esx-a01", "vmhba2", "dead"), "esx-a01", "vmhba3", "dead")
    doc = validate(document.next_document(None, truth(inv, "web01"), POLICY, NOW))
    assert doc["disks"][0]["verdict"] == "connectivity_lost" and doc["disks"][0]["reachable"] is False
    assert doc["disks"][0]["advice"] == "move_host"
    inv = f.set_lun(f.lab_inventory(), "gold01", "pdl")
    doc = validate(document.next_document(None, truth(inv, "web01"), POLICY, NOW))
    assert doc["disks"][0]["verdict"] == "media_failure" and doc["disks"][0]["advice"] == "fail_over"
    assert doc["disks"][0]["luns"][0]["state"] == "lostCommunication"
    assert doc["disks"][0]["luns"][0]["since"] == "2024-05-01T10:42:01Z"  # from the host's events


def test_apd_past_its_timeout_tells_the_guest_to_wait_not_to_fail_over():
    inv = f.set_lun(f.lab_inventory(), "gold01", "apd_timeout")  # operational state error, AllPathsDown_Timeout
    doc = validate(document.next_document(None, truth(inv, "web01"), POLICY, NOW))
    assert (doc["verdict"], doc["advice"]) == ("all_paths_down", "wait")
    assert "no evidence of a permanent device loss" in doc["disks"][0]["explanation"]


def test_the_document_says_the_level_and_advises_what_the_service_does():
    inv = f.set_path(f.lab_inventory(), "esx-a01", "vmhba2:C0:T0:L1", "dead")  # 3 of 4 paths
    doc = validate(document.next_document(None, truth(inv, "web01", ServiceLevel(min_working_paths=4)), POLICY, NOW))
    assert doc["verdict"] == "degraded" and doc["advice"] == "move"  # the planner moves it: the guest is told so
    assert doc["disks"][0]["advice"] == "move"
    assert doc["service_level"] == {"met": False, "fewest_paths": 3,
                                    "shortfall": f"1 path short on {f.naa('gold01')} (3 of 4)"}

def test_snapshot_chain_lists_every_datastore_current_first():
    doc = validate(document.next_document(None, truth(f.lab_inventory(), "snap01"), POLICY, NOW))
    assert doc["disks"][0]["datastore"] == "ds-silver"
    assert doc["disks"][0]["datastores"] == ["ds-silver", "ds-gold"]


def test_unknown_host_is_still_a_valid_document():
    inv = f.lab_inventory()
    inv = inv.with_vm(replace(inv.vms[f.vm_moref("web01")], host=""))
    doc = validate(document.next_document(None, truth(inv, "web01"), POLICY, NOW))
    assert doc["vm"]["host"] == "" and "cluster" not in doc["vm"]
    assert doc["disks"][0]["verdict"] == "unknown" and doc["disks"][0]["luns"][0]["paths"] == {}


def test_same_content_writes_nothing_and_a_change_bumps_the_generation():
    inv = f.lab_inventory()
    first = document.next_document(None, truth(inv, "web01"), POLICY, NOW)
    assert document.next_document(first, truth(inv, "web01"), POLICY, LATER) is None
    faulted = f.set_hba(inv, "esx-a01", "vmhba2", "dead")
    second = document.next_document(first, truth(faulted, "web01"), POLICY, LATER)
    doc = validate(second)
    assert doc["generation"] == 2 and doc["changed"] == "2025-01-02T03:09:00Z"
    assert document.content_equal(decode_state(first), {**decode_state(first), "generation": 9, "changed": "x"})
    assert not document.content_equal(decode_state(first), doc)


@pytest.mark.parametrize("old", ["", "not json", "[]", '{"schema": 2, "generation": 7}', '{"schema":1,"encoding":"x"}',
                                 '{"schema": 1, "generation": "7"}', '{"schema": 1, "generation": -3}',
                                 "\udcff", '{"a":' + "9" * 5000 + "}"])
def test_an_old_value_that_does_not_decode_is_replaced(old):
    value = document.next_document(old, truth(f.lab_inventory(), "web01"), POLICY, NOW)
    assert value is not None
    assert validate(value)["generation"] == 1


def test_generation_continues_from_the_old_document():
    old = json.dumps({"schema": 1, "generation": 41, "changed": "x", "vm": {}, "verdict": "healthy", "disks": []})
    doc = validate(document.next_document(old, truth(f.lab_inventory(), "web01"), POLICY, NOW))
    assert doc["generation"] == 42


def test_fields_leave_out_what_the_guest_did_not_ask_for():
    policy = effective_policy('{"fields": ["uuid"]}', GuestConfig())
    doc = validate(document.next_document(None, truth(f.lab_inventory(), "snap01"), policy, NOW))
    disk = doc["disks"][0]
    assert "uuid" in disk
    for gone in ("luns", "explanation", "datastore", "datastores", "capacity"):
        assert gone not in disk
    assert doc["policy"]["fields"] == ["uuid"] and doc["policy"]["status"] == "applied"
    none = effective_policy('{"fields": []}', GuestConfig())
    disk = validate(document.next_document(None, truth(f.lab_inventory(), "web01"), none, NOW))["disks"][0]
    assert set(disk) == {"label", "controller", "bus", "unit", "backing", "verdict", "reachable", "advice"}


def test_the_guests_level_makes_below_sla():
    inv = f.lab_inventory()
    policy = effective_policy('{"min_working_paths": 4}', GuestConfig())
    assert validate(document.next_document(None, truth(inv, "web01", policy.level), policy, NOW))["verdict"] == "healthy"
    inv = f.set_path(inv, "esx-a01", f.array_paths("gold01")[0].name, "dead")
    doc = validate(document.next_document(None, truth(inv, "web01", policy.level), policy, NOW))
    assert doc["disks"][0]["verdict"] == "degraded"  # degraded outranks below_sla, and says what the level wants
    assert "service level wants 4" in doc["disks"][0]["explanation"]
    policy = effective_policy('{"min_reachable_devices": 3}', GuestConfig())
    doc = validate(document.next_document(None, truth(f.lab_inventory(), "web01", policy.level), policy, NOW))
    assert doc["verdict"] == "below_sla" and doc["advice"] == "move"
    assert doc["policy"]["min_reachable_devices"] == 3


def test_invalid_policy_is_shown_in_the_document():
    policy = effective_policy('{"refresh_interval": 1}', GuestConfig())
    doc = validate(document.next_document(None, truth(f.lab_inventory(), "web01"), policy, NOW))
    assert doc["policy"]["status"] == "invalid" and "refresh_interval" in doc["policy"]["message"]


# ---------------------------------------------------------------------------------------------------
# 60 disks, 4 LUNs each, long names


def big_inventory(disks: int = 60, luns_per_disk: int = 4, name_length: int = 80, noise: bool = False) -> Inventory:
    """One VM with ``disks`` disks, each on its own VMFS datastore spanning ``luns_per_disk`` LUNs.

    ``noise``: datastore names of random letters, which compress badly (the worst case for the envelope).
    """
    import random

    rnd = random.Random(4)
    host = "h" * (name_length - 10) + "-esx-0001"
    luns, paths, datastores, vm_disks = [], [], {}, []
    for d in range(disks):
        extents = []
        for n in range(luns_per_disk):
            name = f"naa.6{d:03d}{n:02d}" + "0" * 26
            luns.append(Lun(canonical_name=name, uuid="02" + name, media="ssd", vaai="vStorageSupported"))
            paths += [Path(f"vmhba{2 + k % 2}:C0:T{k}:L{d * 4 + n}", name, f"vmhba{2 + k % 2}", f"T{k}",
                           PathState.ACTIVE if k < 2 else PathState.DEAD) for k in range(4)]
            extents.append(name)
        fill = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(name_length - 14)) if noise \
            else "x" * (name_length - 14)
        ds_name = f"datastore-{d:02d}-" + fill
        datastores[f"datastore-{d}"] = Datastore(moref=f"datastore-{d}", name=ds_name, kind="VMFS",
                                                 extents=tuple(extents), mounts=(Mount(host="host-1"),))
        vm_disks.append(Disk(key=2000 + d, label=f"Hard disk {d + 1}", controller="pvscsi", bus=d // 15, unit=d % 15,
                             capacity_bytes=2**40, uuid=f"6000C29{d:025x}", files=(f"[{ds_name}] vm/vm_{d}.vmdk",),
                             datastores=(f"datastore-{d}",)))
    hosts = {"host-1": Host(moref="host-1", name=host, cluster="c" * name_length, luns=tuple(luns), paths=tuple(paths))}
    vm = Vm(moref="vm-1", name="v" * name_length, uuid="5003" + "0" * 28, host="host-1", disks=tuple(vm_disks))
    return Inventory(hosts=hosts, datastores=datastores, vms={"vm-1": vm})


@pytest.mark.parametrize("noise", [False, True], ids=["names-repetitive", "names-random"])
def test_sixty_disks_with_four_luns_each_fit_64_kb(noise):
    inv = big_inventory(noise=noise)
    t = TruthContext(inv).vm_truth("vm-1")
    plain = document.desired(t, POLICY)
    size = len(json.dumps(plain, separators=(",", ":")).encode())
    value = document.next_document(None, t, POLICY, NOW)
    print(f"\n60 disks x 4 LUNs (noise={noise}): plain {size} bytes, encoded {len(value.encode())} bytes")
    assert size > PLAIN_LIMIT  # the test is about the large case
    assert json.loads(value)["encoding"] == ENCODING
    assert len(value.encode()) <= STATE_LIMIT
    doc = validate(value)
    assert len(doc["disks"]) == 60 and all(len(d["luns"]) == 4 for d in doc["disks"])
    assert document.next_document(value, t, POLICY, LATER) is None  # compressed documents compare too


def test_a_document_too_large_even_compressed_is_trimmed_not_refused():
    inv = big_inventory(disks=256, luns_per_disk=8, name_length=250, noise=True)
    t = TruthContext(inv).vm_truth("vm-1")
    value = document.next_document(None, t, POLICY, NOW)
    assert len(value.encode()) <= STATE_LIMIT
    doc = validate(value)
    assert "trimmed" in doc["policy"]["message"]
    assert len(doc["disks"]) == 256
    assert document.next_document(value, t, POLICY, LATER) is None


# ---------------------------------------------------------------------------------------------------
# Every document validates, whatever the faults and the policy


POLICIES = st.fixed_dictionaries({}, optional={
    "fields": st.lists(st.sampled_from(["luns", "explanation", "datastores", "capacity", "uuid"]), unique=True),
    "min_working_paths": st.integers(1, 8), "min_reachable_devices": st.integers(1, 4),
    "refresh_interval": st.integers(10, 100), "publish": st.sampled_from(["on_change", "interval"]),
})


@given(FAULTS, POLICIES)
def test_every_document_validates(faults, policy_doc):
    inv = f.lab_inventory()
    for fault in faults:
        inv = apply(inv, fault)
    policy = effective_policy(json.dumps(policy_doc), GuestConfig(), ServiceLevel(min_working_paths=2))
    ctx = TruthContext(inv)
    memo = document.Memo()
    for moref in inv.vms:
        t = ctx.vm_truth(moref, policy.level)
        value = document.next_document(None, t, policy, NOW, memo)
        validate(value)
        assert document.next_document(value, t, policy, LATER, memo) is None
        assert value == encode_state({**document.desired(t, policy), "generation": 1, "changed": "2025-01-02T03:04:05Z"})


def test_memo_renders_shared_luns_once_and_the_same():
    inv = f.lab_inventory()
    ctx = TruthContext(inv)
    memo = document.Memo()
    with_memo = [document.desired(ctx.vm_truth(m), POLICY, memo) for m in inv.vms]
    without = [document.desired(TruthContext(inv).vm_truth(m), POLICY) for m in inv.vms]
    assert with_memo == without


def test_policy_section_shows_the_values_in_force():
    policy = GuestPolicy(status="applied", refresh_interval=30, publish="interval", fields=frozenset({"luns"}),
                         level=ServiceLevel(2, 3))
    assert policy.as_doc() == {"status": "applied", "refresh_interval": 30, "publish": "interval", "fields": ["luns"],
                               "min_working_paths": 2, "min_reachable_devices": 3}


def test_a_disk_names_the_incidents_behind_its_verdict_and_an_old_agent_still_reads_it():
    from vsguesttruth_guest import agent

    inv = f.set_target(f.lab_inventory(), "A-ctl0-p0", "dead")
    ids = {2000: ("target-5e1f0c2a9d", "hba-0123456789")}
    value = document.next_document(None, truth(inv, "web01"), POLICY, NOW, incidents=ids)
    doc = validate(value)
    assert doc["disks"][0]["incidents"] == ["target-5e1f0c2a9d", "hba-0123456789"] and "incidents" not in doc["disks"][1]
    assert doc["schema"] == 1  # revision 1.1 of schema 1: a reader of schema 1 reads it
    assert agent.load_state(value)["disks"][0]["incidents"][0] == "target-5e1f0c2a9d"
    same = document.next_document(value, truth(inv, "web01"), POLICY, LATER, incidents=ids)
    assert same is None and document.next_document(value, truth(inv, "web01"), POLICY, LATER) is not None
    many = {2000: tuple(f"path-{n:010x}" for n in range(40))}
    assert len(validate(document.next_document(None, truth(inv, "web01"), POLICY, NOW, incidents=many))["disks"][0]["incidents"]) == 16
