"""Pipelined writes (``serve``): a pass hands its writes over and returns; one write per VM at a time; what a
pipelined reconciler writes is what a waiting one writes."""

from __future__ import annotations

from concurrent.futures import Future

from hypothesis import given, settings
from hypothesis import strategies as st

from vsguesttruth.config import Config
from vsguesttruth.reconcile import Reconciler

from fakes import inventory as f
from fakes.inventory import FAULTS
from fakes.reconcile import FakeVcenter
from fakes.reconcile import reconciler as setup


class SlowVcenter(FakeVcenter):
    """A FakeVcenter whose writes run like ReconfigVM tasks: submitted, applied when :meth:`finish` says so."""

    def __init__(self, inv) -> None:
        super().__init__(inv)
        self.running: list[tuple[object, Future]] = []
        self.firsts: list[bool] = []
        self.sent = True  # False: the writes wait for a slot (not sent to vCenter yet)

    def submit(self, w, urgent=False, first=False):
        future: Future = Future()
        if self.sent:
            future.set_running_or_notify_cancel()  # sent to vCenter: a task runs
        self.running.append((w, future))
        self.firsts.append(first)
        return future

    def finish(self) -> int:
        running, self.running = self.running, []
        for w, future in running:
            future.set_result(self.write([w])[0])
        return len(running)

    def in_flight(self) -> list[str]:
        return sorted(w.name for w, _ in self.running)


def pipelined(**kw):
    vc, rec, clock = setup(pipeline=True, **kw)
    slow = SlowVcenter(vc.inv)
    rec.writer = slow
    rec.inflight = type(rec.inflight)(slow)
    rec.inflight.ending_wait = 0.0  # these writes end when the test says so
    return slow, rec, clock


def test_a_pass_returns_before_its_writes_end_and_the_next_accounts_for_them():
    vc, rec, _ = pipelined()
    first = rec.reconcile(vc.inv)
    assert first.states == 0 and vc.in_flight() == sorted(f.VMS) and rec.writing == len(f.VMS)
    assert rec.finished() == [] and rec.next_wake() is not None  # the loop comes back for them
    assert vc.finish() == len(f.VMS)
    second = rec.reconcile(vc.inv)
    # each write is accounted for in the pass that planned it; that pass is over once they all ended
    assert rec.finished() == [first, second] and first.states == len(f.VMS) and second.states == 0
    assert len(first.outcomes) == len(f.VMS) and rec.writing == 0 and vc.in_flight() == []
    assert rec.reconcile(vc.inv).states == 0 and vc.written() == sorted(f.VMS)  # echoes: nothing more


def test_a_vm_that_changes_while_its_write_runs_gets_one_write_at_a_time_and_then_the_latest_truth():
    vc, rec, _ = pipelined()
    rec.reconcile(vc.inv)
    vc.finish()
    rec.reconcile(vc.inv)
    vc.written()
    vc.inv = f.set_hba(vc.inv, "esx-a01", "vmhba2", "dead")
    rec.reconcile(vc.inv)
    assert vc.in_flight() == ["db01", "web01"]
    vc.inv = f.set_hba(vc.inv, "esx-a01", "vmhba3", "dead")  # worse, while the first writes run
    rec.reconcile(vc.inv)
    assert vc.in_flight() == ["db01", "web01"]  # held: never a second write racing the first
    vc.finish()
    rec.reconcile(vc.inv)  # the first writes are accounted for; the held VMs are planned again
    assert vc.in_flight() == ["db01", "web01"]
    vc.finish()
    rec.reconcile(vc.inv)
    assert vc.doc("web01")["disks"][0]["verdict"] == "connectivity_lost"


def test_a_failed_write_backs_off_as_a_waiting_one_does():
    vc, rec, clock = pipelined()
    vc.fail.add("web01")
    rec.reconcile(vc.inv)
    vc.finish()
    rec.reconcile(vc.inv)
    assert [r.failed for r in rec.finished()] == [1, 0] and "web01" not in vc.written()
    clock.advance(6)
    rec.reconcile(vc.inv)
    vc.fail.clear()
    vc.finish()
    rec.reconcile(vc.inv)
    assert vc.doc("web01")["generation"] == 1


