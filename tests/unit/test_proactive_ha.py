"""Remediation mode proactive-ha without vCenter: the guard rails leave a host's connectivity problems to
Proactive HA, and the health controller posts only changes, after the hysteresis, level-triggered."""

from __future__ import annotations

from dataclasses import replace

from fakes.clock import Clock
from fakes.inventory import host_moref, lab_inventory, set_hba, set_host, set_lun
from unit.test_remediation import AUTO, FakeExecutor, cable_pull, step

from vsguesttruth.remediation import Remediator
from vsguesttruth.remediation.proactive import ProactiveHa
from vsguesttruth.truth.hosthealth import CONNECTIVITY_LOST, PATHS_DEGRADED
from vsguesttruth.vcenter.health import ProviderGone

PHA = replace(AUTO, mode="proactive-ha")


def test_connectivity_lost_is_left_to_proactive_ha_and_said_once_per_vm():
    fake = FakeExecutor()
    rem = Remediator(PHA, fake, clock=Clock())
    inv = cable_pull(lab_inventory())
    actions = step(rem, inv)
    assert actions and {(a.kind, a.rail) for a in actions} == {("hold", "proactive_ha")}
    assert fake.calls == []
    held = [m for _, m in fake.events if "left to Proactive HA: esx-a01" in m]
    assert len(held) == len(actions)
    step(rem, inv)
    assert len(fake.events) == len(held)  # not news the second time


def test_media_failure_still_fails_over_to_the_replica():
    fake = FakeExecutor()
    rem = Remediator(replace(PHA, replicas={"ds-gold": "ds-gold-replica"}), fake, clock=Clock())
    actions = step(rem, set_lun(lab_inventory(), "gold01", "pdl"))
    moves = [a for a in actions if a.kind == "move"]
    assert moves and all(a.decision.action.value == "relocate_to_replica" for a in moves)


class FakeProvider:
    """What vCenter's HealthUpdateManager would hold, in a dict."""

    def __init__(self, held=None):
        self.id = "p1"
        self.held = dict(held or {})  # (host, info) -> (status, remediation)
        self.monitored: set[str] = set()
        self.posts: list[list] = []
        self.gone = False

    def ensure(self):
        return self.id

    def unused_by(self, names):
        return []

    def sync_monitored(self, hosts):
        self.monitored = set(hosts)

    def current(self):
        return dict(self.held)

    def post(self, updates):
        if self.gone:
            self.gone = False
            self.id, self.held = "p2", {}  # vCenter restarted: registered again, holds nothing
            raise ProviderGone("gone")
        self.posts.append(list(updates))
        for u in updates:
            self.held[u.host, u.info_id] = (u.status, u.remediation)


def statuses(updates):
    return {(u.host, u.info_id): u.status for u in updates}


A01, B01 = host_moref("esx-a01"), host_moref("esx-b01")


def test_first_pass_says_green_once_then_only_changes_after_the_hysteresis():
    clock, provider = Clock(), FakeProvider()
    pha = ProactiveHa(provider, 5, clock=clock)
    inv = lab_inventory()
    assert pha.step(inv) == []  # nothing has held 5 s yet
    clock.advance(5)
    first = pha.step(inv)
    assert set(statuses(first).values()) == {"green"} and len(first) == 6
    assert provider.monitored == set(inv.hosts)
    clock.advance(1)
    assert pha.step(inv) == []  # unchanged: nothing posted
    broken = cable_pull(inv)
    assert pha.step(broken) == []  # red must hold 5 s
    assert pha.next_wake() == clock.now + 5
    clock.advance(5)
    red = pha.step(broken)
    assert statuses(red) == {(A01, CONNECTIVITY_LOST.id): "red"}
    assert "esx-a01" in red[0].remediation
    clock.advance(10)
    assert pha.step(broken) == []
    # one HBA back: yellow under its own info id, and the red one back to green
    half = set_hba(set_hba(inv, "esx-a01", "vmhba3", "dead"), "esx-a01", "vmhba2", "ok")
    pha.step(half)
    clock.advance(5)
    assert statuses(pha.step(half)) == {(A01, CONNECTIVITY_LOST.id): "green", (A01, PATHS_DEGRADED.id): "yellow"}
    pha.step(inv)
    clock.advance(5)
    assert statuses(pha.step(inv)) == {(A01, PATHS_DEGRADED.id): "green"}
    assert all(u.remediation == "" for u in provider.posts[-1])


def test_a_restart_posts_only_what_differs_from_what_vcenter_holds():
    clock = Clock()
    held = {(m, CONNECTIVITY_LOST.id): ("green", "") for m in lab_inventory().hosts}
    held[A01, CONNECTIVITY_LOST.id] = ("red", "restore paths")
    provider = FakeProvider(held)
    pha = ProactiveHa(provider, 0, clock=clock)
    pha.start()
    assert pha.step(cable_pull(lab_inventory())) == []  # vCenter already holds it: nothing to post
    fixed = pha.step(lab_inventory())
    assert statuses(fixed) == {(A01, CONNECTIVITY_LOST.id): "green"}


def test_a_vcenter_restart_registers_again_and_posts_everything():
    provider = FakeProvider()
    pha = ProactiveHa(provider, 0, clock=Clock())
    pha.step(lab_inventory())
    provider.gone = True
    posted = pha.step(cable_pull(lab_inventory()))
    assert provider.id == "p2"
    assert len(posted) == 6 and statuses(posted)[A01, CONNECTIVITY_LOST.id] == "red"


def test_gray_hosts_are_not_posted_and_scope_clusters_limit_the_hosts():
    provider = FakeProvider()
    pha = ProactiveHa(provider, 0, clusters=["cl-b"], clock=Clock())
    posted = pha.step(set_host(lab_inventory(), "esx-b02", "disconnected"))
    assert {u.host for u in posted} == {B01, host_moref("esx-b03")}
    assert provider.monitored == {B01, host_moref("esx-b02"), host_moref("esx-b03")}
    assert pha.as_dict()["esx-b02"]["status"] == "gray"


def test_the_state_document_says_the_host_is_being_evacuated():
    """A VM on a host in quarantine or maintenance mode is told so; the document stays valid."""
    from datetime import datetime, timezone

    import jsonschema

    from vsguesttruth.config import GuestConfig
    from vsguesttruth.guestinfo import decode_state, document, load_schema
    from vsguesttruth.guestinfo.policy import default_policy
    from vsguesttruth.truth import TruthContext

    validator = jsonschema.Draft202012Validator(load_schema("state"))
    policy, now = default_policy(GuestConfig()), datetime(2025, 1, 2, tzinfo=timezone.utc)
    inv = lab_inventory()
    web01 = next(m for m, v in inv.vms.items() if v.name == "web01")

    def doc(inv):
        value = document.next_document(None, TruthContext(inv).vm_truth(web01), policy, now)
        found = decode_state(value)
        validator.validate(found)
        return found["vm"]

    assert "host_evacuation" not in doc(inv)
    for mode, field in (("quarantine", "quarantine"), ("maintenance", "maintenance")):
        changed = inv.with_host(replace(inv.hosts[A01], **{field: True}))
        assert doc(changed)["host_evacuation"] == mode
