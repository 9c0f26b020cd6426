"""The host health rule Proactive HA is fed with, and its hysteresis: plain data, the lab's topology."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fakes.inventory import (
    ARRAY_LUNS,
    FAULTS,
    HOSTS,
    apply,
    host_moref,
    lab_inventory,
    set_hba,
    set_host,
    set_lun,
    set_mount,
    set_path,
)
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext
from vsguesttruth.truth.hosthealth import (
    BELOW_LEVEL,
    CONNECTIVITY_LOST,
    PATHS_DEGRADED,
    Health,
    Hysteresis,
    host_health,
    unhealthy_hosts,
)


def health(inv, level=None):
    return {h.name: h for h in host_health(TruthContext(inv), inv, level).values()}


def test_every_host_green_on_the_lab():
    found = health(lab_inventory())
    assert {h.status for h in found.values()} == {Health.GREEN}
    assert set(found) == set(HOSTS)
    assert all(h.info is None and h.remediation == "" for h in found.values())


def test_both_hbas_pulled_is_red_for_that_host_only():
    inv = set_hba(set_hba(lab_inventory(), "esx-a01", "vmhba2", "dead"), "esx-a01", "vmhba3", "dead")
    found = health(inv)
    red = found["esx-a01"]
    assert red.status is Health.RED and red.info is CONNECTIVITY_LOST
    assert "esx-a01" in red.remediation and "HBAs" in red.remediation
    assert "more" in red.remediation  # every array LUN is lost: a few named, the rest counted
    assert all(h.status is Health.GREEN for n, h in found.items() if n != "esx-a01")


def test_one_hba_pulled_is_yellow_paths_degraded():
    found = health(set_hba(lab_inventory(), "esx-b02", "vmhba3", "dead"))
    assert found["esx-b02"].status is Health.YELLOW
    assert found["esx-b02"].info is PATHS_DEGRADED
    assert "dead on esx-b02" in found["esx-b02"].why and "I/O on 1 optimized path" in found["esx-b02"].why


def test_below_the_admins_level_is_yellow():
    # every path works, but the admin wants more working paths than the lab's 4
    found = health(lab_inventory(), ServiceLevel(min_working_paths=5))
    assert {h.status for h in found.values()} == {Health.YELLOW}
    assert {h.info for h in found.values()} == {BELOW_LEVEL}


def test_disconnected_host_is_gray_and_others_unaffected():
    found = health(set_host(lab_inventory(), "esx-a02", "notResponding"))
    assert found["esx-a02"].status is Health.GRAY and found["esx-a02"].info is None
    assert all(h.status is Health.GREEN for n, h in found.items() if n != "esx-a02")


def test_apd_everywhere_and_pdl_are_not_a_hosts_fault():
    for state in ("apd", "apd_timeout", "pdl"):
        found = health(set_lun(lab_inventory(), "gold01", state))
        assert {h.status for h in found.values()} == {Health.GREEN}, state


def test_nfs_mount_lost_on_one_host_is_red():
    found = health(set_mount(lab_inventory(), "nfs01", "esx-b01", False))
    assert found["esx-b01"].status is Health.RED and "nfs01" in found["esx-b01"].remediation


def test_red_outranks_yellow_on_one_host():
    inv = set_path(lab_inventory(), "esx-a03", "vmhba2:C0:T0:L2", "dead")  # silver01 degraded
    inv = set_mount(inv, "nfs01", "esx-a03", False)  # nfs01 lost here only
    assert health(inv)["esx-a03"].status is Health.RED


def test_unhealthy_hosts_lists_yellow_and_red():
    inv = set_hba(lab_inventory(), "esx-a01", "vmhba2", "dead")
    inv = set_hba(set_hba(inv, "esx-b01", "vmhba2", "dead"), "esx-b01", "vmhba3", "dead")
    ctx = TruthContext(inv)
    found = unhealthy_hosts(ctx, inv)
    assert {h.name: h.status for h in found.values()} == {"esx-a01": Health.YELLOW, "esx-b01": Health.RED}


@settings(max_examples=60, deadline=None)
@given(FAULTS, st.sampled_from(list(ARRAY_LUNS)))
def test_apd_on_a_lun_everywhere_never_makes_a_host_red_for_it(faults, lun):
    """Whatever else happened, a LUN in APD on every host is never the reason a host is red."""
    inv = lab_inventory()
    for fault in faults:
        inv = apply(inv, fault)
    before = health(inv)
    after = health(set_lun(inv, lun, "apd"))
    for name, h in after.items():
        if h.status is Health.RED:
            assert before[name].status is Health.RED, (name, h.why)
            assert ARRAY_LUNS[lun] and lun not in h.remediation


@settings(max_examples=60, deadline=None)
@given(FAULTS)
def test_red_only_when_another_connected_host_reaches_what_was_lost(faults):
    inv = lab_inventory()
    for fault in faults:
        inv = apply(inv, fault)
    found = health(inv)
    connected = [h for h in found.values() if h.status is not Health.GRAY]
    for h in found.values():
        if h.status is Health.RED:
            assert len(connected) > 1
            assert inv.hosts[host_moref(h.name)].connected
        if not inv.hosts[host_moref(h.name)].connected:
            assert h.status is Health.GRAY


def _one(name, status):
    inv = lab_inventory()
    if status == "red":
        inv = set_hba(set_hba(inv, name, "vmhba2", "dead"), name, "vmhba3", "dead")
    return host_health(TruthContext(inv), inv)


def test_hysteresis_waits_stable_seconds_then_reports():
    hyst = Hysteresis(stable_seconds=10)
    green = _one("esx-a01", "green")
    red = _one("esx-a01", "red")
    a01 = host_moref("esx-a01")
    assert hyst.update(0.0, green) == {}  # nothing has held long enough yet
    assert hyst.next_wake == 10.0
    assert hyst.update(10.0, green)[a01].status is Health.GREEN
    assert hyst.update(11.0, red)[a01].status is Health.GREEN  # red just appeared
    assert hyst.next_wake == 21.0
    assert hyst.update(15.0, green)[a01].status is Health.GREEN  # a flap: red never held
    assert hyst.update(16.0, red)[a01].status is Health.GREEN
    stable = hyst.update(26.0, red)
    assert stable[a01].status is Health.RED and hyst.since[a01] == 26.0
    assert hyst.next_wake is None


def test_hysteresis_zero_reports_at_once_and_forgets_removed_hosts():
    hyst = Hysteresis(stable_seconds=0)
    red = _one("esx-a01", "red")
    assert hyst.update(5.0, red)[host_moref("esx-a01")].status is Health.RED
    assert hyst.update(6.0, {}) == {}
