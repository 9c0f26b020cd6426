"""Publishing into the lab's VMs: written once, rewritten only on change, policies, requests, hostile input.

The lab keeps extraConfig across tests (faults are restored, guestinfo is not), so every test starts and
ends with our keys removed from every VM. The guest's ``info-set`` is stood in for by a ReconfigVM from the
test (that is what the lab's stand-in rpctool does too).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import jsonschema
import pytest
from pyVmomi import vim

from vsguesttruth.config import Config, GuestConfig
from vsguesttruth.guestinfo import KEYS, POLICY, REQUEST, RESPONSE, STATE, decode_state, load_schema
from vsguesttruth.reconcile import NO_REMEDIATION, Service, Write, publish_once
from vsguesttruth.vcenter import Publisher, read_guestinfo, snapshot, wait_for_task
from vsguesttruth.vcenter.events import query

pytestmark = pytest.mark.lab

STATE_SCHEMA = jsonschema.Draft202012Validator(load_schema("state"))
RESPONSE_SCHEMA = jsonschema.Draft202012Validator(load_schema("response"))
FAST = 1.5  # seconds: the serve loop must publish a fault about this quickly


@pytest.fixture(scope="module")
def vms(conn) -> dict[str, str]:
    """VM name -> moref."""
    return {vm.name: vm.moref for vm in snapshot(conn).vms.values()}


@pytest.fixture
def clean(lab, conn, vms):
    """Every VM without our keys, before and after the test."""
    def wipe() -> None:
        inv = snapshot(conn)
        with Publisher(conn) as pub:
            results = pub.write([Write(vm.moref, vm.name, {k: "" for k in KEYS})
                                 for vm in inv.vms.values() if any(k.lower() in KEYS for k in vm.guestinfo)])
        assert all(r.ok for r in results)

    wipe()
    yield
    wipe()


def guest_sets(conn, moref: str, key: str, value: str) -> None:
    """The guest's info-set, as the lab's stand-in does it: a ReconfigVM of that one key."""
    with Publisher(conn, attempts=1) as pub:
        [result] = pub.write([Write(moref, moref, {key: value})])
    assert result.ok, result.error


def keys_of(conn, moref: str) -> dict[str, str]:
    return read_guestinfo(conn, moref)


def doc_of(conn, moref: str) -> dict:
    value = keys_of(conn, moref)[STATE]
    STATE_SCHEMA.validate(json.loads(value))
    doc = decode_state(value)
    STATE_SCHEMA.validate(doc)
    return doc


def response_of(conn, moref: str) -> dict:
    doc = json.loads(keys_of(conn, moref)[RESPONSE])
    RESPONSE_SCHEMA.validate(doc)
    return doc


def reconfigured_since(si, since: datetime) -> list[str]:
    """VM names of the lab's VmReconfiguredEvents since ``since`` (vCenter's own count of ReconfigVM)."""
    events = si.content.eventManager.QueryEvents(vim.event.EventFilterSpec(eventTypeId=["VmReconfiguredEvent"]))
    return sorted(e.vm.name for e in events if e.createdTime >= since)


def once(conn, config: Config | None = None, **kw):
    with Publisher(conn) as pub:
        result = publish_once(conn, config or Config(), publisher=pub, **kw)
        return result, pub


def written(result) -> list[str]:
    return sorted(o.name for o in result.outcomes if o.state == "written" or o.response)


def test_publish_once_writes_every_vm_once_and_a_second_pass_nothing(clean, conn, si, vms):
    since = datetime.now(timezone.utc)
    start = time.monotonic()
    result, pub = once(conn)
    took = time.monotonic() - start
    print(f"\nfirst pass: {result.states} states, {pub.tasks} ReconfigVM tasks, {took * 1000:.0f} ms")
    assert result.states == len(vms) and pub.tasks == len(vms) and result.failed == 0
    assert reconfigured_since(si, since) == sorted(vms)
    for moref in vms.values():
        assert doc_of(conn, moref)["generation"] == 1
    since = datetime.now(timezone.utc)
    start = time.monotonic()
    result, pub = once(conn)
    print(f"second pass: {result.states} states, {pub.tasks} tasks, {(time.monotonic() - start) * 1000:.0f} ms")
    assert result.states == 0 and pub.tasks == 0
    assert reconfigured_since(si, since) == []


def test_a_fault_on_one_host_rewrites_only_the_vms_whose_truth_changed(clean, lab, conn, si, vms):
    once(conn)
    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    since = datetime.now(timezone.utc)
    result, pub = once(conn)
    # on esx-a01: web01 (ds-gold) and app01 (ds-silver) lose a fabric; file01 (NFS) and util01 (local) do not
    assert written(result) == ["app01", "web01"] and pub.tasks == 2
    assert reconfigured_since(si, since) == ["app01", "web01"]
    doc = doc_of(conn, vms["web01"])
    assert doc["generation"] == 2 and doc["verdict"] == "degraded" and doc["disks"][0]["advice"] == "keep_using"
    assert doc["disks"][0]["luns"][0]["paths"]["dead"] == 2
    lab.restore()
    result, pub = once(conn)
    assert written(result) == ["app01", "web01"]
    assert doc_of(conn, vms["web01"])["verdict"] == "healthy"


def test_a_policy_changes_what_is_published_for_that_vm_only(clean, lab, conn, vms):
    once(conn)
    before = {name: doc_of(conn, moref) for name, moref in vms.items()}
    guest_sets(conn, vms["web01"], POLICY, json.dumps({"fields": ["uuid", "luns"], "min_working_paths": 4}))
    result, pub = once(conn)
    assert written(result) == ["web01"] and pub.tasks == 1
    doc = doc_of(conn, vms["web01"])
    assert doc["policy"]["status"] == "applied" and doc["policy"]["min_working_paths"] == 4
    assert set(doc["disks"][0]) >= {"uuid", "luns"} and "explanation" not in doc["disks"][0]
    assert "capacity" not in doc["disks"][0] and "datastore" not in doc["disks"][0]
    assert response_of(conn, vms["web01"])["status"] == "policy_applied"
    for name, moref in vms.items():
        if name != "web01":
            assert doc_of(conn, moref) == before[name]

    # one path dies under web01's host: web01's level (4 working paths) no longer holds
    path = next(p["name"] for h in lab.topology()["hosts"] if h["name"] == "esx-a01" for p in h["paths"]
                if p["state"] == "active" and p["lun"] == "gold01")
    lab.fault("path", host="esx-a01", path=path, state="dead")
    result, _ = once(conn)
    assert written(result) == ["web01"]  # the only VM on esx-a01 with a disk on gold01
    doc = doc_of(conn, vms["web01"])
    # one of four paths dead: degraded (I/O continues), which outranks below_sla; the explanation says the level
    assert doc["verdict"] == "degraded" and "service level wants 4" in doc["explanation"]
    # gold01 is on an asymmetric ALUA array: its non-optimized paths are "active" too
    assert doc["disks"][0]["luns"][0]["paths"] == {"active": 3, "dead": 1}

    # with every path working, 4 are not enough for a level of 5: below_sla, advice move
    lab.restore()
    guest_sets(conn, vms["web01"], POLICY, json.dumps({"min_working_paths": 5}))
    once(conn)
    doc = doc_of(conn, vms["web01"])
    assert doc["verdict"] == "below_sla" and doc["advice"] == "move" and doc["disks"][0]["verdict"] == "below_sla"


def test_refresh_request_is_accepted_then_done(clean, conn, vms):
    once(conn)
    guest_sets(conn, vms["web02"], REQUEST, json.dumps({"id": "r-1", "action": "refresh", "reason": "paths?"}))
    result, pub = once(conn)
    answers = [json.loads(w.values[RESPONSE]) for w in pub.recent() if RESPONSE in w.values]
    assert [(a["id"], a["status"]) for a in answers] == [("r-1", "accepted"), ("r-1", "done")]
    assert pub.refreshes == 1 and result.probes == 1
    assert response_of(conn, vms["web02"])["status"] == "done"
    _, pub = once(conn)  # answered: a restart does not answer it again
    assert pub.tasks == 0 and pub.refreshes == 0


def test_migrate_is_refused_with_the_reason_and_duplicate_ids_are_answered_once(clean, conn, vms):
    once(conn)
    guest_sets(conn, vms["db01"], REQUEST, json.dumps({"id": "m-1", "action": "migrate", "reason": "slow"}))
    once(conn)
    answer = response_of(conn, vms["db01"])
    assert (answer["id"], answer["status"], answer["message"]) == ("m-1", "refused", NO_REMEDIATION)
    guest_sets(conn, vms["db01"], REQUEST, json.dumps({"id": "m-1", "action": "migrate", "reason": "really"}))
    _, pub = once(conn)
    assert pub.tasks == 0


HOSTILE = [
    "x" * 70000,
    "[" * 20000 + "]" * 20000,
    '{"a":' * 200 + "1" + "}" * 200,
    json.dumps({"id": "r", "action": "refresh", "vm": "web02"}),
    json.dumps({"id": "web02", "action": "migrate", "target": "../../etc"}),
    json.dumps({"id": "'; DROP TABLE vms; --", "action": "refresh"}),
    json.dumps({"id": ["a"], "action": 7, "reason": {"$gt": ""}}),
    '{"id": "a", "action": "refresh", "id": "b"}',
    "\ufffd\u202e\u0000",
    json.dumps({"refresh_interval": 1, "fields": ["luns"] * 100}),
    json.dumps({"min_working_paths": 10**30, "publish": None}),
]


def test_hostile_values_are_answered_and_nothing_else_changes(clean, conn, vms):
    keep = {"vsgt.test.other": "keep me", "guestinfo.other": "mine"}
    others_set(conn, vms["web01"], keep)  # keys that are not ours, set by someone else
    once(conn)
    others = {name: keys_of(conn, moref) for name, moref in vms.items() if name != "web01"}
    for i, value in enumerate(HOSTILE):
        key = REQUEST if i % 2 == 0 else POLICY
        guest_sets(conn, vms["web01"], key, value.replace("\u0000", ""))
        result, _ = once(conn)
        assert result.failed == 0
        assert set(written(result)) <= {"web01"}, value[:40]
        answer = response_of(conn, vms["web01"])
        assert answer["status"] in ("refused", "policy_invalid"), (value[:40], answer)
    for name, moref in vms.items():
        if name != "web01":
            assert keys_of(conn, moref) == others[name], name
    mine = keys_of(conn, vms["web01"])
    assert {k: mine[k] for k in keep} == keep  # other extraConfig keys of the VM are untouched
    assert doc_of(conn, vms["web01"])["policy"]["status"] == "invalid"
    others_set(conn, vms["web01"], {k: "" for k in keep})


def others_set(conn, moref: str, values: dict[str, str]) -> None:
    """Someone else's extraConfig keys (our Publisher refuses to write them)."""
    vm = vim.VirtualMachine(moref, conn.si._stub)
    spec = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=k, value=v) for k, v in values.items()])
    wait_for_task(conn, vm.ReconfigVM_Task(spec)._moId, "set others' keys", 30)


