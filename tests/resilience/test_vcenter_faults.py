"""vCenter faults while the service runs: vCenter killed (SIGKILL) and restarted mid-watch and mid-migration,
sessions expired, a migration task that fails or never ends.

The lab keeps vCenter's state across the kill (its journal: extraConfig, placement, events, faults), as
vCenter's database does; sessions and running tasks are lost, as they are on vCenter. The service must
reconnect, resync, repeat nothing already done (no document rewritten, no VM moved twice) and lose no
request.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vsguesttruth.config import RemediationConfig
from vsguesttruth.guestinfo import REQUEST, RESPONSE
from vsguesttruth.reconcile import Write
from vsguesttruth.vcenter import Publisher, read_guestinfo, snapshot
from vsguesttruth.vcenter.events import query

from .conftest import doc_of, events_of, published, serving, wait_for

pytestmark = pytest.mark.lab

CLI = str(Path(sys.executable).parent / "vsguesttruth")
AUTO = RemediationConfig(mode="auto", stable_seconds=1, cooldown_minutes=30, retry_seconds=1,
                         breaker_failures=10, task_timeout_seconds=60)


def host_of(conn, name: str) -> str:
    inv = snapshot(conn)
    return inv.hosts[inv.vm_by_name(name).host].name


def vm_moref(conn, name: str) -> str:
    return snapshot(conn).vm_by_name(name).moref


def a_fault_reaches_web11(own_lab, conn, after: str) -> None:
    """The watch is live: a fabric lost on esx-b01 shows in web11's guest document within 10 s."""
    own_lab.lab.fault("hba", host="esx-b01", hba="vmhba3", state="dead")
    wait_for(lambda: (doc_of(snapshot(conn), "web11") or {}).get("verdict") == "degraded", 10,
             f"a fault after {after} to reach web11's guest")


def test_killed_mid_watch_the_service_resyncs_rewrites_nothing_and_loses_no_request(own_lab, own_conn):
    conn = own_conn
    with serving(conn) as service:
        published(conn, service)
        time.sleep(0.5)  # the echoes of our writes
        writes = service.publisher.writes
        # a guest asks for a re-probe, and vCenter dies before (or while) the service answers
        web12 = vm_moref(conn, "web12")
        with Publisher(conn, attempts=1) as pub:
            pub.write([Write(web12, "web12", {REQUEST: json.dumps({"id": "before-kill", "action": "refresh"})})])
        every_pass = []
        reconcile = service.reconciler.reconcile
        service.reconciler.reconcile = lambda *a, **k: every_pass.append(reconcile(*a, **k)) or every_pass[-1]
        own_lab.lab.restart(down_s=1.0)
        resynced = wait_for(lambda: service.informer.resyncs >= 1, 60,
                            "the watch to resync after the restart")
        assert resynced
        answer = wait_for(lambda: json.loads(read_guestinfo(conn, web12).get(RESPONSE) or "{}").get("id") == "before-kill"
                          and json.loads(read_guestinfo(conn, web12)[RESPONSE]), 30, "the request answered")
        assert answer["status"] in ("accepted", "done")
        time.sleep(1.0)
        # vCenter kept every document: nothing was written again, apart from the answer to the request,
        # and the resync looked at nothing else (the watch keeps every object that did not change)
        assert service.publisher.writes - writes <= 2, service.publisher.recent
        assert every_pass and all(p.examined <= 2 for p in every_pass), [p.line() for p in every_pass]
        # and the watch is live on the new vCenter process
        a_fault_reaches_web11(own_lab, conn, "the restart")


