"""The reconciler on plain data: a stand-in vCenter that applies writes the way ReconfigVM does (our keys only)."""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from vsguesttruth.config import Config, GuestConfig, PublishConfig, ScopeConfig
from vsguesttruth.guestinfo import POLICY, REQUEST, RESPONSE, STATE, document
from vsguesttruth.guestinfo.request import REFUSAL_GAP
from vsguesttruth.reconcile import NO_REMEDIATION, MigrationRequest, Reconciler, WriteResult

from fakes import inventory as f
from fakes.inventory import FAULTS
from fakes.reconcile import FakeVcenter
from fakes.reconcile import reconciler as setup


def test_first_pass_writes_every_vm_once_and_the_second_nothing():
    vc, rec, _ = setup()
    result = rec.reconcile(vc.inv)
    assert result.states == len(f.VMS) and result.examined == len(f.VMS)
    assert vc.written() == sorted(f.VMS)
    result = rec.reconcile(vc.inv)  # the echo of our writes: every VM object is new
    assert result.states == 0 and vc.written() == []
    assert rec.reconcile(vc.inv).examined == 0  # same inventory: nothing to look at


def test_a_restart_rewrites_nothing():
    vc, rec, _ = setup()
    rec.reconcile(vc.inv)
    vc.written()
    _, fresh, _ = setup()
    fresh.writer = vc
    assert fresh.reconcile(vc.inv).states == 0 and vc.written() == []


def test_a_fault_on_one_host_rewrites_only_the_vms_whose_truth_changed():
    vc, rec, _ = setup()
    rec.reconcile(vc.inv)
    rec.reconcile(vc.inv)
    vc.written()
    vc.inv = f.set_hba(vc.inv, "esx-a01", "vmhba2", "dead")
    result = rec.reconcile(vc.inv)
    assert vc.written() == ["db01", "web01"]  # local01 (local disk) and VMs elsewhere are untouched
    assert result.examined == 3  # the VMs on esx-a01, nothing else needed a look
    assert vc.doc("web01")["disks"][0]["verdict"] == "degraded" and vc.doc("web01")["generation"] == 2


def test_losing_a_host_entirely_reaches_vms_elsewhere_that_depend_on_it():
    # web01 on esx-a01 loses both fabrics: connectivity_lost, "esx-a02, ... reach it"
    vc, rec, _ = setup()
    inv = f.set_hba(f.set_hba(vc.inv, "esx-a01", "vmhba2", "dead"), "esx-a01", "vmhba3", "dead")
    vc.inv = inv
    rec.reconcile(vc.inv)
    rec.reconcile(vc.inv)
    assert vc.doc("web01")["disks"][0]["verdict"] == "connectivity_lost"
    vc.written()
    # a host web01 names as a way out goes away: web01's document must change although its host did not
    vc.inv = f.set_host(vc.inv, "esx-a02", "disconnected")
    rec.reconcile(vc.inv)
    assert "web01" in vc.written()
    assert "esx-a02" not in vc.doc("web01")["disks"][0]["explanation"]


def test_a_path_change_concerns_only_the_vms_on_its_lun():
    """web01 (esx-a01) has no path to gold01: other hosts reaching it make it connectivity_lost. Another host's
    paths to a LUN web01 does not use flap: web01 needs no look, nor the VM on that host whose disk is not on
    that LUN. The same host's paths to gold01 die: web01's
    document changes (that host is no way out any more)."""
    vc, rec, _ = setup()
    for p in f.array_paths("gold01"):
        vc.inv = f.set_path(vc.inv, "esx-a01", p.name, "dead")
    rec.reconcile(vc.inv)
    rec.reconcile(vc.inv)
    vc.written()
    assert vc.doc("web01")["disks"][0]["verdict"] == "connectivity_lost"
    bronze = f.array_paths("bronze01")[0].name
    vc.inv = f.set_path(vc.inv, "esx-b02", bronze, "dead")  # a LUN web01 does not use
    result = rec.reconcile(vc.inv)
    assert result.examined == 0 and vc.written() == []  # not web01; not files01 either (on esx-b02, on NFS)
    explained = vc.doc("web01")["disks"][0]["explanation"]
    for p in f.array_paths("gold01"):
        vc.inv = f.set_path(vc.inv, "esx-a02", p.name, "dead")
    rec.reconcile(vc.inv)
    assert "web01" in vc.written() and vc.doc("web01")["disks"][0]["explanation"] != explained


