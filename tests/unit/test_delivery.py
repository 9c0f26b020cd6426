"""The VM data sets channel on plain data: which VMs use it, what the reconciler sees of their data sets, how
writes are routed (entries set, no ReconfigVM; answers where the request came from), a restart that rewrites
nothing, polling within a budget. vCenter is an in-memory stand-in of the data set API (fakes/datasets.py) and
of guestinfo (fakes/reconcile.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from fakes import inventory as f
from fakes.clock import Clock
from fakes.datasets import FakeDataSets, Spec
from fakes.reconcile import FakeVcenter

from vsguesttruth.config import Config, DeliveryConfig, GuestConfig
from vsguesttruth.delivery import DATASETS, GUESTINFO, DataSetDelivery, Held, PollSchedule, uses_datasets, view
from vsguesttruth.delivery.datasets import RETRY
from vsguesttruth.guestinfo import POLICY, REQUEST, RESPONSE, STATE, decode_state
from vsguesttruth.model import Vm
from vsguesttruth.reconcile import Reconciler
from vsguesttruth_guest.datasets import GUEST_SET, HOST_SET

WEB01, WEB02, WEB03 = f.vm_moref("web01"), f.vm_moref("web02"), f.vm_moref("web03")
HARDWARE = {"web01": "vmx-20", "web02": "vmx-21", "web03": "vmx-19"}


class Setup:
    """A reconciler over guestinfo (FakeVcenter) and data sets (FakeDataSets), on a hand clock."""

    def __init__(self, channel: str = "datasets", port: FakeDataSets | None = None, vc: FakeVcenter | None = None,
                 **delivery) -> None:
        inv = f.lab_inventory()
        for name, version in HARDWARE.items():
            inv = inv.with_vm(replace(inv.vms[f.vm_moref(name)], hardware_version=version))
        self.vc = vc or FakeVcenter(inv)
        self.port = port or FakeDataSets()
        self.clock = Clock()
        self.config = Config(delivery=DeliveryConfig(channel=channel, **delivery), guest=GuestConfig(allow_migrate_requests=False))
        self.rec = Reconciler(self.config, self.vc, clock=self.clock,
                              wallclock=lambda: datetime(2025, 1, 1, tzinfo=timezone.utc))
        self.delivery = DataSetDelivery(self.config, self.port, Spec, includes=self.rec.scope_includes, vcenter_major=8,
                                        clock=self.clock)
        self.rec.writer = self.delivery.writer(self.vc)

    def run(self, **kw):
        return self.rec.reconcile(self.delivery.prepare(self.vc.inv), **kw)

    def state(self, moref: str) -> dict:
        return decode_state(self.port.value(moref, HOST_SET, "state"))

    def response(self, moref: str) -> dict:
        return json.loads(self.port.value(moref, HOST_SET, "response"))


@pytest.fixture
def setup():
    made = []

    def make(*args, **kw) -> Setup:
        made.append(Setup(*args, **kw))
        return made[-1]

    yield make
    for s in made:
        s.delivery.close()


def test_which_vms_use_data_sets():
    vm = Vm(moref="vm-1", name="a", hardware_version="vmx-20")
    old = replace(vm, hardware_version="vmx-19")
    assert not uses_datasets(vm, "guestinfo", 8)
    assert uses_datasets(vm, "auto", 8) and not uses_datasets(vm, "auto", 7)  # auto: vCenter 8.0 or later too
    assert uses_datasets(vm, "datasets", 7)
    assert not uses_datasets(old, "datasets", 8) and not uses_datasets(replace(vm, hardware_version=""), "auto", 8)


def test_the_view_takes_the_data_sets_and_answers_where_the_request_came_from():
    vm = Vm(moref="vm-1", name="a", guestinfo={STATE: "old", REQUEST: "gi-req", RESPONSE: "gi-resp", POLICY: "gi-pol"})
    held = Held(frozenset({HOST_SET, GUEST_SET}), {STATE: "ds-state", RESPONSE: "ds-resp"})
    keys, answers = view(vm, held)
    assert answers == GUESTINFO and keys == {STATE: "ds-state", REQUEST: "gi-req", RESPONSE: "gi-resp", POLICY: "gi-pol"}
    keys, answers = view(vm, held.with_value(REQUEST, "ds-req"))
    assert answers == DATASETS and keys[REQUEST] == "ds-req" and keys[RESPONSE] == "ds-resp"
    keys, answers = view(Vm(moref="vm-1", name="a"), held.with_value(POLICY, "ds-pol"))
    assert answers == DATASETS and keys == {STATE: "ds-state", POLICY: "ds-pol", RESPONSE: "ds-resp"}
    assert view(Vm(moref="vm-1", name="a", guestinfo={STATE: "old"}), Held()) == ({}, DATASETS)  # never the old state


def test_the_first_publish_sets_entries_and_starts_no_task_for_those_vms(setup):
    s = setup()
    result = s.run()
    assert result.states == len(s.vc.inv.vms)
    written = {w.name for w in s.vc.writes}
    assert {"web01", "web02"}.isdisjoint(written) and "web03" in written  # vmx-19 keeps guestinfo
    for moref in (WEB01, WEB02):
        assert s.state(moref)["vm"]["name"] in ("web01", "web02")
        assert s.port.sets[moref][HOST_SET] == Spec(HOST_SET, s.port.sets[moref][HOST_SET].description, "READ_WRITE",
                                                    "READ_ONLY", True)
        assert (s.port.sets[moref][GUEST_SET].host, s.port.sets[moref][GUEST_SET].guest) == ("READ_WRITE", "READ_WRITE")
        assert STATE not in s.vc.inv.vms[moref].guestinfo
    assert s.delivery.writes == 2 and s.delivery.first_reads == 2
    assert s.run().states == 0  # level-triggered: nothing changed, nothing written
    assert s.port.count("set") == 2


def test_a_restart_reads_the_data_sets_and_rewrites_nothing_that_is_right(setup):
    first = setup()
    first.run()
    again = setup(port=first.port, vc=first.vc)
    before = first.port.count("set")
    result = again.run()
    assert result.states == 0 and first.port.count("set") == before
    assert again.delivery.first_reads == 2


def test_a_state_left_in_guestinfo_from_before_is_removed(setup):
    s = setup(channel="guestinfo")
    s.run()
    assert STATE in s.vc.inv.vms[WEB01].guestinfo
    switched = setup(port=s.port, vc=s.vc)
    switched.run()
    assert STATE not in s.vc.inv.vms[WEB01].guestinfo and switched.state(WEB01)["vm"]["name"] == "web01"


def test_a_guest_request_is_polled_and_answered_in_the_data_set(setup):
    s = setup(sweep_interval=3600, request_window=60)
    s.run()
    s.port.guest_write(WEB01, GUEST_SET, "policy", json.dumps({"poll_interval": 30}))
    s.clock.advance(3600)  # the sweep hears the new policy
    assert s.delivery.poll() and s.run().responses == 1
    assert s.response(WEB01)["id"] == "policy" and s.state(WEB01)["policy"]["poll_interval"] == 30
    s.port.guest_write(WEB01, GUEST_SET, "request", json.dumps({"id": "r-1", "action": "refresh"}))
    s.clock.advance(10)  # the request window after the policy: every min_refresh_interval
    assert s.delivery.poll()
    s.run()
    assert s.response(WEB01)["id"] == "r-1" and s.response(WEB01)["status"] == "accepted"
    assert RESPONSE not in s.vc.inv.vms[WEB01].guestinfo


def test_a_request_written_to_guestinfo_is_answered_in_guestinfo(setup):
    s = setup()
    s.run()
    s.vc.guest("web01", REQUEST, json.dumps({"id": "gi-1", "action": "migrate"}))
    s.run()
    assert json.loads(s.vc.info("web01", RESPONSE))["id"] == "gi-1"
    assert s.port.value(WEB01, HOST_SET, "response") is None


def test_vms_whose_data_sets_cannot_be_used_keep_guestinfo(setup):
    s = setup(port=FakeDataSets(unusable={WEB01}))
    s.run()
    assert STATE in s.vc.inv.vms[WEB01].guestinfo and WEB01 not in s.port.sets


def test_a_vm_whose_first_read_fails_waits_and_is_read_again(setup):
    s = setup()
    s.port.failing.add(WEB01)
    result = s.run()
    assert "web01" not in {o.name for o in result.outcomes} and WEB01 not in s.port.sets
    assert STATE not in s.vc.inv.vms[WEB01].guestinfo  # never guestinfo meanwhile
    s.port.failing.clear()
    s.clock.advance(RETRY)
    s.run()
    assert s.state(WEB01)["vm"]["name"] == "web01"


def test_the_view_of_an_unchanged_vm_is_the_same_object(setup):
    s = setup()
    s.run()
    one, two = s.delivery.prepare(s.vc.inv), s.delivery.prepare(s.vc.inv)
    assert one.vms[WEB01] is two.vms[WEB01] and one.vms[WEB03] is s.vc.inv.vms[WEB03]


def test_polls_stay_within_the_budget():
    clock = Clock(0.0)
    schedule = PollSchedule(budget=2, sweep=100, window=0, clock=clock)
    for i in range(10):
        schedule.read(f"vm-{i}", 0.0)
    clock.advance(100)
    due = schedule.due(clock.now)
    assert len(due) == 2  # two calls a second
    for vm in due:
        schedule.read(vm, clock.now, calls=1)
    assert schedule.due(clock.now) == []
    assert schedule.next_wake() == pytest.approx(clock.now + 0.5)
    clock.advance(1.0)
    assert len(schedule.due(clock.now)) == 2
    for vm in schedule.due(clock.now):
        schedule.read(vm, clock.now, calls=1)
    assert schedule.lag == pytest.approx(1.0)  # these were due a second ago


def test_a_vm_is_polled_at_its_interval_in_its_window_and_at_the_sweep():
    def wakes(**read) -> list[float]:
        """When a lone VM read at 0 is read again, read on time each time, up to t=200 (sweep 100)."""
        clock = Clock(0.0)
        schedule = PollSchedule(budget=100, sweep=100, window=30, window_every=10, clock=clock)
        schedule.read("vm", 0.0, **read)
        out = []
        while (wake := schedule.next_wake()) is not None and wake <= 200:
            clock.now = wake
            assert schedule.due(clock.now) == ["vm"]
            schedule.read("vm", clock.now)
            out.append(wake)
        return out

    assert wakes() == [100, 200]  # the sweep only
    assert wakes(interval=40) == [40, 80, 120, 160, 200]  # its policy's poll_interval, the sweep never later
    assert wakes(news=True) == [10, 20, 30, 130]  # its request window, then the sweep
    clock = Clock(0.0)
    schedule = PollSchedule(budget=100, sweep=0, window=0, clock=clock)
    schedule.read("vm", 0.0)
    assert schedule.next_wake() is None  # no sweep, no policy: only at first sight
    schedule.read("other", 0.0, interval=20)
    schedule.forget("other")
    assert schedule.next_wake() is None and schedule.due(100.0) == []
