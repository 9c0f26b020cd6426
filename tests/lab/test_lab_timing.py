"""Tasks take time and queue as on vCenter (lab/README.md: task_timing.go, resource_manager.go), and a
vMotion from a host without paths fails when the control API says so; the product's publisher and
migrations work with it. The module has its own lab with timing on and short durations."""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

from vsguesttruth.lab import Lab, LabError
from vsguesttruth.vcenter import migrate
from vsguesttruth.vcenter.connect import ConnectionSettings, connect
from vsguesttruth.vcenter.errors import TaskFailed
from vsguesttruth.vcenter.publish import set_extra_config

pytestmark = pytest.mark.lab

RECONFIGURE_MS, VMOTION_MS = 400, 600


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("timing-lab"))
    lab.up(timing=True)
    lab.timing(reconfigure_ms=RECONFIGURE_MS, vmotion_ms=VMOTION_MS, svmotion_ms=VMOTION_MS)
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def si(own):
    info = own.require()
    url = urlparse(info.url)
    si = SmartConnect(host=url.hostname, port=url.port, user=info.username, pwd=info.password,
                      sslContext=ssl.create_default_context(cafile=info.cert))
    try:
        yield si
    finally:
        Disconnect(si)
        own.timing(reconfigure_ms=RECONFIGURE_MS, vmotion_ms=VMOTION_MS, svmotion_ms=VMOTION_MS,
                   host_max_cost=16, max_concurrent_operations=640)
        own.vmotion_from_host_without_paths("succeed")
        own.fault("hba", host="esx-a01", hba="vmhba2", state="ok")
        own.fault("hba", host="esx-a01", hba="vmhba3", state="ok")


def _objects(si, kind) -> dict:
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    try:
        return {o.name: o for o in view.view}
    finally:
        view.Destroy()


def _watch(task) -> tuple[list[str], list[int]]:
    """The states and progress values a task goes through, polled until it ends."""
    states, progress = [], []
    while True:
        info = task.info
        if not states or states[-1] != info.state:
            states.append(info.state)
        if info.progress is not None:
            progress.append(info.progress)
        if info.state in ("success", "error"):
            return states, progress
        time.sleep(0.03)


def _reconfig(vm, key: str, value: str):
    return vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=key, value=value)]))


def test_a_reconfigure_is_queued_runs_and_then_applies(si):
    vm = _objects(si, vim.VirtualMachine)["web01"]
    start = time.monotonic()
    first = _reconfig(vm, "guestinfo.timing", "1")
    second = _reconfig(vm, "guestinfo.timing", "2")  # one task at a time per VM: queued behind the first
    assert second.info.state == "queued"
    assert "guestinfo.timing" not in {o.key for o in vm.config.extraConfig}  # applied when it completes
    states, progress = _watch(first)
    assert states[-1] == "success" and "running" in states and any(0 < p < 100 for p in progress)
    WaitForTask(second)
    elapsed = time.monotonic() - start
    assert elapsed >= 2 * RECONFIGURE_MS / 1000 * 0.9
    assert {o.key: o.value for o in vm.config.extraConfig}["guestinfo.timing"] == "2"
    assert first.info.queueTime <= first.info.startTime <= first.info.completeTime <= second.info.startTime


def test_vcenter_concurrency_limit_queues_other_vms(si, own):
    own.timing(max_concurrent_operations=1)
    vms = _objects(si, vim.VirtualMachine)
    start = time.monotonic()
    tasks = [_reconfig(vms[name], "guestinfo.limit", name) for name in ("web01", "web02", "web03")]
    time.sleep(0.1)
    assert sorted(t.info.state for t in tasks) == ["queued", "queued", "running"]
    assert own.timing()["queued"] == 2
    for t in tasks:
        WaitForTask(t)
    assert time.monotonic() - start >= 3 * RECONFIGURE_MS / 1000 * 0.9