def test_dry_run_writes_nothing(clean, conn, vms):
    result, pub = once(conn, dry_run=True)
    assert result.states == len(vms) and pub.tasks == 0
    assert all(STATE not in keys_of(conn, moref) for moref in vms.values())


def test_scope_by_cluster(clean, conn, vms):
    from vsguesttruth.config import ScopeConfig

    result, pub = once(conn, Config(scope=ScopeConfig(clusters=("cl-b",))))
    assert result.in_scope == pub.tasks == 12
    assert STATE not in keys_of(conn, vms["web01"]) and STATE in keys_of(conn, vms["web11"])


def test_serve_publishes_a_fault_within_a_second(clean, lab, conn, vms):
    passes = []
    service = Service(conn, Config(guest=GuestConfig()), on_pass=passes.append, max_wait=5)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(STATE in keys_of(conn, m) for m in vms.values()):
            time.sleep(0.05)
        while time.monotonic() < deadline and service.publisher.writes < len(vms):
            time.sleep(0.05)  # a document is in vCenter a moment before its task's end is seen
        assert service.publisher.writes == len(vms)
        time.sleep(0.3)  # the echoes of our writes
        tasks = service.publisher.tasks
        start = time.monotonic()
        lab.fault("hba", host="esx-b01", hba="vmhba3", state="dead")
        while time.monotonic() - start < 5:
            if doc_of(conn, vms["web11"])["verdict"] == "degraded":
                break
            time.sleep(0.02)
        took = time.monotonic() - start
        print(f"\nserve: fault on esx-b01 published to web11 after {took * 1000:.0f} ms")
        assert doc_of(conn, vms["web11"])["verdict"] == "degraded"
        assert took < FAST
        time.sleep(0.5)
        # esx-b01 runs web11, app11, db12 (SAN disks) and util11 (local): only the three are rewritten
        assert service.publisher.tasks - tasks == 3
        # a refresh request through the loop: accepted, then done after the re-probe
        guest_sets(conn, vms["web12"], REQUEST, json.dumps({"id": "s-1", "action": "refresh"}))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and response_of_or_none(conn, vms["web12"]) != "done":
            time.sleep(0.05)
        assert response_of_or_none(conn, vms["web12"]) == "done"
    finally:
        service.stop()
        thread.join(10)
    assert not thread.is_alive()