@settings(max_examples=30)
@given(st.lists(FAULTS, min_size=1, max_size=4))
def test_pipelined_passes_write_what_a_full_pass_would(steps):
    vc, rec, _ = pipelined()
    rec.reconcile(vc.inv)
    for faults in steps:
        vc.inv = f.with_faults(vc.inv, faults)  # the guestinfo written so far stays
        rec.reconcile(vc.inv)
        while vc.finish():  # the writes end; the next pass accounts for them and plans the held VMs again
            rec.reconcile(vc.inv)
        rec.reconcile(vc.inv)  # the echo
        check = FakeVcenter(vc.inv)
        Reconciler(Config(), check).reconcile(check.inv)
        assert check.written() == [], "a full pass would still write: the pipelined passes missed a change"


def test_results_of_cancelled_writes_fail_and_are_written_again():
    vc, rec, clock = pipelined()
    vc.sent = False
    rec.reconcile(vc.inv)
    rec.close()  # the service stops: writes waiting for a slot are dropped
    for _, future in vc.running:
        assert future.cancelled()
    vc.running = []
    rec.reconcile(vc.inv)
    assert rec.finished()[0].failed == len(f.VMS) and rec.writing == 0
    clock.advance(6)  # backed off as after any failed write, then written
    rec.reconcile(vc.inv)
    assert vc.in_flight() == sorted(f.VMS)


def test_worse_news_is_written_first_and_a_recovery_is_not():
    vc, rec, _ = pipelined()
    rec.reconcile(vc.inv)
    vc.finish()
    rec.reconcile(vc.inv)
    assert not any(vc.firsts)  # a first publish of healthy VMs tells no bad news
    vc.firsts.clear()
    vc.inv = f.set_hba(vc.inv, "esx-a01", "vmhba2", "dead")
    rec.reconcile(vc.inv)
    assert vc.in_flight() == ["db01", "web01"] and vc.firsts == [True, True]
    vc.finish()
    rec.reconcile(vc.inv)
    vc.firsts.clear()
    vc.inv = f.set_hba(vc.inv, "esx-a01", "vmhba2", "online")
    rec.reconcile(vc.inv)
    assert vc.in_flight() == ["db01", "web01"] and vc.firsts == [False, False]


def test_a_write_still_waiting_for_a_slot_is_taken_back_when_its_vm_changes_again():
    vc, rec, _ = pipelined()
    rec.reconcile(vc.inv)
    vc.finish()
    rec.reconcile(vc.inv)
    vc.sent = False  # vCenter's slots are busy: the writes wait
    vc.inv = f.set_hba(vc.inv, "esx-a01", "vmhba2", "dead")
    rec.reconcile(vc.inv)
    waiting = [future for _, future in vc.running]
    vc.inv = f.set_hba(vc.inv, "esx-a01", "vmhba2", "online")  # back before the write was sent
    vc.sent = True
    rec.reconcile(vc.inv)
    assert waiting and all(future.cancelled() for future in waiting)
    assert not any(r.failed for r in rec.finished())  # taken back, not failed
    vc.running = [(w, fut) for w, fut in vc.running if not fut.cancelled()]
    vc.finish()
    rec.reconcile(vc.inv)
    assert vc.doc("web01")["verdict"] == "healthy" and rec.reconcile(vc.inv).states == 0