def test_one_hosts_mount_of_a_shared_datastore_concerns_only_the_vms_there():
    # a switch port bounce: esx-a02 alone loses ds-gold for a moment; web01/db01 (esx-a01) and web03 (esx-b01)
    # use ds-gold too, but their disks work: only the VMs on esx-a02 need a look
    vc, rec, _ = setup()
    rec.reconcile(vc.inv)
    rec.reconcile(vc.inv)
    vc.written()
    vc.inv = f.set_mount(vc.inv, "ds-gold", "esx-a02", False, "AllPathsDown_Start")
    result = rec.reconcile(vc.inv)
    assert result.examined == 1 and vc.written() == ["web02"]  # app01 on esx-a02 is on ds-span
    vc.inv = f.set_mount(vc.inv, "ds-gold", "esx-a02", True)
    rec.reconcile(vc.inv)
    assert vc.written() == ["web02"]
    vc.inv = vc.inv.with_datastore(replace(vc.inv.datastores[f.ds_moref("ds-gold")], name="ds-gold-renamed"))
    assert rec.reconcile(vc.inv).examined == 5  # anything but the mounts: every VM on it


@settings(max_examples=40)
@given(st.lists(FAULTS, min_size=1, max_size=4))
def test_incremental_passes_write_what_a_full_pass_would(steps):
    vc, rec, _ = setup()
    rec.reconcile(vc.inv)
    for faults in steps:
        vc.inv = f.with_faults(vc.inv, faults)  # the guestinfo written so far stays
        rec.reconcile(vc.inv)
        rec.reconcile(vc.inv)  # the echo
        check = FakeVcenter(vc.inv)
        full = Reconciler(Config(), check)
        full.reconcile(check.inv)
        assert check.written() == [], "a full pass would still write: the incremental pass missed a change"


def test_a_policy_changes_what_is_published_for_that_vm_only():
    vc, rec, _ = setup()
    rec.reconcile(vc.inv)
    rec.reconcile(vc.inv)
    vc.written()
    vc.guest("web01", POLICY, json.dumps({"fields": ["uuid"], "min_working_paths": 4}))
    rec.reconcile(vc.inv)
    assert vc.written() == ["web01"]
    doc = vc.doc("web01")
    assert doc["policy"]["status"] == "applied" and "luns" not in doc["disks"][0]
    assert vc.response("web01")["status"] == "policy_applied" and vc.response("web01")["id"] == "policy"
    rec.reconcile(vc.inv)
    assert vc.written() == []
    vc.inv = f.set_path(vc.inv, "esx-a01", f.array_paths("gold01")[0].name, "dead")
    rec.reconcile(vc.inv)
    assert "service level wants 4" in vc.doc("web01")["explanation"]
    assert "explanation" not in vc.doc("web01")["disks"][0]
    assert "service level" not in vc.doc("db01")["disks"][0]["explanation"]


def test_an_invalid_policy_is_answered_shown_and_ignored():
    vc, rec, _ = setup()
    rec.reconcile(vc.inv)
    vc.written()
    vc.guest("web02", POLICY, '{"refresh_interval": 1, "fields": ["uuid"]}')
    rec.reconcile(vc.inv)
    assert vc.written() == ["web02"]
    assert vc.response("web02")["status"] == "policy_invalid"
    doc = vc.doc("web02")
    assert doc["policy"]["status"] == "invalid" and "luns" in doc["disks"][0]
    rec.reconcile(vc.inv)
    assert vc.written() == []  # answered once


def test_refresh_request_is_accepted_reprobed_and_done():
    vc, rec, clock = setup()
    rec.reconcile(vc.inv)
    vc.written()
    vc.guest("web01", REQUEST, '{"id": "r1", "action": "refresh"}')
    vc.guest("db01", REQUEST, '{"id": "r7", "action": "refresh"}')  # same host: one re-probe for both
    result = rec.reconcile(vc.inv)
    assert vc.response("web01")["status"] == "accepted" and vc.response("web01")["id"] == "r1"
    assert vc.probes == [f.host_moref("esx-a01")] and result.probes == 1
    assert rec.next_wake() == clock.now + rec.settle
    clock.now += 1
    rec.reconcile(vc.inv, as_of=clock.now - rec.settle)
    assert vc.response("web01")["status"] == "done" and vc.response("web01")["action"] == "refresh"
    assert vc.response("db01")["status"] == "done"
    rec.reconcile(vc.inv)
    assert vc.probes == [f.host_moref("esx-a01")]


