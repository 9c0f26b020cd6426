"""`serve` killed (SIGKILL) while its vMotions run, and started again at once.

The restarted instance adopts the migrations its predecessor left running in vCenter instead of starting them
again: one task per VM, no false failure, a "moved" event each, and the guard rails' bookkeeping
(concurrency, budget, cooldown) right from the start.
"""

from __future__ import annotations

import threading
import time

import pytest

from .conftest import Serve, cable_pull, config, events_of, migration_tasks, off, ours, san_vms, wait_for

pytestmark = pytest.mark.lab


def test_killed_during_slow_vmotions_the_restarted_service_adopts_them(own_lab, own_conn, tmp_path, serves):
    conn, lab = own_conn, own_lab.lab
    setting = config(max_per_hour=3)
    first = Serve(own_lab, tmp_path, "first", setting)
    serves.append(first)
    wait_for(lambda: first.role() == "active", 20, "serve to act")
    lab.task_mode("slow", duration_ms=6000)
    moving = san_vms(conn, "esx-b01")
    assert len(moving) == 3, moving
    cable_pull(lab, "esx-b01")
    wait_for(lambda: len(lab.tasks()["running"]) == 2, 20, "two vMotions to run")
    in_flight: list[int] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            in_flight.append(len(lab.tasks()["running"]))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        first.kill()
        second = Serve(own_lab, tmp_path, "second", setting)
        serves.append(second)
        wait_for(lambda: off(conn, moving, "esx-b01"), 60, "every VM off esx-b01")
        # the event follows the task's end (the VM is placed first)
        wait_for(lambda: all(ours(conn, m, f"moved {n} ") for n, m in moving.items()), 10, "a moved event each")
    finally:
        sampling.set()
        sampler.join(5)
    text = second.text()
    assert max(in_flight) <= 2, in_flight
    for name, moref in moving.items():
        assert migration_tasks(conn, moref) == 1, f"{name}: a second MigrateVM_Task"
        assert len(events_of(conn, moref, ["VmMigratedEvent"])) == 1, name
        assert len(ours(conn, moref, f"moved {name} ")) == 1, name
        assert not ours(conn, moref, "failed"), name
    assert text.count("adopted the running migration") == 2, text
    assert "circuit breaker" not in text and not [line for line in text.splitlines()
                                                  if "failed" in line and " 0 failed" not in line], text
    # the bookkeeping holds: 3 moves in the last hour (2 adopted) fill max_per_hour 3, and the cooldown of each
    # moved VM keeps it where it is when its new host fails in turn
    lab.task_mode("normal")
    cable_pull(lab, "esx-b01", "online")
    on_b02 = san_vms(conn, "esx-b02")
    cooled = {n: m for n, m in on_b02.items() if n in moving}
    held = {n: m for n, m in on_b02.items() if n not in moving}
    assert cooled and held, on_b02
    cable_pull(lab, "esx-b02")
    wait_for(lambda: all(ours(conn, m, "max_per_hour 3") for m in held.values())
             and all(ours(conn, m, "cooldown 30 min") for m in cooled.values()), 20, "the budget and the cooldowns")
    assert not any(events_of(conn, m, ["VmMigratedEvent"]) for m in held.values())
    assert all(len(events_of(conn, m, ["VmMigratedEvent"])) == 1 for m in cooled.values())
