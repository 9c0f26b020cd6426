"""A slow vCenter: 200 ms added to every SOAP call (a WAN link, an overloaded vCenter). Everything still works
and stays quick enough: the service publishes, a fault reaches the guest in a few round trips, a vMotion runs,
the CLI answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vsguesttruth.config import RemediationConfig
from vsguesttruth.vcenter import snapshot

from .conftest import doc_of, published, serving, wait_for

pytestmark = pytest.mark.lab

LAB_OPTIONS = {"latency_ms": 200}
CLI = str(Path(sys.executable).parent / "vsguesttruth")


def test_serve_publishes_and_moves_through_200_ms_per_call(own_lab, own_conn):
    conn, lab = own_conn, own_lab.lab
    t0 = time.monotonic()
    ping = time.monotonic()
    conn.ping()
    assert time.monotonic() - ping >= 0.2  # the latency is really there
    config = RemediationConfig(mode="auto", stable_seconds=1, cooldown_minutes=30)
    with serving(conn, config) as service:
        published(conn, service, timeout=60)
        first = time.monotonic() - t0
        inv = snapshot(conn)
        host = inv.hosts[inv.vm_by_name("web11").host].name
        start = time.monotonic()
        lab.fault("hba", host=host, hba="vmhba3", state="dead")
        wait_for(lambda: (doc_of(snapshot(conn), "web11") or {}).get("verdict") == "degraded", 20,
                 "the fault to reach web11's guest", every=0.05)
        lag = time.monotonic() - start
        lab.fault("hba", host=host, hba="vmhba2", state="dead")
        lab.fault("hba", host=host, hba="vmhba3", state="dead")
        moved = wait_for(lambda: (d := doc_of(snapshot(conn), "web11")) and d["vm"]["host"] != host
                         and d["verdict"] == "healthy" and d, 90, "web11 moved off the failed host and told")
    print(f"\n200 ms per call: first publish {first:.1f} s, fault -> guest {lag:.2f} s, "
          f"web11 moved to {moved['vm']['host']}")
    assert lag < 5.0


def test_the_cli_answers_through_200_ms_per_call(own_lab):
    info = own_lab.info
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))},
           "VSGT_URL": info.url, "VSGT_USERNAME": info.username, "VSGT_PASSWORD": info.password,
           "VSGT_CA_FILE": info.cert}
    start = time.monotonic()
    out = subprocess.run([CLI, "paths"], env=env, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - start
    assert out.returncode == 0, out.stderr
    assert "HBAs online" in out.stdout
    assert took < 30, took
