"""Two `serve` processes against one vCenter: at most one acts.

The active one holds the lease (a customization spec in vCenter, a compare-and-swap on its changeVersion);
the other stands by with its pages and metrics live (``/readyz`` says passive), writes nothing, answers
nothing, moves nothing, and takes over when the first is gone.
"""

from __future__ import annotations

import json
import time

import pytest

from vsguesttruth.guestinfo import REQUEST, RESPONSE
from vsguesttruth.reconcile import Write
from vsguesttruth.vcenter import Publisher, read_guestinfo, snapshot

from .conftest import Serve, cable_pull, config, events_of, off, ours, san_vms, wait_for

pytestmark = pytest.mark.lab


def test_two_instances_one_acts_the_other_stands_by_and_takes_over(own_lab, own_conn, tmp_path, serves):
    conn, lab = own_conn, own_lab.lab
    setting = config() + "[service]\nlease_seconds = 6\nlease_renew_seconds = 2\n"
    a = Serve(own_lab, tmp_path, "a", setting)
    serves.append(a)
    wait_for(lambda: a.role() == "active", 20, "a to act")
    b = Serve(own_lab, tmp_path, "b", setting)
    serves.append(b)
    wait_for(lambda: "passive: " in b.text(), 10, "b to stand by")
    assert b.role() == "passive" and a.role() == "active"
    # one guest request: one answer, from the active instance only
    vm = snapshot(conn).vm_by_name("web13")
    rid = f"two-{time.time_ns()}"
    with Publisher(conn, attempts=1) as pub:
        pub.write([Write(vm.moref, vm.name, {REQUEST: json.dumps({"id": rid, "action": "refresh"})})])
    wait_for(lambda: json.loads(read_guestinfo(conn, vm.moref).get(RESPONSE) or "{}").get("status") == "done", 15,
             "the request answered")
    # one fault, one move per VM
    moving = san_vms(conn, "esx-a02")
    assert len(moving) == 3, moving
    cable_pull(lab, "esx-a02")
    wait_for(lambda: off(conn, moving, "esx-a02"), 60, "the VMs off esx-a02")
    wait_for(lambda: all(ours(conn, m, f"moved {n} ") for n, m in moving.items()), 10, "a moved event each")
    time.sleep(1)  # a second instance acting would have moved or answered by now too
    for name, moref in moving.items():
        assert len(events_of(conn, moref, ["VmMigratedEvent"])) == 1, name
        assert len(ours(conn, moref, f"moved {name} ")) == 1, name
        assert not ours(conn, moref, "failed"), name
    assert len(ours(conn, vm.moref, f"answered request {rid} ")) == 1
    before_takeover = b.text()
    assert "wrote" not in before_takeover and "moving" not in before_takeover, before_takeover
    # the active one dies: the other takes over and finishes the work
    a.kill()
    killed = time.monotonic()
    wait_for(lambda: b.role() == "active", 30, "b to take over", every=0.1)
    took = time.monotonic() - killed
    print(f"\ntwo instances: the standby acted {took:.1f} s after the active one was killed (lease 6 s, renew 2 s)")
    assert took < 6 + 2 + 2
    moving = san_vms(conn, "esx-b01")
    cable_pull(lab, "esx-b01")
    wait_for(lambda: off(conn, moving, "esx-b01"), 60, "b to move the VMs off esx-b01")
    for name, moref in moving.items():
        assert len(events_of(conn, moref, ["VmMigratedEvent"])) == 1, name