def test_migrate_is_refused_until_remediation_exists():
    vc, rec, _ = setup()
    rec.reconcile(vc.inv)
    vc.guest("web01", REQUEST, '{"id": "m1", "action": "migrate", "reason": "slow"}')
    rec.reconcile(vc.inv)
    assert vc.response("web01") | {"at": None} == {"schema": 1, "id": "m1", "action": "migrate", "status": "refused",
                                                    "message": NO_REMEDIATION, "at": None}


def test_the_remediation_seam():
    calls: list[MigrationRequest] = []

    def remediation(request: MigrationRequest):
        calls.append(request)
        return "accepted", "moving to esx-a02"

    config = Config(guest=GuestConfig(allow_migrate_requests=True))
    vc, rec, _ = setup(config=config, remediation=remediation)
    rec.reconcile(vc.inv)
    vc.guest("web01", REQUEST, '{"id": "m1", "action": "migrate"}')
    rec.reconcile(vc.inv)
    assert vc.response("web01")["status"] == "accepted"
    assert calls[0].vm_name == "web01" and calls[0].request.id == "m1" and calls[0].truth.name == "web01"
    calls[0].respond("done", "moved to esx-a02")
    assert rec.due()
    rec.reconcile(vc.inv)
    assert vc.response("web01")["status"] == "done" and vc.response("web01")["message"] == "moved to esx-a02"
    # a hook present but migrate requests not allowed
    vc, rec, _ = setup(remediation=remediation)
    rec.reconcile(vc.inv)
    vc.guest("web01", REQUEST, '{"id": "m2", "action": "migrate"}')
    rec.reconcile(vc.inv)
    assert "does not allow migrate requests" in vc.response("web01")["message"]


def test_remediation_may_answer_only_later():
    """The shape remediation.Remediator uses: requests collected per pass, answers via on_request_result."""
    queued: list[MigrationRequest] = []
    config = Config(guest=GuestConfig(allow_migrate_requests=True))
    vc, rec, _ = setup(config=config, remediation=lambda r: queued.append(r))
    rec.reconcile(vc.inv)
    vc.written()
    vc.guest("web01", REQUEST, '{"id": "m1", "action": "migrate"}')
    rec.reconcile(vc.inv)
    assert vc.info("web01", RESPONSE) is None and [r.request.id for r in queued] == ["m1"]
    on_request_result = rec.answer_later
    on_request_result(f.vm_moref("web01"), "m1", "accepted", "moving to esx-a02")
    rec.reconcile(vc.inv)
    assert (vc.response("web01")["status"], vc.response("web01")["action"]) == ("accepted", "migrate")
    on_request_result(f.vm_moref("web01"), "m1", "done", "moved")
    rec.reconcile(vc.inv)
    assert vc.response("web01")["status"] == "done"
    rec.reconcile(vc.inv)
    assert len(queued) == 1  # asked once


def test_a_late_answer_is_due_at_once_on_a_clock_that_moves():
    """The service asks ``due(now)`` with the ``now`` it read before; the reconciler's clock has moved on since.
    An answer remediation gave later is due at that ``now`` already, not at the next unrelated change."""
    queued: list[MigrationRequest] = []
    config = Config(guest=GuestConfig(allow_migrate_requests=True))
    vc, rec, clock = setup(config=config, remediation=lambda r: queued.append(r))
    clock.tick = 0.001
    rec.reconcile(vc.inv)
    vc.guest("web01", REQUEST, '{"id": "m1", "action": "migrate"}')
    rec.reconcile(vc.inv)
    now = clock()
    assert not rec.due(now)
    queued[0].respond("refused", "not now: cooldown")
    assert rec.due(now) and rec.next_wake() <= now
    rec.reconcile(vc.inv)
    assert vc.response("web01")["status"] == "refused"


