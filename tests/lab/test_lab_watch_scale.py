"""The lab's incremental WaitForUpdatesEx at a larger scale: a fault touching many hosts reaches the
watch within a second, maxObjectUpdates truncates, CancelWaitForUpdates cancels, and a collector of
CreatePropertyCollector sees objects enter and leave."""

from __future__ import annotations

import threading
import time

import pytest
from pyVmomi import vim, vmodl

from vsguesttruth.lab import Lab
from vsguesttruth.model import PathState
from vsguesttruth.vcenter import ConnectionSettings, Watcher, connect

pytestmark = pytest.mark.lab

PC = vmodl.query.PropertyCollector


@pytest.fixture(scope="module")
def big_lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("biglab"))
    info = lab.up(hosts=64, vms=400, timing=False)
    try:
        yield lab, info
    finally:
        lab.down()


@pytest.fixture
def conn(big_lab):
    _, info = big_lab
    c = connect(ConnectionSettings(url=info.url, username=info.username, password=info.password,
                                   ca_file=info.cert, reconnect_timeout=30))
    yield c
    c.close()


def host_filter(pc, content, paths=("name", "runtime.connectionState", "config.multipathState", "summary")):
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[
            PC.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)])],
        propSet=[PC.PropertySpec(type=vim.HostSystem, pathSet=list(paths))],
    )
    return view, pc.CreateFilter(spec, partialUpdates=True)


def test_target_fault_on_every_host_within_a_second(big_lab, conn):
    """The collector delivers a fault touching all 64 hosts within a second (the server side: a
    light filter, so pyVmomi's parsing of megabytes of storage config doesn't dominate)."""
    lab, _ = big_lab
    content = conn.content
    pc = content.propertyCollector.CreatePropertyCollector()
    view, _ = host_filter(pc, content, paths=("name", "runtime.connectionState", "config.multipathState"))
    try:
        version = pc.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=0)).version
        for state in ("dead", "ok"):
            start = time.monotonic()
            lab.fault("target", target="A-ctl0-p0", state=state)
            changed = set()
            while len(changed) < 64:
                left = 5.0 - (time.monotonic() - start)
                assert left > 0, f"target {state}: {len(changed)} hosts within 5 s"
                update = pc.WaitForUpdatesEx(version, PC.WaitOptions(maxWaitSeconds=max(1, int(left))))
                if update is None:
                    continue
                version = update.version
                for o in (o for f in update.filterSet for o in f.objectSet):
                    assert o.kind == "modify" and [c.name for c in o.changeSet] == ["config.multipathState"]
                    changed.add(o.obj._moId)
            took = time.monotonic() - start
            print(f"\ntarget {state} on 64 hosts delivered after {took * 1000:.0f} ms")
            assert took < 1.0, f"target {state} took {took:.2f} s"
    finally:
        pc.DestroyPropertyCollector()
        view.DestroyView()
        lab.restore()


def test_target_fault_reaches_the_watcher(big_lab, conn):
    """End to end through our Watcher (it watches the hosts' whole multipath config: the time is
    mostly pyVmomi parsing it, hence the looser bound)."""
    lab, _ = big_lab
    port = next(t for t in lab.topology()["targets"] if t["name"] == "A-ctl0-p0")
    w = Watcher(conn, max_wait=10)
    try:
        inv = w.next_inventory()
        assert len(inv.hosts) == 64 and len(inv.vms) == 400
        start = time.monotonic()
        lab.fault("target", target="A-ctl0-p0", state="dead")

        def dead(i):
            through = [p for h in i.hosts.values() for p in h.paths if p.target == port["wwpn"]]
            return through and all(p.state is PathState.DEAD for p in through)

        while not dead(w.inventory):
            left = 10.0 - (time.monotonic() - start)
            assert left > 0, "target fault not seen by the watcher within 10 s"
            w.next_inventory(left)
        print(f"\ntarget fault on 64 hosts seen by the watcher after {(time.monotonic() - start) * 1000:.0f} ms")
        assert len({h.moref for h in w.inventory.hosts.values() for p in h.paths if p.state is PathState.DEAD}) == 64
    finally:
        w.close()
        lab.restore()


def test_max_object_updates_truncates(big_lab, conn):
    lab, _ = big_lab
    content = conn.content
    pc = content.propertyCollector.CreatePropertyCollector()
    view, _ = host_filter(pc, content)
    try:
        # the initial state, 10 objects at a time
        seen, version, sets = set(), "", 0
        while True:
            update = pc.WaitForUpdatesEx(version, PC.WaitOptions(maxWaitSeconds=0, maxObjectUpdates=10))
            sets += 1
            version = update.version
            objs = [o for f in update.filterSet for o in f.objectSet]
            assert len(objs) <= 10 and all(o.kind == "enter" for o in objs)
            seen.update(o.obj._moId for o in objs)
            if not update.truncated:
                break
        assert len(seen) == 64 and sets == 7
        # a change on every host, 25 at a time
        lab.fault("target", target="A-ctl0-p0", state="dead")
        time.sleep(0.5)
        changed, truncated = set(), 0
        while True:
            update = pc.WaitForUpdatesEx(version, PC.WaitOptions(maxWaitSeconds=5, maxObjectUpdates=25))
            assert update is not None
            version = update.version
            objs = [o for f in update.filterSet for o in f.objectSet]
            assert len(objs) <= 25 and all(o.kind == "modify" for o in objs)
            for o in objs:
                # only the watched paths, each once per object (the dead path also raises the host's
                # "Cannot connect to storage" alarm: summary.overallStatus turns yellow)
                names = [c.name for c in o.changeSet]
                assert "config.multipathState" in names and set(names) <= {"config.multipathState", "summary"}, names
                assert len(names) == len(set(names)), names
                changed.add(o.obj._moId)
            truncated += bool(update.truncated)
            if not update.truncated and len(changed) == 64:
                break
        assert changed == seen and truncated >= 2
        # nothing left: a zero wait returns no UpdateSet
        assert pc.WaitForUpdatesEx(version, PC.WaitOptions(maxWaitSeconds=0)) is None
    finally:
        pc.DestroyPropertyCollector()
        view.DestroyView()
        lab.restore()