def test_the_writer_gets_a_few_writes_at_a_time_and_a_new_fault_goes_before_the_backlog():
    vc, rec, _ = pipelined()
    rec.inflight.limit = 3
    rec.reconcile(vc.inv)
    assert len(vc.in_flight()) == 3 and rec.next_wake() is not None
    first = set(vc.in_flight())
    vc.finish()
    vc.inv = f.set_hba(vc.inv, "esx-b01", "vmhba2", "dead")  # web03 was not written yet: it goes first now
    rec.reconcile(vc.inv)
    assert "web03" in vc.in_flight() or "web03" in first
    done = 0
    while vc.in_flight() or rec.inflight._later:
        done += vc.finish()
        rec.reconcile(vc.inv)
        assert len(vc.in_flight()) <= 3
    assert vc.doc("web03")["disks"][0]["verdict"] == "degraded"
    assert all(vc.doc(name)["generation"] >= 1 for name in f.VMS)


def test_the_writers_pace_runs_urgent_writes_before_the_backlog_and_never_more_at_once_than_its_slots():
    import threading

    from vsguesttruth.vcenter.pacing import Slots

    slots = Slots(2)
    gate, order, running, most = threading.Event(), [], [0], [0]
    lock = threading.Lock()

    def job(name):
        def run():
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            gate.wait(5)
            with lock:
                order.append(name)
                running[0] -= 1
            return name
        return run

    first = [slots.submit(job(f"busy{i}")) for i in range(2)]
    backlog = [slots.submit(job(f"later{i}")) for i in range(3)]
    fault = slots.submit(job("fault"), urgent=True)
    gate.set()
    assert [f.result(5) for f in first + backlog + [fault]]
    assert order.index("fault") < min(order.index(f"later{i}") for i in range(3))
    assert most[0] <= 2
    slots.close()


def test_remediation_reads_the_truth_of_now_for_a_vm_whose_write_is_still_running():
    vc, rec, _ = pipelined()
    rec.reconcile(vc.inv)
    vc.finish()
    rec.reconcile(vc.inv)
    vc.inv = f.set_hba(vc.inv, "esx-a01", "vmhba2", "dead")
    rec.reconcile(vc.inv)
    assert rec.truths[vc.inv.vm_by_name("web01").moref].verdict.value == "degraded"
    vc.inv = f.set_hba(vc.inv, "esx-a01", "vmhba3", "dead")  # its write still runs: the document waits
    rec.reconcile(vc.inv)
    assert vc.in_flight() == ["db01", "web01"]
    assert rec.truths[vc.inv.vm_by_name("web01").moref].verdict.value == "connectivity_lost"


def test_the_loop_holds_every_vms_verdicts_for_status():
    """What a `status` asks a running service: each disk's verdict as the loop judged it last, and the truths of
    the VMs that are not healthy, kept current while their writes run; nothing while not every VM is judged."""
    from vsguesttruth.config import ScopeConfig
    from vsguesttruth.truth import TruthContext

    vc, rec, _ = pipelined()
    assert rec.judged() is None  # nothing judged yet
    rec.reconcile(vc.inv)
    vc.finish()
    rec.reconcile(vc.inv)
    vc.inv = f.set_hba(f.set_hba(vc.inv, "esx-a01", "vmhba2", "dead"), "esx-a01", "vmhba3", "dead")
    rec.reconcile(vc.inv)
    found = rec.judged()
    disks = [d for t in TruthContext(vc.inv).vm_truths(rec.level) for d in t.disks]
    assert found is not None and found.vms == len(vc.inv.vms)
    assert found.counts == {v: sum(d.verdict.value == v for d in disks) for v in found.counts}
    assert found.counts["connectivity_lost"] > 0
    assert sorted(t.name for t in found.unhealthy) == sorted({d.vm_name for d in disks if d.verdict.value != "healthy"})
    vc.inv = f.set_hba(f.set_hba(vc.inv, "esx-a01", "vmhba2", "active"), "esx-a01", "vmhba3", "active")
    rec.reconcile(vc.inv)  # the writes of the fault still run: the VMs are judged again all the same
    assert rec.judged().unhealthy == [] and rec.judged().counts["healthy"] == len(disks)
    scoped = setup(config=Config(scope=ScopeConfig(vms=("web*",))))[1]
    scoped.reconcile(vc.inv)
    assert scoped.judged() is None  # a scope leaves VMs out: `status` judges them all itself