def test_a_request_written_while_a_late_answer_waited_is_answered_in_the_next_pass():
    queued: list[MigrationRequest] = []
    config = Config(guest=GuestConfig(allow_migrate_requests=True))
    vc, rec, clock = setup(config=config, remediation=lambda r: queued.append(r))
    rec.reconcile(vc.inv)
    vc.guest("web01", REQUEST, '{"id": "m1", "action": "migrate"}')
    rec.reconcile(vc.inv)
    queued[0].respond("refused", "not now: cooldown")
    vc.guest("web01", REQUEST, '{"id": "r2", "action": "refresh"}')  # the guest asks again meanwhile
    rec.reconcile(vc.inv)
    assert vc.response("web01")["id"] == "m1"  # one slot: the late answer first ...
    clock.advance(0.1)
    assert rec.due()  # ... and the new request is looked at in the next pass, with nothing else changing
    rec.reconcile(vc.inv)
    assert (vc.response("web01")["id"], vc.response("web01")["status"]) == ("r2", "accepted")
    clock.advance(0.1)
    assert not rec.due()


def test_a_late_answer_for_a_vm_gone_or_out_of_scope_is_dropped():
    vc, rec, _ = setup(config=Config(scope=ScopeConfig(vms=("web*",))))
    rec.reconcile(vc.inv)
    rec.answer_later(f.vm_moref("db01"), "m1", "done", "moved")  # db01 is not in scope
    assert rec.due()
    rec.reconcile(vc.inv)
    assert not rec.due() and vc.info("db01", RESPONSE) is None


def test_a_late_answer_waits_out_the_backoff_of_its_vm():
    vc, rec, clock = setup()
    rec.reconcile(vc.inv)
    vc.fail = {"web01"}
    rec.answer_later(f.vm_moref("web01"), "m1", "done", "moved")
    rec.reconcile(vc.inv)
    assert not rec.due()  # backing off after the failed write: not a busy loop
    vc.fail = set()
    clock.advance(6)
    assert rec.due()
    rec.reconcile(vc.inv)
    assert vc.response("web01")["status"] == "done"


def test_every_request_over_the_rate_limit_is_answered():
    vc, rec, clock = setup(config=Config(guest=GuestConfig(requests_per_hour=1)))
    rec.reconcile(vc.inv)

    def ask(rid: str, action: str = "migrate") -> None:
        vc.guest("web01", REQUEST, json.dumps({"id": rid, "action": action}))
        rec.reconcile(vc.inv)

    ask("r1")
    assert vc.response("web01")["message"] == NO_REMEDIATION  # answered (the one token)
    clock.advance(1)
    ask("r2")
    assert vc.response("web01")["id"] == "r2" and "try again in" in vc.response("web01")["message"]
    clock.advance(1)
    ask("r3")  # refused a second ago: answered when the gap is over, not ignored
    assert vc.response("web01")["id"] == "r2" and not rec.due()
    clock.advance(REFUSAL_GAP)
    assert rec.due()
    rec.reconcile(vc.inv)
    assert vc.response("web01")["id"] == "r3" and vc.response("web01")["status"] == "refused"


def test_a_request_written_while_a_refresh_finished_is_answered_in_the_next_pass():
    vc, rec, clock = setup()
    rec.reconcile(vc.inv)
    vc.guest("web01", REQUEST, '{"id": "r1", "action": "refresh"}')
    rec.reconcile(vc.inv)
    assert vc.response("web01")["status"] == "accepted"
    vc.guest("web01", REQUEST, '{"id": "r2", "action": "migrate"}')  # while the re-probe's result settles
    clock.advance(1)
    rec.reconcile(vc.inv)
    assert (vc.response("web01")["id"], vc.response("web01")["status"]) == ("r1", "done")
    clock.advance(0.1)
    assert rec.due()
    rec.reconcile(vc.inv)
    assert vc.response("web01")["id"] == "r2"


def test_answers_are_recorded_once_per_request_and_ids_read_back_are_not_run_again():
    recorded: list[tuple[str, ...]] = []

    class Record:
        def record(self, vm, vm_name, id, action, status, message):
            recorded.append((vm_name, id, action, status))

    vc, rec, clock = setup(answers=Record())
    rec.remember_answered({f.vm_moref("web02"): ["old1"]})
    rec.reconcile(vc.inv)
    vc.guest("web01", REQUEST, '{"id": "r1", "action": "refresh"}')
    vc.guest("web02", REQUEST, '{"id": "old1", "action": "refresh"}')  # answered before a restart
    rec.reconcile(vc.inv)
    clock.advance(1)
    rec.reconcile(vc.inv)
    assert vc.response("web01")["status"] == "done"
    assert recorded == [("web01", "r1", "refresh", "accepted")]  # the first answer to r1, once
    assert vc.info("web02", RESPONSE) is None and vc.probes == [vc.inv.vms[f.vm_moref("web01")].host]