def test_vmotions_per_host_follow_the_host_cost(si, own):
    """A host takes vMotions up to its cost limit (16, a vMotion costs 2: 8 at once); with the limit at 4
    two run at a time and the third waits, queued."""
    own.timing(host_max_cost=4)
    hosts = _objects(si, vim.HostSystem)
    vms = [v for v in _objects(si, vim.VirtualMachine).values()
           if v.runtime.host.name == "esx-a01" and v.runtime.powerState == "poweredOn"
           and not any(ds.name.startswith("local-") for ds in v.datastore)][:3]
    assert len(vms) == 3
    start = time.monotonic()
    tasks = [v.MigrateVM_Task(pool=v.resourcePool, host=hosts["esx-a02"], priority="defaultPriority") for v in vms]
    time.sleep(0.15)
    assert sorted(t.info.state for t in tasks) == ["queued", "running", "running"]
    for t in tasks:
        WaitForTask(t)
    assert time.monotonic() - start >= 2 * VMOTION_MS / 1000 * 0.9
    back = [v.MigrateVM_Task(pool=v.resourcePool, host=hosts["esx-a01"], priority="defaultPriority") for v in vms]
    for t in back:
        WaitForTask(t)


def test_a_queued_migration_can_be_canceled(si, own):
    own.timing(max_concurrent_operations=1)
    vms = _objects(si, vim.VirtualMachine)
    hosts = _objects(si, vim.HostSystem)
    busy = _reconfig(vms["web02"], "guestinfo.busy", "1")
    vm = vms["web01"]
    task = vm.MigrateVM_Task(pool=vm.resourcePool, host=hosts["esx-a02"], priority="defaultPriority")
    assert task.info.state == "queued" and task.info.cancelable
    task.CancelTask()
    WaitForTask(busy)
    with pytest.raises(vmodl.fault.RequestCanceled):
        WaitForTask(task)
    assert vm.runtime.host.name == "esx-a01"


def test_vmotion_from_a_host_without_paths(si, own):
    """Whether vCenter completes it is not documented: the control API selects it."""
    hosts = _objects(si, vim.HostSystem)
    vm = _objects(si, vim.VirtualMachine)["web01"]
    own.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    own.fault("hba", host="esx-a01", hba="vmhba3", state="dead")
    own.vmotion_from_host_without_paths("fail")
    task = vm.MigrateVM_Task(pool=vm.resourcePool, host=hosts["esx-a02"], priority="defaultPriority")
    with pytest.raises(vim.fault.GenericVmConfigFault) as err:
        WaitForTask(task)
    assert "esx-a01" in err.value.msg and vm.runtime.host.name == "esx-a01"
    own.vmotion_from_host_without_paths("succeed")
    WaitForTask(vm.MigrateVM_Task(pool=vm.resourcePool, host=hosts["esx-a02"], priority="defaultPriority"))
    assert vm.runtime.host.name == "esx-a02"
    for hba in ("vmhba2", "vmhba3"):  # esx-a01 reaches ds-gold again: the VM may go back
        own.fault("hba", host="esx-a01", hba=hba, state="ok")
    WaitForTask(vm.MigrateVM_Task(pool=vm.resourcePool, host=hosts["esx-a01"], priority="defaultPriority"))