def test_parent_and_child_paths(big_lab, conn):
    """A change below a watched path reports the watched path whole; above it, each watched path below."""
    lab, _ = big_lab
    content = conn.content
    pc = content.propertyCollector.CreatePropertyCollector()
    view, _ = host_filter(pc, content, paths=("name", "summary", "config.storageDevice"))
    try:
        update = pc.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=0))
        host = next(o.obj for f in update.filterSet for o in f.objectSet
                    if any(c.name == "name" and c.val == "esx-01-01" for c in o.changeSet))
        lab.fault("host", host="esx-01-01", state="disconnected")  # summary.runtime.connectionState
        update = pc.WaitForUpdatesEx(update.version, PC.WaitOptions(maxWaitSeconds=5))
        (obj,) = [o for f in update.filterSet for o in f.objectSet]
        assert obj.obj == host and obj.kind == "modify"
        assert [c.name for c in obj.changeSet] == ["summary"]
        assert obj.changeSet[0].val.runtime.connectionState == "disconnected"
        # connected again: vCenter publishes the host's current state at once (its storage too)
        lab.fault("host", host="esx-01-01", state="connected")
        update = pc.WaitForUpdatesEx(update.version, PC.WaitOptions(maxWaitSeconds=5))
        (obj,) = [o for f in update.filterSet for o in f.objectSet]
        assert {c.name: c.val for c in obj.changeSet}["summary"].runtime.connectionState == "connected"
        # a disabled path raises no storage event, hence no alarm: only the storage changes
        lab.fault("path", host="esx-01-01", path="vmhba2:C0:T0:L1", state="disabled")
        update = pc.WaitForUpdatesEx(update.version, PC.WaitOptions(maxWaitSeconds=5))
        (obj,) = [o for f in update.filterSet for o in f.objectSet]
        assert [c.name for c in obj.changeSet] == ["config.storageDevice"]
        paths = [p for lun in obj.changeSet[0].val.multipathInfo.lun for p in lun.path if p.name == "vmhba2:C0:T0:L1"]
        assert paths and all(p.pathState == "disabled" for p in paths)
    finally:
        pc.DestroyPropertyCollector()
        view.DestroyView()
        lab.restore()


def test_cancel_wait_and_objects_entering(big_lab, conn):
    lab, _ = big_lab
    content = conn.content
    pc = content.propertyCollector.CreatePropertyCollector()
    assert pc._moId != content.propertyCollector._moId
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.Folder], True)
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[
            PC.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)])],
        propSet=[PC.PropertySpec(type=vim.ManagedEntity, pathSet=["name"])],  # a supertype
    )
    flt = pc.CreateFilter(spec, partialUpdates=True)
    try:
        update = pc.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=0))
        before = {o.obj._moId for f in update.filterSet for o in f.objectSet}
        assert before
        # cancel a wait in progress
        errors = []

        def waiter():
            try:
                pc.WaitForUpdatesEx(update.version, PC.WaitOptions(maxWaitSeconds=30))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.3)
        pc.CancelWaitForUpdates()
        t.join(5)
        assert not t.is_alive() and errors and isinstance(errors[0], vmodl.fault.RequestCanceled)
        # a new folder enters the view, then leaves it; a rename is a modify of `name`
        folder = content.rootFolder.childEntity[0].vmFolder.CreateFolder("vsgt-scale-test")
        update = pc.WaitForUpdatesEx(update.version, PC.WaitOptions(maxWaitSeconds=5))
        objs = [o for f in update.filterSet for o in f.objectSet]
        assert [(o.kind, o.obj) for o in objs] == [("enter", folder)]
        assert [(c.name, c.val) for c in objs[0].changeSet] == [("name", "vsgt-scale-test")]
        folder.Rename_Task("vsgt-scale-test2")
        update = pc.WaitForUpdatesEx(update.version, PC.WaitOptions(maxWaitSeconds=5))
        objs = [o for f in update.filterSet for o in f.objectSet]
        assert [(o.kind, o.obj, [(c.name, c.val) for c in o.changeSet]) for o in objs] == \
            [("modify", folder, [("name", "vsgt-scale-test2")])]
        folder.Destroy_Task()
        deadline = time.monotonic() + 5
        kinds = []
        while not kinds and time.monotonic() < deadline:
            update = pc.WaitForUpdatesEx(update.version, PC.WaitOptions(maxWaitSeconds=5)) or update
            kinds = [(o.kind, o.obj) for f in update.filterSet for o in f.objectSet if o.obj == folder]
        assert kinds == [("leave", folder)]
        # a filter made later reports its objects as enter on the next wait
        flt2 = pc.CreateFilter(spec, partialUpdates=True)
        update = pc.WaitForUpdatesEx(update.version, PC.WaitOptions(maxWaitSeconds=0))
        (fu,) = update.filterSet
        assert fu.filter == flt2 and {o.obj._moId for o in fu.objectSet} == before
        flt2.DestroyPropertyFilter()
        # RetrievePropertiesEx still works on our collector
        res = pc.RetrievePropertiesEx([spec], PC.RetrieveOptions())
        assert {o.obj._moId for o in res.objects} == before
    finally:
        flt.DestroyPropertyFilter()
        pc.DestroyPropertyCollector()
        view.DestroyView()