def test_duplicate_ids_are_answered_once():
    vc, rec, _ = setup()
    rec.reconcile(vc.inv)
    vc.guest("web01", REQUEST, '{"id": "m1", "action": "migrate"}')
    rec.reconcile(vc.inv)
    vc.written()
    vc.guest("web01", REQUEST, '{"id": "m1", "action": "migrate", "reason": "again"}')
    rec.reconcile(vc.inv)
    assert vc.written() == []


def test_hostile_values_are_answered_and_nothing_else_changes():
    vc, rec, _ = setup()
    rec.reconcile(vc.inv)
    rec.reconcile(vc.inv)
    vc.written()
    before = {m: dict(vm.guestinfo) for m, vm in vc.inv.vms.items()}
    hostile = ["x" * 100000, "[" * 50000, '{"id": "a", "action": "refresh", "vm": "web02"}', "\udcff\udcfe",
               '{"id": "web02", "action": "migrate\\"; DROP TABLE"}', json.dumps({"id": "r", "action": {"a": [1]}})]
    for i, value in enumerate(hostile):
        vc.guest("web01", REQUEST, value)
        vc.guest("web01", POLICY, value if i % 2 else '{"min_working_paths": "many"}')
        rec.reconcile(vc.inv)
        rec.reconcile(vc.inv)
    assert set(vc.written()) == {"web01"}
    assert vc.response("web01")["status"] in ("refused", "policy_invalid")
    for m, vm in vc.inv.vms.items():
        if vm.name != "web01":
            assert dict(vm.guestinfo) == before[m], vm.name


def test_a_failing_write_backs_off_and_does_not_stop_others():
    vc, rec, clock = setup()
    vc.fail = {"web01"}
    result = rec.reconcile(vc.inv)
    assert result.failed == 1 and result.states == len(f.VMS) - 1
    assert rec.reconcile(vc.inv).failed == 0  # backing off: not tried again at once
    vc.fail = set()
    clock.now += 10
    rec.reconcile(vc.inv)
    assert vc.info("web01", STATE) is not None


def test_a_backoff_ends_when_the_write_is_no_longer_needed():
    """A write failed; when the VM's turn comes again its document is right (the fault is gone): nothing to
    write, and nothing due any more (the VM was due at every look, a busy loop of passes)."""
    vc, rec, clock = setup()
    rec.reconcile(vc.inv)
    healthy = vc.inv
    vc.fail = {"web01"}
    rec.reconcile(f.set_hba(f.set_hba(healthy, "esx-a01", "vmhba2", "dead"), "esx-a01", "vmhba3", "dead"))
    assert rec.next_wake() is not None
    vc.fail = set()
    clock.advance(10)
    assert rec.due()
    rec.reconcile(healthy)
    assert not rec.due()


def test_a_lost_answer_is_given_again():
    vc, rec, clock = setup()
    rec.reconcile(vc.inv)
    vc.guest("web01", REQUEST, '{"id": "m1", "action": "migrate"}')
    vc.fail = {"web01"}
    rec.reconcile(vc.inv)
    vc.fail = set()
    clock.now += 10
    rec.reconcile(vc.inv)
    assert vc.response("web01")["id"] == "m1"


def test_refresh_interval_reprobes_the_host_and_vms_on_one_host_share_it():
    vc, rec, clock = setup()
    vc.guest("web01", POLICY, '{"refresh_interval": 30}')
    vc.guest("db01", POLICY, '{"refresh_interval": 60}')
    rec.reconcile(vc.inv)
    assert vc.probes == [f.host_moref("esx-a01")]
    assert rec.next_wake() == clock.now + 30
    clock.now += 30
    rec.reconcile(vc.inv)
    assert vc.probes == [f.host_moref("esx-a01")] * 2
    clock.now += 30
    rec.reconcile(vc.inv)  # both due: still one re-probe
    assert vc.probes == [f.host_moref("esx-a01")] * 3


