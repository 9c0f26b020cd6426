"""The remediation controller's guard rails, with a fake clock and a fake executor (no vCenter)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vsguesttruth.config import RemediationConfig
from vsguesttruth.errors import VsgtError
from vsguesttruth.model import Vm
from vsguesttruth.plan import Action as PlanAction, MoveRequest, plan
from vsguesttruth.remediation import Remediator
from vsguesttruth.truth import TruthContext

from fakes.clock import Clock
from fakes.inventory import host_moref, lab_inventory, set_hba, vm_moref


class FakeExecutor:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[str] = []
        self.followed: list[str] = []
        self.events: list[tuple[str, str]] = []

    def migrate(self, decision, progress=None) -> str:
        self.calls.append(decision.vm_name)
        if self.fail:
            raise VsgtError(f"vMotion of {decision.vm_name} failed: InvalidHostConnectionState")
        if progress:
            progress(100)
        return "task-1"

    def follow(self, decision, task, progress=None):
        self.followed.append(task)
        if self.fail:
            raise VsgtError(f"vMotion of {decision.vm_name} ({task}) failed: InvalidHostConnectionState")
        return replace(decision, to_host="host-2", to_host_name="esx-a02")

    def post_event(self, vm: str, message: str) -> None:
        self.events.append((vm, message))


AUTO = RemediationConfig(mode="auto", stable_seconds=0, max_per_hour=1000)


def cable_pull(inv, host="esx-a01"):
    return set_hba(set_hba(inv, host, "vmhba2", "dead"), host, "vmhba3", "dead")


def crowded(n: int = 20):
    """``n`` more VMs like web01 on esx-a01 (ds-gold + ds-silver)."""
    inv = lab_inventory()
    web01 = inv.vms[vm_moref("web01")]
    for i in range(n - 1):
        inv = inv.with_vm(replace(web01, moref=f"vm-{900 + i}", name=f"many{i:02d}"))
    return inv


def step(rem: Remediator, inv, requests=()):
    ctx = TruthContext(inv)
    return rem.step(inv, ctx.vm_truths(), requests, context=ctx)


def apply(inv, action):
    """The inventory after a successful vMotion."""
    return inv.with_vm(replace(inv.vms[action.decision.vm], host=action.decision.to_host))


def kinds(actions):
    return sorted((a.decision.vm_name, a.kind, a.rail) for a in actions)


def test_twenty_affected_vms_respect_the_concurrency_limit_and_all_move_eventually():
    clock, fake = Clock(), FakeExecutor()
    rem = Remediator(replace(AUTO, max_concurrent=2), fake, clock=clock)
    inv = cable_pull(crowded(20))
    affected = {d.vm for d in plan(inv, TruthContext(inv).vm_truths(), AUTO).moves}
    assert len(affected) == 21  # 20 web01-likes + db01
    moved: set[str] = set()
    rounds = 0
    while moved != affected:
        rounds += 1
        actions = step(rem, inv)
        moves = [a for a in actions if a.kind == "move"]
        assert len(moves) <= 2 and len(rem.in_flight) <= 2
        held = [a for a in actions if a.kind == "hold"]
        assert {a.rail for a in held} <= {"concurrency", "in_flight"}
        # nothing more starts while two are in flight
        assert [a for a in step(rem, inv) if a.kind == "move"] == []
        for action in moves:
            assert rem.execute(action)
            inv = apply(inv, action)
            moved.add(action.vm)
        clock.advance(5)
        assert rounds < 30
    assert rounds == 11 and fake.calls and len(fake.calls) == 21
    assert step(rem, inv) == []  # everyone healthy now: nothing to do


def test_hourly_budget_holds_the_rest_until_the_hour_has_passed():
    clock, fake = Clock(), FakeExecutor()
    rem = Remediator(replace(AUTO, max_concurrent=4, max_per_hour=5), fake, clock=clock)
    inv = cable_pull(crowded(20))
    for _ in range(10):
        for action in [a for a in step(rem, inv) if a.kind == "move"]:
            rem.execute(action)
            inv = apply(inv, action)
        clock.advance(60)
    assert len(fake.calls) == 5
    held = [a for a in step(rem, inv) if a.kind == "hold"]
    assert held and {a.rail for a in held} == {"budget"}
    assert "max_per_hour 5" in held[0].reason
    assert any("holding" in m and "max_per_hour" in m for _, m in fake.events)
    clock.advance(3600)
    assert len([a for a in step(rem, inv) if a.kind == "move"]) == 4


def test_cooldown_prevents_moving_a_vm_again_or_back():
    clock, fake = Clock(), FakeExecutor()
    rem = Remediator(replace(AUTO, cooldown_minutes=30), fake, clock=clock)
    inv = cable_pull(lab_inventory())
    first = step(rem, inv)
    web01 = next(a for a in first if a.decision.vm_name == "web01")
    assert web01.kind == "move" and all(rem.execute(a) for a in first if a.kind == "move")
    # now its new host loses its paths too (and esx-a01 is back): moving back is what the planner wants...
    inv = cable_pull(lab_inventory(), host=web01.decision.to_host_name)
    inv = inv.with_vm(replace(inv.vms[vm_moref("web01")], host=web01.decision.to_host))

    def web01_now():
        actions = step(rem, inv)
        for other in actions:  # the other VMs of that host move (and finish) meanwhile
            if other.kind == "move" and other.decision.vm_name != "web01":
                rem.execute(other)
        return next(a for a in actions if a.decision.vm_name == "web01")

    again = web01_now()
    assert again.decision.action is PlanAction.VMOTION and again.decision.to_host == host_moref("esx-a01")
    # ...but the cooldown holds it
    assert again.kind == "hold" and again.rail == "cooldown" and "cooldown 30 min" in again.reason
    clock.advance(29 * 60)
    assert web01_now().rail == "cooldown"
    clock.advance(2 * 60)
    assert web01_now().kind == "move"


def test_a_flapping_verdict_never_moves_and_a_stable_one_does():
    clock, fake = Clock(), FakeExecutor()
    rem = Remediator(replace(AUTO, stable_seconds=30), fake, clock=clock)
    healthy, broken = lab_inventory(), cable_pull(lab_inventory())
    for i in range(60):  # 10 minutes of a path flapping every 10 s
        for action in step(rem, broken if i % 2 == 0 else healthy):
            assert action.kind != "move"
            if action.kind == "hold":
                assert action.rail == "stable" and "to hold 30 s" in action.reason
        clock.advance(10)
    assert fake.calls == [] and fake.events == []  # and no event noise either
    step(rem, broken)
    clock.advance(20)
    assert not [a for a in step(rem, broken) if a.kind == "move"]
    clock.advance(10)
    moves = [a for a in step(rem, broken) if a.kind == "move"]
    assert {a.decision.vm_name for a in moves} == {"web01", "db01"}


def test_breaker_opens_after_repeated_failures_and_does_not_loop():
    clock, fake = Clock(), FakeExecutor(fail=True)
    cfg = replace(AUTO, max_concurrent=2, breaker_failures=3, breaker_open_seconds=600, retry_seconds=60,
                  attempts=3, cooldown_minutes=30)
    rem = Remediator(cfg, fake, clock=clock)
    inv = cable_pull(crowded(20))
    for _ in range(120):  # an hour, a pass every 30 s
        for action in [a for a in step(rem, inv) if a.kind == "move"]:
            assert not rem.execute(action)
        clock.advance(30)
    # 4 failures open it (2 in flight together), then one half-open trial every 600 s: about 4 + 6
    assert 4 <= len(fake.calls) <= 12, fake.calls
    assert rem.breaker in ("open", "half-open")
    assert rem.moves_failed == len(fake.calls)
    failed_events = [m for _, m in fake.events if m.startswith("vsguesttruth: migration of") and " failed: " in m]
    assert len(failed_events) == len(fake.calls)
    assert any("circuit breaker" in m for _, m in fake.events)
    # the breaker closes after a successful trial
    fake.fail = False
    clock.advance(600)
    moves = [a for a in step(rem, inv) if a.kind == "move"]
    assert len(moves) == 1  # half-open: one trial
    assert rem.execute(moves[0]) and rem.breaker == "closed"


def test_one_failing_vm_is_retried_within_limits_then_waits_out_the_cooldown():
    clock, fake = Clock(), FakeExecutor(fail=True)
    cfg = replace(AUTO, breaker_failures=100, retry_seconds=60, attempts=3, cooldown_minutes=30)
    rem = Remediator(cfg, fake, clock=clock)
    inv = cable_pull(lab_inventory())
    inv = inv.with_vm(replace(inv.vms[vm_moref("db01")], power_state="poweredOff"))  # only web01
    rails = []
    for _ in range(100):  # 25 minutes, a pass every 15 s
        for action in step(rem, inv):
            rails.append(action.rail)
            if action.kind == "move":
                rem.execute(action)
        clock.advance(15)
    assert fake.calls == ["web01"] * 3  # first try, retry after 60 s, after 120 s; then nothing
    assert "retry" in rails and "gave_up" in rails
    assert any("giving up for 30 min after 3 attempts" in m for _, m in fake.events)
    clock.advance(10 * 60)
    assert [a.kind for a in step(rem, inv)] == ["move"]


def test_advise_mode_never_executes_but_emits_the_same_plan_once():
    clock, fake = Clock(), FakeExecutor()
    rem = Remediator(replace(AUTO, mode="advise"), fake, clock=clock)
    inv = cable_pull(crowded(20))
    actions = step(rem, inv)
    expected = plan(inv, TruthContext(inv).vm_truths(), AUTO)
    assert [a.decision for a in actions] == list(expected.decisions)
    assert {a.kind for a in actions} == {"advise"}
    assert fake.calls == []
    advice = [m for _, m in fake.events if m.startswith("vsguesttruth: advice: vmotion ")]
    assert len(advice) == 21
    assert all(" from esx-a01 to esx-a0" in m for m in advice)
    clock.advance(60)
    step(rem, inv)
    assert len(fake.events) == 21  # level-triggered, but an unchanged plan is not news


def test_off_mode_does_nothing():
    fake = FakeExecutor()
    rem = Remediator(replace(AUTO, mode="off"), fake, clock=Clock())
    assert step(rem, cable_pull(lab_inventory())) == [] and fake.events == [] and fake.calls == []


def test_moves_post_events_with_why_from_to_and_verdict():
    fake = FakeExecutor()
    rem = Remediator(AUTO, fake, clock=Clock())
    web01 = next(a for a in step(rem, cable_pull(lab_inventory())) if a.decision.vm_name == "web01")
    rem.execute(web01)
    messages = [m for vm, m in fake.events if vm == vm_moref("web01")]
    assert messages[0].startswith("vsguesttruth: moving web01 from esx-a01 to esx-a0")
    assert "connectivity_lost" in messages[0] and "lost every path on esx-a01" in messages[0]
    assert messages[1].startswith("vsguesttruth: moved web01 from esx-a01 to esx-a0")


def test_guest_requests_get_answers():
    results = []
    record = lambda vm, rid, status, message: results.append((vm, rid, status, message))  # noqa: E731
    request = MoveRequest(vm=vm_moref("web02"), id="r1", reason="patching")
    inv = lab_inventory()

    refused = Remediator(AUTO, FakeExecutor(), clock=Clock(), on_request_result=record)
    step(refused, inv, [request])
    assert results[-1][:3] == (vm_moref("web02"), "r1", "refused") and "allow_migrate_requests" in results[-1][3]

    allowed = replace(AUTO, allow_guest_requests=True, stable_seconds=300)
    rem = Remediator(allowed, FakeExecutor(), clock=Clock(), on_request_result=record)
    actions = step(rem, inv, [request])
    move = next(a for a in actions if a.kind == "move")  # a request skips the hysteresis wait
    assert results[-1][2] == "accepted"
    rem.execute(move)
    assert results[-1][:3] == (vm_moref("web02"), "r1", "done")
    assert step(rem, inv) == []  # answered: not planned again

    advise = Remediator(replace(allowed, mode="advise"), FakeExecutor(), clock=Clock(), on_request_result=record)
    step(advise, inv, [request])
    assert results[-1][2] == "refused" and "advise mode" in results[-1][3]

    failing = Remediator(allowed, FakeExecutor(fail=True), clock=Clock(), on_request_result=record)
    move = next(a for a in step(failing, inv, [request]) if a.kind == "move")
    failing.execute(move)
    assert results[-1][2] == "failed" and "InvalidHostConnectionState" in results[-1][3]


def test_remembered_moves_keep_the_cooldown_and_budget_across_restarts():
    clock, fake = Clock(), FakeExecutor()
    rem = Remediator(replace(AUTO, max_per_hour=2), fake, clock=clock)
    rem.remember(vm_moref("web01"), clock() - 60)
    rem.remember("vm-other", clock() - 120)
    actions = {a.decision.vm_name: a for a in step(rem, cable_pull(lab_inventory()))}
    assert actions["web01"].rail == "cooldown"
    assert actions["db01"].rail == "budget"


@pytest.mark.parametrize("mode", ["auto", "advise"])
def test_refusals_are_posted_once(mode):
    from fakes.inventory import set_lun

    fake = FakeExecutor()
    rem = Remediator(replace(AUTO, mode=mode), fake, clock=Clock())
    inv = set_lun(lab_inventory(), "gold01", "apd")
    actions = step(rem, inv)
    assert actions and {a.kind for a in actions} == {"refuse"}
    n = len(fake.events)
    assert n == len(actions) and all("not moving" in m and "APD" in m for _, m in fake.events)
    step(rem, inv)
    assert len(fake.events) == n


def test_vm_class_is_plain():
    assert Vm(moref="vm-1", name="x").host == ""


def test_remediation_config_is_strict(tmp_path):
    from vsguesttruth import config
    from vsguesttruth.errors import ConfigError

    path = tmp_path / "c.toml"
    path.write_text('[remediation]\nmode = "auto"\nmax_concurrent = 4\nallowed_hosts = ["esx-a*"]\n'
                    '[replicas]\n"ds-gold" = "ds-gold-replica"\n[guest]\nallow_migrate_requests = true\n')
    cfg = config.load(path).remediation
    assert (cfg.mode, cfg.max_concurrent, cfg.allowed_hosts) == ("auto", 4, ("esx-a*",))
    assert cfg.replicas == {"ds-gold": "ds-gold-replica"} and cfg.allow_guest_requests
    for text, message in [
        ('[remediation]\nmode = "yolo"\n', "mode must be one of off, advise, auto"),
        ('[remediation]\nmax_concurent = 2\n', "unknown key remediation.max_concurent"),
        ('[remediation]\nmax_concurrent = 0\n', "max_concurrent must be between 1 and 64"),
        ('[replicas]\n"ds-gold" = 3\n', "replicas.ds-gold must be a datastore name"),
        ('[replicas]\n"ds-gold" = "ds-gold"\n', "names itself"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError) as err:
            config.load(path)
        assert message in str(err.value)


def test_serve_plans_from_the_unhealthy_vms_truths_and_a_healthy_vm_may_still_ask_to_move():
    """The reconciler keeps the truths of unhealthy VMs only (each truth holds its pass's evidence of every
    host seeing its LUNs: keeping 20,000 kept hundreds of passes alive); a healthy VM's request is judged when
    it is planned."""
    from vsguesttruth.config import Config, GuestConfig
    from vsguesttruth.guestinfo import REQUEST
    from vsguesttruth.remediation import RemediationLoop

    from fakes.reconcile import reconciler as setup

    fake = FakeExecutor()
    loop = RemediationLoop(None, replace(AUTO, allow_guest_requests=True), executor=fake)
    vc, rec, _ = setup(config=Config(guest=GuestConfig(allow_migrate_requests=True)), remediation=loop.request)

    def step():
        return loop.step(vc.inv, rec.truths, rec.levels(), rec.level)

    healthy = vc.inv
    rec.reconcile(vc.inv)
    assert rec.truths == {} and step() == []

    vc.inv = cable_pull(vc.inv)
    rec.reconcile(vc.inv)
    assert sorted(t.name for t in rec.truths.values()) == ["db01", "web01"]
    vc.inv = healthy
    rec.reconcile(vc.inv)
    assert rec.truths == {}

    vc.guest("web02", REQUEST, '{"id": "m1", "action": "migrate", "reason": "slow"}')
    rec.reconcile(vc.inv)
    actions = step()
    loop.stop()
    assert [(a.decision.vm_name, a.kind, a.decision.trigger) for a in actions] == [("web02", "move", "request")]
    assert fake.calls == ["web02"]
    rec.reconcile(vc.inv)  # the answers remediation gave meanwhile go to the guest with the VM's next pass
    answer = vc.response("web02")
    assert (answer["id"], answer["status"]) == ("m1", "done")


def adopted(inv, name: str, task: str = "task-7"):
    from vsguesttruth.remediation.loop import adopted_decision
    from vsguesttruth.vcenter import RunningMove

    vm = inv.vm_by_name(name)
    return adopted_decision(RunningMove(task, vm.moref, vm.name, "vmotion", vm.host, "esx-a01", 120.0, 40))


def test_a_migration_running_before_a_restart_is_adopted_not_started_again():
    clock, fake = Clock(), FakeExecutor()
    rem = Remediator(replace(AUTO, max_concurrent=2, max_per_hour=3), fake, clock=clock)
    inv = cable_pull(crowded(5))
    actions = [rem.adopt(adopted(inv, name, f"task-{i}"), f"task-{i}", 120.0)
               for i, name in enumerate(("web01", "many00"))]
    assert set(rem.in_flight) == {vm_moref("web01"), "vm-900"}
    # the adopted moves fill max_concurrent: nothing starts, and neither VM is moved a second time
    held = step(rem, inv)
    assert not [a for a in held if a.kind == "move"]
    assert {a.rail for a in held if a.vm in rem.in_flight} == {"in_flight"}
    assert {a.rail for a in held if a.vm not in rem.in_flight} == {"concurrency"}
    for action in actions:
        assert rem.execute(action)
    assert fake.calls == [] and fake.followed == ["task-0", "task-1"]  # waited for, never started
    moved = [m for _, m in fake.events if m.startswith("vsguesttruth: moved ")]
    assert len(moved) == 2 and "moved web01 from esx-a01 to esx-a02" in moved[0] and "task-0" in moved[0]
    assert not [m for _, m in fake.events if "moving" in m or "failed" in m]
    assert rem.breaker == "closed" and rem.moves_done == 2 and rem.moves_failed == 0
    # bookkeeping: the cooldown holds the adopted VMs, and they count in the hourly budget (3: one slot left)
    inv = inv.with_vm(replace(inv.vms[vm_moref("web01")], host=host_moref("esx-a02")))
    clock.advance(5)
    starts = [a for a in step(rem, inv) if a.kind == "move"]
    assert len(starts) == 1 and starts[0].vm not in (vm_moref("web01"), "vm-900")
    rem.execute(starts[0])
    clock.advance(5)
    assert {a.rail for a in step(rem, inv) if a.kind == "hold" and a.vm != vm_moref("web01")} >= {"budget"}


def test_an_adopted_migration_that_fails_is_a_failure():
    clock, fake = Clock(), FakeExecutor(fail=True)
    rem = Remediator(AUTO, fake, clock=clock)
    inv = cable_pull(lab_inventory())
    action = rem.adopt(adopted(inv, "web01"), "task-7", 30.0)
    assert not rem.execute(action)
    assert rem.moves_failed == 1 and not rem.in_flight
    assert any("migration of web01" in m and "failed" in m for _, m in fake.events)