def test_killed_mid_migration_the_vm_moves_once(own_lab, own_conn):
    conn = own_conn
    lab = own_lab.lab
    web01 = vm_moref(conn, "web01")
    before = len(events_of(conn, web01, ["VmMigratedEvent"]))
    lab.task_mode("slow", duration_ms=3000)
    with serving(conn, AUTO) as service:
        published(conn, service)
        start = host_of(conn, "web01")
        hbas = ("vmhba2", "vmhba3")
        for hba in hbas:
            lab.fault("hba", host=start, hba=hba, state="dead")
        remediator = service.remediation.remediator
        wait_for(lambda: web01 in remediator.in_flight, 20, "the vMotion of web01 to start")
        time.sleep(1.0)  # the task is running (3 s) ...
        lab.restart(down_s=1.0)  # ... when vCenter dies: the vMotion rolls back
        assert host_of(conn, "web01") == start, "the killed vMotion must not have moved the VM"
        wait_for(lambda: host_of(conn, "web01") != start and web01 not in remediator.in_flight, 60,
                 "web01 moved after the restart")
        doc = wait_for(lambda: (d := doc_of(snapshot(conn), "web01")) and d["vm"]["host"] != start
                       and d["verdict"] == "healthy" and d, 20, "web01's guest told it is healthy on its new host")
        assert doc["vm"]["host"] == host_of(conn, "web01")
    assert len(events_of(conn, web01, ["VmMigratedEvent"])) - before == 1, "exactly one completed vMotion"
    moved = [e for e in query(conn, web01) if e.message.startswith("vsguesttruth: moved web01")]
    assert len(moved) == 1, [e.message for e in moved]
    # a restarted service on a restarted vCenter: the cooldown comes back from the events, nothing moves back
    for hba in hbas:
        lab.fault("hba", host=start, hba=hba, state="online")
    lab.restart()
    where = host_of(conn, "web01")
    with serving(conn, AUTO) as service:
        time.sleep(3.0)
        assert service.publisher.writes == 0, "a restarted service rewrote documents vCenter kept"
        assert host_of(conn, "web01") == where and not service.remediation.remediator.in_flight
    assert len(events_of(conn, web01, ["VmMigratedEvent"])) - before == 1


def test_session_expiry_mid_watch(own_lab, own_conn):
    conn = own_conn
    with serving(conn) as service:
        published(conn, service)
        generation = conn.generation
        assert own_lab.lab.expire_sessions() >= 1
        wait_for(lambda: conn.generation > generation, 20, "the service to log in again")
        a_fault_reaches_web11(own_lab, conn, "the expiry")


def test_a_migration_task_that_never_ends_is_cancelled_and_reported(own_lab, own_conn):
    conn = own_conn
    lab = own_lab.lab
    lab.task_mode("hang")
    web02 = vm_moref(conn, "web02")
    start = host_of(conn, "web02")
    config = RemediationConfig(mode="auto", stable_seconds=1, task_timeout_seconds=2, attempts=1,
                               cooldown_minutes=30, breaker_failures=10)
    with serving(conn, config) as service:
        published(conn, service)
        lab.fault("hba", host=start, hba="vmhba2", state="dead")
        lab.fault("hba", host=start, hba="vmhba3", state="dead")
        remediator = service.remediation.remediator
        wait_for(lambda: remediator.moves_failed >= 1, 30, "the hung vMotion to time out")
        def failures():  # the migration's failure (the hold that follows says "1 migrations failed" too)
            return [e for e in query(conn, web02) if e.message.startswith("vsguesttruth: migration of web02")]

        failed = wait_for(failures, 10, "the failure event")
        assert "did not finish within 2 s" in failed[-1].message and "cancelled" in failed[-1].message
        assert host_of(conn, "web02") == start  # the cancelled vMotion left it where it was
        wait_for(lambda: not remediator.in_flight, 20, "the other VMs' hung vMotions to be cancelled too")
        failed_moves = remediator.moves_failed
        time.sleep(3.0)  # attempts = 1: each VM waits out its cooldown, no second try
        assert remediator.moves_failed == failed_moves and not remediator.in_flight
        assert len(failures()) == 1


def test_a_failing_migration_is_one_clear_line_from_the_cli(own_lab, own_conn, tmp_path):
    lab = own_lab.lab
    lab.task_mode("fail", message="The source detected that the destination failed to resume.")
    info = own_lab.info
    env = {"VSGT_URL": info.url, "VSGT_USERNAME": info.username, "VSGT_PASSWORD": info.password,
           "PATH": "/usr/bin:/bin"}
    inv = snapshot(own_conn)
    here = inv.hosts[inv.vm_by_name("web03").host]
    start = here.name
    target = next(h.name for h in inv.hosts.values() if h.cluster == here.cluster and h.name != start)
    out = subprocess.run([CLI, "migrate", "web03", "--to-host", target, "--yes", "--ca-file", info.cert],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 3, out
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert "destination failed to resume" in last and "web03" in last, out.stderr
    assert host_of(own_conn, "web03") == start