def test_interval_policy_publishes_only_after_its_reprobe():
    vc, rec, clock = setup()
    vc.guest("web01", POLICY, '{"refresh_interval": 30, "publish": "interval"}')
    rec.reconcile(vc.inv)
    rec.reconcile(vc.inv)
    gen = vc.doc("web01")["generation"]
    vc.inv = f.set_hba(vc.inv, "esx-a01", "vmhba2", "dead")
    clock.now += 1
    result = rec.reconcile(vc.inv)
    assert vc.doc("web01")["generation"] == gen and vc.doc("db01")["disks"][0]["verdict"] == "degraded"
    assert any(o.name == "web01" and o.state == "held" for o in result.outcomes)
    clock.now += 29
    rec.reconcile(vc.inv, as_of=clock.now - rec.settle)  # the timer: re-probe
    clock.now += 1
    rec.reconcile(vc.inv, as_of=clock.now - rec.settle)  # its result seen: publish
    assert vc.doc("web01")["disks"][0]["verdict"] == "degraded"


def test_a_guest_flipping_its_policy_is_held_back():
    vc, rec, clock = setup()
    rec.reconcile(vc.inv)
    vc.written()
    for i in range(10):
        vc.guest("web01", POLICY, json.dumps({"min_working_paths": 1 + i % 2}))
        clock.now += 0.1
        rec.reconcile(vc.inv)
    assert len(vc.written()) <= 4  # a burst of 3, then one per min_refresh_interval
    clock.now += 30
    rec.reconcile(vc.inv)
    assert vc.doc("web01")["policy"]["min_working_paths"] == 2  # the last value wins in the end


def test_scope():
    config = Config(scope=ScopeConfig(clusters=("cl-b",)))
    vc, rec, _ = setup(config=config)
    rec.reconcile(vc.inv)
    assert vc.written() == ["bk01", "files01", "web03"]
    vc, rec, _ = setup(config=Config(scope=ScopeConfig(vms=("web*", "db01"))))
    rec.reconcile(vc.inv)
    assert vc.written() == ["db01", "web01", "web02", "web03"]
    vc, rec, _ = setup(config=Config(scope=ScopeConfig(attribute=("vsgt", "on"))))
    assert rec.reconcile(vc.inv).states == 0  # not read yet: nothing
    rec.set_attribute_vms({f.vm_moref("app01")})
    rec.reconcile(vc.inv)
    assert vc.written() == ["app01"]
    # a VM moving out of the cluster leaves the scope
    vc, rec, _ = setup(config=config)
    rec.reconcile(vc.inv)
    vc.written()
    vc.inv = f.move_vm(vc.inv, "web03", "esx-a01")
    result = rec.reconcile(vc.inv)
    assert result.in_scope == 2 and vc.written() == []


def test_dry_run_writes_nothing_but_says_what():
    vc = FakeVcenter(f.lab_inventory())

    class Dry:
        def write(self, writes):
            return [WriteResult(w, True) for w in writes]

        def refresh(self, hosts):
            return {}

    rec = Reconciler(Config(publish=PublishConfig()), Dry(), dry_run=True, record_all=True)
    result = rec.reconcile(vc.inv)
    assert {o.state for o in result.outcomes} == {"would_write"} and result.dry_run
    assert all(vm.guestinfo == {} for vm in vc.inv.vms.values())


def test_a_guest_overwriting_the_state_key_is_restored_calmly():
    vc, rec, clock = setup()
    rec.reconcile(vc.inv)
    rec.reconcile(vc.inv)
    vc.written()
    for i in range(10):
        vc.guest("web01", STATE, f'{{"forged": {i}}}')
        clock.now += 1
        rec.reconcile(vc.inv)
    assert vc.written() == ["web01"]  # restored once; then at most once per min_refresh_interval
    assert rec.next_wake() is not None
    clock.now += 10
    rec.reconcile(vc.inv)
    assert vc.written() == ["web01"] and vc.doc("web01")["schema"] == 1
    # a real change is published at once, overwritten or not
    vc.guest("web01", STATE, '{"forged": true}')
    vc.inv = f.set_hba(vc.inv, "esx-a01", "vmhba2", "dead")
    rec.reconcile(vc.inv)
    assert "web01" in vc.written() and vc.doc("web01")["verdict"] == "degraded"


def test_a_vm_without_a_host_does_not_spin_its_refresh_timer():
    vc, rec, clock = setup()
    vc.inv = vc.inv.with_vm(replace(vc.inv.vms[f.vm_moref("web01")], host=""))
    vc.guest("web01", POLICY, '{"refresh_interval": 30}')
    rec.reconcile(vc.inv)
    assert rec.next_wake() == clock.now + 30 and vc.probes == []


