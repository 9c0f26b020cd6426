"""`vsguesttruth publish --once` and `vsguesttruth serve` as a user runs them: real processes, the lab behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from vsguesttruth.guestinfo import STATE, decode_state
from vsguesttruth.vcenter import read_guestinfo, snapshot

CLI = str(Path(sys.executable).parent / "vsguesttruth")


def env_for(lab) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    return {**base, "VSGT_LAB_HOME": str(lab.run_dir)}


def run(lab, *args, timeout=60):
    return subprocess.run([CLI, *args], env=env_for(lab), capture_output=True, text=True, timeout=timeout)


def test_publish_once_dry_run_json_then_for_real(clean, lab, conn):
    result = run(lab, "publish", "--once", "--dry-run", "--json", "--lab")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["dry_run"] and doc["states"] == doc["in_scope"] == 22
    assert {o["state"] for o in doc["outcomes"]} == {"would_write"}
    assert all(STATE not in vm.guestinfo for vm in snapshot(conn).vms.values())
    result = run(lab, "publish", "--once", "--lab")
    assert result.returncode == 0, result.stderr
    assert "wrote 22 states" in result.stdout and "web01" in result.stdout
    result = run(lab, "publish", "--once", "--lab")
    assert "wrote 0 states" in result.stdout and "web01" not in result.stdout


def test_publish_needs_once_and_a_good_config(lab, tmp_path):
    result = run(lab, "publish", "--lab")
    assert result.returncode == 2 and "--once" in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[guest]\nmin_refresh_interval = 0\n")
    result = run(lab, "publish", "--once", "--lab", "--config", str(bad))
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: config file {bad}: guest.min_refresh_interval must be between 1 and 86400, not 0"]


def test_serve_runs_until_sigterm(clean, lab, conn):
    proc = subprocess.Popen([CLI, "serve", "--lab"], env=env_for(lab), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        web01 = snapshot(conn).vm_by_name("web01").moref
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and STATE not in read_guestinfo(conn, web01):
            time.sleep(0.1)
        assert STATE in read_guestinfo(conn, web01)
        lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if decode_state(read_guestinfo(conn, web01)[STATE])["verdict"] == "degraded":
                break
            time.sleep(0.05)
        assert decode_state(read_guestinfo(conn, web01)[STATE])["verdict"] == "degraded"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("serving https://") and "scope all VMs" in lines[0]
    written = [int(m.group(1)) for line in lines if (m := re.search(r"wrote (\d+) states", line))]
    assert written[0] == 22  # the first publish
    assert sum(written[1:]) == 2  # web01 and app01, after the fault (one pass, or two when they changed apart)
    assert lines[-1].startswith("stopped after")


def test_read_commands_ask_the_running_service_and_say_so(clean, lab, conn):
    """`status` and `incidents` ask `serve` (found through the lab's run folder) instead of reading vCenter:
    the same verdicts as a cold snapshot, the incidents first, and stderr says which it did."""
    proc = subprocess.Popen([CLI, "serve", "--lab"], env=env_for(lab), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        web01 = snapshot(conn).vm_by_name("web01").moref
        lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = read_guestinfo(conn, web01).get(STATE)
            if state and decode_state(state)["verdict"] == "degraded" and (lab.run_dir / "serve.json").exists():
                break
            time.sleep(0.1)
        served = run(lab, "status", "--lab", "--json")
        assert served.returncode == 1, served.stderr
        assert "asked the vsguesttruth service at https://" in served.stderr
        doc = json.loads(served.stdout)
        cold = run(lab, "status", "--lab", "--json", "--snapshot")
        assert cold.returncode == 1 and "asked" not in cold.stderr, cold.stderr
        verdicts = lambda d: {(r["vm"], r["disk"]): (r["verdict"], r["sla_met"]) for r in d["disks"]}  # noqa: E731
        assert verdicts(doc) == verdicts(json.loads(cold.stdout))
        assert doc["incidents"] and doc["incidents"][0]["kind"] == "hba"
        hit = [r for r in doc["disks"] if r["vm"] == "web01"]
        assert hit and all(doc["incidents"][0]["id"] in r["incidents"] for r in hit if r["verdict"] != "healthy")
        table = run(lab, "status", "--lab")
        assert table.returncode == 1 and "INCIDENTS" in table.stdout and doc["incidents"][0]["id"] in table.stdout
        # the table asks the service for the disks that are not healthy only; its count is of every disk
        counted = f"{len(doc['disks'])} disks, {doc['counts']['healthy']} healthy, " \
                  f"{len(doc['disks']) - doc['counts']['healthy']} not healthy"
        assert table.stdout.splitlines()[-1].startswith(counted), table.stdout
        every = run(lab, "status", "--lab", "--disks")
        assert every.returncode == 1 and every.stdout.splitlines()[-1].startswith(counted)
        well = sorted({r["vm"] for r in doc["disks"]} - {r["vm"] for r in doc["disks"] if r["verdict"] != "healthy"})
        assert well
        row_of = re.compile(rf"^{well[0]}\b", re.M)  # a VM whose disks are all healthy: a row with --disks only
        assert row_of.search(every.stdout) and not row_of.search(table.stdout)
        found = run(lab, "incidents", "--lab", "--open", "--json")
        assert found.returncode == 1 and "asked the vsguesttruth service" in found.stderr, found.stderr
        rows = json.loads(found.stdout)
        assert rows["open"] == 1 and {h["vm"] for h in rows["incidents"][0]["hits"]} >= {"web01"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert not (lab.run_dir / "serve.json").exists()
    after = run(lab, "status", "--lab")
    assert "asked the vsguesttruth service" not in after.stderr and "cold snapshot" in after.stderr