def response_of_or_none(conn, moref: str) -> str | None:
    value = keys_of(conn, moref).get(RESPONSE)
    return json.loads(value)["status"] if value else None


def test_a_restarted_serve_rewrites_nothing_and_follows_a_new_policy(clean, conn, vms):
    once(conn)
    service = serve_while(conn, Config(), lambda s: s.passes >= 1, timeout=5.0)
    assert service.passes >= 1 and service.publisher.tasks == 0  # level-triggered: what is right stays as it is
    guest_sets(conn, vms["db02"], POLICY, json.dumps({"fields": ["uuid"]}))
    service = serve_while(conn, Config(), lambda s: doc_of(conn, vms["db02"])["policy"]["status"] == "applied",
                          timeout=5.0)
    assert doc_of(conn, vms["db02"])["policy"]["status"] == "applied" and service.publisher.tasks == 1


def serve_while(conn, config: Config, until, timeout: float = 10.0) -> Service:
    """Run the service until ``until(service)`` holds (or the timeout); the stopped service."""
    service = Service(conn, config, max_wait=5)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(service):
            time.sleep(0.05)
    finally:
        service.stop()
        thread.join(10)
    return service


def test_scope_by_custom_attribute(clean, conn, vms):
    from vsguesttruth.config import ScopeConfig
    from vsguesttruth.vcenter import vms_with_attribute

    manager = conn.content.customFieldsManager
    name = f"vsgt-test-{time.monotonic_ns()}"
    field = manager.AddCustomFieldDef(name=name, moType=vim.VirtualMachine)
    try:
        for vm_name, value in (("web02", "on"), ("db11", "on"), ("web03", "off")):
            manager.SetField(entity=vim.VirtualMachine(vms[vm_name], conn.si._stub), key=field.key, value=value)
        assert vms_with_attribute(conn, name, "on") == {vms["web02"], vms["db11"]}
        assert vms_with_attribute(conn, "no-such-attribute", "on") == set()
        result, pub = once(conn, Config(scope=ScopeConfig(attribute=(name, "on"))))
        assert result.in_scope == 2 and written(result) == ["db11", "web02"] and pub.tasks == 2
    finally:
        manager.RemoveCustomFieldDef(key=field.key)