def test_a_host_moving_into_a_scoped_cluster_brings_its_vms_in():
    vc, rec, _ = setup(config=Config(scope=ScopeConfig(clusters=("cl-b",))))
    rec.reconcile(vc.inv)
    vc.written()
    vc.inv = vc.inv.with_host(replace(vc.inv.hosts[f.host_moref("esx-a03")], cluster="cl-b"))
    result = rec.reconcile(vc.inv)
    assert vc.written() == ["snap01"] and result.in_scope == 4


def test_each_disk_names_the_open_incidents_behind_its_verdict():
    from vsguesttruth.incidents import IncidentController

    vc, rec, _ = setup()
    rec.incidents = IncidentController()
    rec.incidents.observe(vc.inv)
    rec.reconcile(vc.inv)
    rec.reconcile(vc.inv)
    assert all("incidents" not in d for d in vc.doc("web01")["disks"])
    vc.written()
    vc.inv = f.set_path(vc.inv, "esx-a01", "vmhba2:C0:T0:L1", "dead")  # one path: a path incident
    [path] = [t.incident for t in rec.incidents.observe(vc.inv)]
    rec.reconcile(vc.inv)
    assert vc.written() == ["db01", "web01"] and vc.doc("web01")["disks"][0]["incidents"] == [path.id]
    # the same disks turn out to be behind a dead port on every host: the verdict of web01 is still degraded,
    # the incident is another one, and the documents say so
    vc.inv = f.set_target(vc.inv, "A-ctl0-p0", "dead")
    target = next(t.incident for t in rec.incidents.observe(vc.inv) if t.change == "opened")
    rec.reconcile(vc.inv)
    assert vc.doc("web01")["disks"][0]["incidents"] == [target.id] and "web02" in vc.written()
    vc.inv = f.lab_inventory()
    rec.incidents.observe(vc.inv)
    rec.reconcile(vc.inv)
    assert "incidents" not in vc.doc("web01")["disks"][0]


def test_the_full_check_is_spread_over_the_passes_that_follow():
    """The safety net: a document lost without a change the passes saw is rewritten by the sweep, which checks
    every VM again a slice a pass, never all at once."""
    vc, rec, clock = setup()
    rec.reconcile(vc.inv)
    rec.reconcile(vc.inv)
    vc.written()
    web01 = vc.inv.vm_by_name("web01")
    vc.inv.vms[web01.moref] = replace(web01, guestinfo={})  # lost in the very inventory the passes read
    assert rec.reconcile(vc.inv).examined == 0 and vc.written() == []
    spread = rec.sweep.spread
    assert rec.reconcile(vc.inv, sweep=True).examined == 0  # starts now: nothing due yet
    examined = []
    for _ in range(10):
        clock.now += spread / 10
        assert not rec.sweep.running or rec.next_wake() <= clock.now  # the service wakes for each slice
        examined.append(rec.reconcile(vc.inv).examined)
    assert sum(examined) == len(f.VMS) and max(examined) <= -(-len(f.VMS) // 10), examined
    assert vc.written() == ["web01"] and vc.doc("web01")["schema"] == 1
    clock.now += spread
    assert rec.reconcile(vc.inv).examined == 0 and not rec.sweep.running


def test_after_our_writes_echo_each_document_is_held_once():
    """The document we wrote and the inventory's copy of it (the watch's echo) are one string in the service:
    at 20,000 VMs a second copy of every document is ~30 MB."""
    from vsguesttruth.reconcile.state import Keys

    vc, rec, _ = setup()
    rec.reconcile(vc.inv)
    web01 = vc.inv.vm_by_name("web01")
    ours = web01.guestinfo[STATE]
    keys = Keys(seen=document.seen(ours), ours=document.seen(ours))
    keys.ours = keys.seen
    keys.written[STATE] = (ours, None, 0.0)
    echoed = replace(web01, guestinfo={**web01.guestinfo, STATE: "".join(list(ours))})  # equal, another object
    assert echoed.guestinfo[STATE] is not ours
    assert keys.echo(replace(web01, guestinfo={}), echoed)
    assert keys.seen.value is echoed.guestinfo[STATE] and keys.ours is keys.seen
