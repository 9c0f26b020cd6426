"""The watch on the lab: faults show up within a second, restores too, a lost session resyncs."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

import pytest

from vsguesttruth.model import Inventory, PathState
from vsguesttruth.vcenter import ConnectionSettings, Watcher, connect, snapshot, watch

pytestmark = pytest.mark.lab

FAST = 1.0  # seconds: a fault must be visible this quickly


def settings(lab, **kw) -> ConnectionSettings:
    return ConnectionSettings(url=lab.url, username=lab.username, password=lab.password, ca_file=lab.cert,
                              reconnect_timeout=30, **kw)


@pytest.fixture
def watcher(lab):
    conn = connect(settings(lab))
    w = Watcher(conn, max_wait=10)
    w.next_inventory()  # the initial full state
    yield w
    w.close()
    conn.close()


def wait_for(watcher: Watcher, predicate: Callable[[Inventory], bool], timeout: float = 5.0) -> tuple[Inventory, float]:
    """Next inventories until ``predicate`` holds; return it and the seconds it took."""
    start = time.monotonic()
    if watcher.inventory is not None and predicate(watcher.inventory):
        return watcher.inventory, 0.0
    while (left := timeout - (time.monotonic() - start)) > 0:
        before = watcher.inventory
        inventory = watcher.next_inventory(left)
        if inventory is not None and before is not None:
            assert_delta_exact(before, inventory)
        if inventory is not None and predicate(inventory):
            return inventory, time.monotonic() - start
    raise AssertionError(f"condition not met within {timeout} s")


def assert_delta_exact(before: Inventory, now: Inventory) -> None:
    """What the watch says changed (its delta) is what comparing every object finds."""
    if now.delta is None:  # a resync: readers compare every object
        return
    assert now.delta.base == before.serial
    for kind in ("hosts", "datastores", "vms"):
        assert now.changed_since(before, kind) == replace(now).changed_since(replace(before), kind), kind


def host_named(inv: Inventory, name: str):
    host = inv.host_by_name(name)
    assert host is not None
    return host


def path_state(inv: Inventory, host: str, path: str) -> PathState:
    return next(p.state for p in host_named(inv, host).paths if p.name == path)


def first_active_path(inv: Inventory, host: str) -> str:
    return next(p.name for p in host_named(inv, host).paths
                if p.state is PathState.ACTIVE and p.hba in ("vmhba2", "vmhba3"))


def test_initial_inventory_equals_snapshot(lab, watcher):
    assert watcher.inventory == snapshot(watcher.conn)


def test_path_fault_within_a_second_and_restore(lab, watcher):
    path = first_active_path(watcher.inventory, "esx-a01")
    lab.fault("path", host="esx-a01", path=path, state="dead")
    inv, took = wait_for(watcher, lambda i: path_state(i, "esx-a01", path) is PathState.DEAD)
    print(f"\npath fault seen by the watch after {took * 1000:.0f} ms")
    assert took < FAST, f"path fault took {took:.2f} s"
    # only that path changed
    others = [p for h in inv.hosts.values() for p in h.paths if p.state is PathState.DEAD]
    assert [(p.name, p.lun) for p in others] == [(p.name, p.lun) for p in host_named(inv, "esx-a01").paths if p.name == path]
    lab.restore()
    inv, took = wait_for(watcher, lambda i: path_state(i, "esx-a01", path) is PathState.ACTIVE)
    assert took < FAST, f"restore took {took:.2f} s"


def test_hba_fault(lab, watcher):
    lab.fault("hba", host="esx-b02", hba="vmhba3", state="dead")

    def pulled(inv):
        host = host_named(inv, "esx-b02")
        hba = next(h for h in host.hbas if h.device == "vmhba3")
        return not hba.online and all(p.state is PathState.DEAD for p in host.paths if p.hba == "vmhba3")

    inv, took = wait_for(watcher, pulled)
    assert took < FAST
    assert all(p.state.working for p in host_named(inv, "esx-b02").paths if p.hba == "vmhba2")


def test_lun_pdl_reaches_luns_datastores_and_mounts(lab, watcher):
    gold = next(d for d in watcher.inventory.datastores.values() if d.name == "ds-gold")
    naa = gold.extents[0]
    lab.fault("lun", lun="gold01", state="pdl")

    def lost(inv):
        ds = inv.datastores[gold.moref]
        return (not ds.accessible
                and all(m.inaccessible_reason == "PermanentDeviceLoss" and not m.accessible for m in ds.mounts)
                and all(h.lun(naa).operational_state == ("lostCommunication",) for h in inv.hosts.values())
                and all(p.state is PathState.DEAD for h in inv.hosts.values() for p in h.paths_to(naa)))

    _, took = wait_for(watcher, lost)
    assert took < FAST


def test_target_fault_kills_its_paths_on_every_host(lab, watcher):
    port = next(t for t in lab.topology()["targets"] if t["name"] == "A-ctl0-p0")
    lab.fault("target", target="A-ctl0-p0", state="dead")

    def dead(inv):
        through = [p for h in inv.hosts.values() for p in h.paths if p.target == port["wwpn"]]
        return through and all(p.state is PathState.DEAD for p in through)

    before = watcher.inventory
    inv, took = wait_for(watcher, dead)
    assert took < FAST
    assert len({h for h in inv.hosts.values() for p in h.paths if p.state is PathState.DEAD}) == 6
    assert inv.delta is not None  # the readers after the watch look only at what it names
    if inv.delta.base == before.serial:  # the fault came in one update: its delta names every host it hit
        hit = {m for m, h in inv.hosts.items() if any(p.target == port["wwpn"] for p in h.paths)}
        assert inv.changed_since(before, "hosts") == hit


def test_lun_apd(lab, watcher):
    silver = next(d for d in watcher.inventory.datastores.values() if d.name == "ds-silver")
    naa = silver.extents[0]
    lab.fault("lun", lun="silver01", state="apd")

    def apd(inv):
        ds = inv.datastores[silver.moref]
        return (all(m.inaccessible_reason == "AllPathsDown_Start" for m in ds.mounts)
                and all(p.state is PathState.DEAD for h in inv.hosts.values() for p in h.paths_to(naa)))

    inv, took = wait_for(watcher, apd)
    assert took < FAST
    assert all(h.lun(naa).ok for h in inv.hosts.values())  # APD is not a device loss


def test_host_disconnected(lab, watcher):
    lab.fault("host", host="esx-a03", state="disconnected")
    inv, took = wait_for(watcher, lambda i: host_named(i, "esx-a03").connection_state == "disconnected")
    assert took < FAST
    lab.restore()
    wait_for(watcher, lambda i: host_named(i, "esx-a03").connected)


def test_guestinfo_written_elsewhere_reaches_the_watch(lab, watcher, si):
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    target = watcher.inventory.vm_by_name("web01")
    vm = vim.VirtualMachine(target.moref, si._stub)
    key = "guestinfo.vsguesttruth.test"

    def set_key(value):
        WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=key, value=value)])))

    set_key("hello")
    try:
        inv, took = wait_for(watcher, lambda i: i.vms[target.moref].guestinfo.get(key) == "hello")
        assert took < FAST
    finally:
        set_key("")  # an empty value removes the key
    wait_for(watcher, lambda i: key not in i.vms[target.moref].guestinfo)


def test_lost_session_reconnects_and_resyncs(lab, watcher, si):
    conn = watcher.conn
    before = conn.generation
    si.content.sessionManager.TerminateSession([conn.session_key])
    path = first_active_path(watcher.inventory, "esx-b01")
    lab.fault("path", host="esx-b01", path=path, state="dead")
    inv, _ = wait_for(watcher, lambda i: path_state(i, "esx-b01", path) is PathState.DEAD, timeout=15)
    assert watcher.resyncs == 1 and conn.generation == before + 1
    # and the new session keeps watching
    lab.restore()
    wait_for(watcher, lambda i: path_state(i, "esx-b01", path) is PathState.ACTIVE)


def test_watch_generator(lab):
    conn = connect(settings(lab))
    try:
        stream = watch(conn, max_wait=5)
        first = next(stream)
        assert len(first.hosts) == 7
        path = first_active_path(first, "esx-a02")
        lab.fault("path", host="esx-a02", path=path, state="disabled")
        start = time.monotonic()
        second = next(stream)
        assert time.monotonic() - start < FAST
        assert path_state(second, "esx-a02", path) is PathState.DISABLED
        stream.close()
    finally:
        conn.close()


def test_informer_reads_a_storm_of_changes_at_its_pace(lab):
    """Under a storm the informer reads vCenter's changes at most every PACE seconds, each read bringing what came
    meanwhile (a pass per change cost most of the service's CPU); a quiet vCenter's first change comes at once."""
    import threading

    from vsguesttruth.vcenter import Informer
    from vsguesttruth.vcenter.informer import PACE

    conn = connect(settings(lab))
    try:
        with Informer(conn, events=False, max_wait=5) as informer:
            first = informer.next(10)
            paths = [(h.name, p.name) for h in first.hosts.values() for p in h.paths
                     if p.state is PathState.ACTIVE and h.name.startswith("esx-b")][:12]
            time.sleep(0.5)
            start = time.monotonic()
            lab.fault("path", host=paths[0][0], path=paths[0][1], state="dead")
            inv = informer.next(5)
            took = time.monotonic() - start
            assert inv is not None and took < FAST  # the first change after a quiet spell: not paced

            def storm() -> None:
                for host, path in paths[1:]:
                    lab.fault("path", host=host, path=path, state="dead")
                    time.sleep(0.02)

            thread = threading.Thread(target=storm)
            thread.start()
            delivered = []
            while len(delivered) < 40:
                inv = informer.next(2)
                if inv is None:
                    break
                delivered.append(time.monotonic())
                if all(path_state(inv, h, p) is PathState.DEAD for h, p in paths):
                    break
            thread.join()
            gaps = [b - a for a, b in zip(delivered, delivered[1:])]
            print(f"\n11 faults 20 ms apart: {len(delivered)} inventories, gaps {[round(g, 3) for g in gaps]}")
            assert all(path_state(inv, h, p) is PathState.DEAD for h, p in paths)
            assert gaps and min(gaps) >= PACE * 0.9
            assert len(delivered) <= 6  # ~0.3 s of faults: a few reads, not one per fault
    finally:
        lab.restore()
        conn.close()