def test_the_product_publishes_and_migrates_with_timing(own, si):
    info = own.require()
    conn = connect(ConnectionSettings(url=info.url, username=info.username, password=info.password, ca_file=info.cert))
    try:
        vms = _objects(si, vim.VirtualMachine)
        hosts = _objects(si, vim.HostSystem)
        vm = vms["app01"]
        start = time.monotonic()
        done = []
        threads = [threading.Thread(target=lambda k=k: (set_extra_config(conn, vm._moId, k, "v"), done.append(k)))
                   for k in ("guestinfo.p1", "guestinfo.p2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(done) == ["guestinfo.p1", "guestinfo.p2"]
        assert time.monotonic() - start >= 2 * RECONFIGURE_MS / 1000 * 0.9  # one after the other on one VM
        here = vm.runtime.host
        there = next(h for n, h in hosts.items() if n.startswith("esx-a") and h != here)
        moved = migrate.vmotion(conn, vm._moId, there._moId, timeout=60)
        assert moved.seconds >= VMOTION_MS / 1000 * 0.9 and vm.runtime.host == there
        migrate.vmotion(conn, vm._moId, here._moId, timeout=60)
        own.timing(vmotion_ms=5000)
        with pytest.raises(TaskFailed, match="did not finish"):
            migrate.vmotion(conn, vm._moId, there._moId, timeout=1, attempts=1)  # cancelled, VM stays
        assert vm.runtime.host == here
    finally:
        conn.close()


def test_writes_end_when_the_watch_shows_their_vm(own, si):
    """Beside a watch (serve), a ReconfigVM's end is seen when its VM changes: the tasks in flight are read at
    once for those VMs, every task only as a safety net a second. A dozen concurrent writes end soon after their
    reconfigure does, with a fraction of the task reads a look at every task every 100 ms makes."""
    from vsguesttruth.guestinfo import STATE
    from vsguesttruth.reconcile import Write
    from vsguesttruth.vcenter import Informer, Publisher

    info = own.require()
    conn = connect(ConnectionSettings(url=info.url, username=info.username, password=info.password, ca_file=info.cert))
    informer = Informer(conn, events=False, max_wait=5)
    try:
        informer.next()  # the first inventory
        pub = Publisher(conn, concurrency=16)
        pub.follow_changes()
        informer.listen(lambda inv: inv is not None and inv.delta is not None and pub.changed(inv.delta.vms))
        informer.start()
        vms = sorted(_objects(si, vim.VirtualMachine).items())[:12]
        writes = [Write(vm=v._moId, name=n, values={STATE: f"{n}-{time.time()}"}) for n, v in vms]
        start = time.monotonic()
        results = pub.write(writes)
        took = time.monotonic() - start
        assert all(r.ok for r in results), [r.error for r in results]
        reads = pub._tasks.read
        print(f"\n12 writes of {RECONFIGURE_MS} ms each ended in {took * 1000:.0f} ms, {reads} task states read")
        assert took < RECONFIGURE_MS / 1000 + 1.0  # not a second's safety-net look late
        assert reads < 12 * 3  # 100-ms looks at every task would read ~12 x 4 or more
        pub.close()
    finally:
        informer.stop()
        informer.close()
        conn.close()


def test_each_write_is_timed_waiting_for_a_slot_then_writing(own, si):
    """/metrics' vsguesttruth_write_seconds splits a write's time: waiting for one of the [publish] concurrency
    slots, then vCenter's ReconfigVM_Task. Six writes through two slots: the last two wait two reconfigures."""
    from vsguesttruth.guestinfo import STATE
    from vsguesttruth.reconcile import Write
    from vsguesttruth.vcenter import Publisher

    info = own.require()
    conn = connect(ConnectionSettings(url=info.url, username=info.username, password=info.password, ca_file=info.cert))
    try:
        pub = Publisher(conn, concurrency=2)
        timed: list[tuple[float, float]] = []
        pub.on_timed = lambda waited, took: timed.append((waited, took))
        vms = sorted(_objects(si, vim.VirtualMachine).items())[:6]
        futures = [pub.submit(Write(vm=v._moId, name=n, values={STATE: f"{n}-{time.time()}"})) for n, v in vms]
        assert all(f.result(timeout=60).ok for f in futures)
        pub.close()
    finally:
        conn.close()
    waits = sorted(w for w, _ in timed)
    second = RECONFIGURE_MS / 1000
    assert len(timed) == 6 and all(second <= took < second + 1.5 for _, took in timed), timed
    assert waits[1] < 0.5 and waits[-1] >= 2 * second * 0.9, waits


def test_timing_control_is_checked_and_restored(own):
    status = own.timing()
    assert status["enabled"] is True and status["host_max_cost"] == 16 and status["network_max_cost"] == 8
    assert status["datastore_max_cost"] == 128 and status["max_concurrent_operations"] == 640
    for body in ({"enabled": "yes"}, {"vmotion_ms": -1}, {"colour": 1}, {"host_max_cost": 0}, {"vmotion_ms": 1.5}):
        with pytest.raises(LabError):
            own.timing(**body)
    with pytest.raises(LabError):
        own.vmotion_from_host_without_paths("maybe")
    own.timing(enabled=False, vmotion_ms=1)
    own.restore()
    assert own.timing()["enabled"] is True and own.timing()["vmotion_ms"] == 6000  # the lab's start values
    own.timing(reconfigure_ms=RECONFIGURE_MS, vmotion_ms=VMOTION_MS, svmotion_ms=VMOTION_MS)
    req = urllib.request.Request(own.require().control + "/v1/vmotion", data=b'{"from_host_without_paths": 1}',
                                 method="POST", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400 and "succeed" in json.loads(err.value.read())["error"]