def test_serve_reprobes_on_the_guests_interval(clean, conn, vms):
    config = Config(guest=GuestConfig(min_refresh_interval=1))
    guest_sets(conn, vms["web01"], POLICY, json.dumps({"refresh_interval": 1}))
    guest_sets(conn, vms["app01"], POLICY, json.dumps({"refresh_interval": 1}))  # same host: shares the re-probe
    service = Service(conn, config, max_wait=5)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        time.sleep(2.6)
    finally:
        service.stop()
        thread.join(10)
    assert 2 <= service.publisher.refreshes <= 4, service.publisher.refreshes
    assert doc_of(conn, vms["web01"])["policy"]["refresh_interval"] == 1


def test_serve_writes_an_answer_remediation_gives_later_at_once(clean, conn, vms):
    """A guest's migrate request goes to remediation, which answers in its own step: the answer is written within
    a few seconds, not with the next unrelated change of the inventory (nothing else changes here)."""
    from vsguesttruth.config import RemediationConfig
    from vsguesttruth.remediation import RemediationLoop

    config = Config(guest=GuestConfig(allow_migrate_requests=True), remediation=RemediationConfig(mode="advise"))
    service = Service(conn, config, remediation=RemediationLoop(conn, config.remediation), max_wait=30)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(STATE in keys_of(conn, m) for m in vms.values()):
            time.sleep(0.05)
        time.sleep(0.3)  # the echoes of our writes
        rid = f"late-{time.time_ns()}"
        guest_sets(conn, vms["web03"], REQUEST, json.dumps({"id": rid, "action": "migrate", "reason": "test"}))
        start = time.monotonic()
        while time.monotonic() - start < 10 and (json.loads(keys_of(conn, vms["web03"]).get(RESPONSE) or "{}")
                                                 .get("id") != rid):
            time.sleep(0.05)
        took = time.monotonic() - start
        answer = response_of(conn, vms["web03"])
        assert answer["id"] == rid and answer["status"] == "refused", answer
        assert took < 5, f"the answer took {took:.1f} s"
    finally:
        service.stop()
        thread.join(10)
        service.remediation.stop()


def power(conn, moref: str, on: bool) -> None:
    vm = vim.VirtualMachine(moref, conn.si._stub)
    task = vm.PowerOnVM_Task() if on else vm.PowerOffVM_Task()
    wait_for_task(conn, task._moId, "power", 30)


def answered(conn, moref: str, rid: str, status: str = "done") -> bool:
    value = keys_of(conn, moref).get(RESPONSE)
    return bool(value) and json.loads(value).get("id") == rid and json.loads(value).get("status") == status


def test_an_id_answered_before_a_restart_is_never_run_again(clean, conn, vms):
    """The response key holds the last answer only; an old id written again after a restart is not run again:
    the answered ids are recorded in vCenter events on the VM and read back at the start."""
    web01, first, second = vms["web01"], f"old-{time.time_ns()}", f"new-{time.time_ns()}"
    guest_sets(conn, web01, REQUEST, json.dumps({"id": first, "action": "refresh"}))
    serve_while(conn, Config(), lambda s: answered(conn, web01, first))
    guest_sets(conn, web01, REQUEST, json.dumps({"id": second, "action": "refresh"}))
    serve_while(conn, Config(), lambda s: answered(conn, web01, second))
    assert [e.message for e in query(conn, web01) if f"answered request {first} of web01 (refresh)" in e.message]
    guest_sets(conn, web01, REQUEST, json.dumps({"id": first, "action": "refresh"}))  # the old id again
    service = serve_while(conn, Config(), lambda s: s.passes >= 1, timeout=3.0)
    time.sleep(1.0)
    assert service.passes >= 1 and service.publisher.refreshes == 0
    assert response_of(conn, web01)["id"] == second


def test_an_id_answered_before_a_power_cycle_is_never_run_again(clean, conn, vms):
    """A request set while the VM was off stays in its configuration; the answer, written while it runs, is gone
    with the next power-off. The service restarted after that does not run the request again."""
    web02, rid = vms["web02"], f"cycle-{time.time_ns()}"
    power(conn, web02, False)
    try:
        guest_sets(conn, web02, REQUEST, json.dumps({"id": rid, "action": "refresh"}))
    finally:
        power(conn, web02, True)
    serve_while(conn, Config(), lambda s: answered(conn, web02, rid))
    power(conn, web02, False)
    power(conn, web02, True)
    assert RESPONSE not in keys_of(conn, web02) and STATE not in keys_of(conn, web02)  # volatile: gone
    assert json.loads(keys_of(conn, web02)[REQUEST])["id"] == rid  # set while off: still there
    service = serve_while(conn, Config(), lambda s: STATE in keys_of(conn, web02), timeout=5.0)
    time.sleep(1.0)
    assert STATE in keys_of(conn, web02)  # the state document is published again after the power cycle
    assert RESPONSE not in keys_of(conn, web02) and service.publisher.refreshes == 0  # the request is not run
