"""``vsguesttruth-guest`` as a guest runs it: real processes, a stand-in rpctool serving files, a fake sysfs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fakes.documents import GB, disk, document, response
from vsguesttruth.lab import FakeSys, naa_of
from vsguesttruth_guest import guestinfo
from vsguesttruth_guest.cli import main as guest_main

GUEST = str(Path(sys.executable).parent / "vsguesttruth-guest")
FAKE = str(Path(__file__).resolve().parents[1] / "fakes" / "rpctool.py")
U1 = "6000C291-5fd3-bc63-a440-856334b189ec"


class Guest:
    """One fake guest: its guestinfo folder (served by the stand-in rpctool) and its sysfs."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.info = tmp / "guestinfo"
        self.info.mkdir()
        self.sys = FakeSys(tmp / "sys")
        self.sys.scsi_host(0, "mptspi", "0000:00:10.0").scsi_host(2, "vmw_pvscsi", "0000:03:00.0")
        self.sys.scsi_disk("sda", 0, 0, 60 * GB, wwid=f"naa.{naa_of(U1)}").scsi_disk("sdb", 2, 1, 100 * GB)
        self.env = {
            "PATH": os.environ["PATH"], "VSGT_RPCTOOL": FAKE, "VSGT_SYSFS": str(self.sys.root),
            "VSGT_FAKE_GUESTINFO_DIR": str(self.info), "VSGT_FAKE_RPC_LOG": str(tmp / "rpc.log"),
        }

    def run(self, *args, env=None, timeout=30, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([GUEST, *args], env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout, **kw)

    def put(self, key: str, value) -> None:
        text = value if isinstance(value, str) else guestinfo.encode_state(value) if key == guestinfo.STATE else json.dumps(value)
        (self.info / key).write_text(text)

    def get(self, key: str):
        path = self.info / key
        return path.read_text() if path.exists() else None

    def state(self, first="healthy", second="healthy", generation=1, **kw) -> dict:
        doc = document([
            disk("Hard disk 1", "lsilogic", 0, 0, first, uuid=U1, capacity=60 * GB, **kw),
            disk("Hard disk 3", "pvscsi", 1, 1, second, capacity=100 * GB),
        ], generation=generation)
        self.put(guestinfo.STATE, doc)
        return doc


@pytest.fixture
def guest(tmp_path) -> Guest:
    return Guest(tmp_path)


def one_line_error(result, code, *needles):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def all_commands(group):
    return [name for name in group.commands]


def test_help_everywhere_lists_exit_codes():
    result = subprocess.run([GUEST, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "4  VMware Tools missing" in result.stdout and "6  document from a newer schema" in result.stdout
    for name in all_commands(guest_main):
        result = subprocess.run([GUEST, name, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "Usage:" in result.stdout, name
    assert subprocess.run([GUEST, "--version"], capture_output=True, text=True).stdout.startswith("vsguesttruth-guest, version")


def test_the_agent_imports_no_pyvmomi():
    code = "import sys, vsguesttruth_guest.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyVmomi', 'pyVim', 'tenacity', 'rich')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_status_table_and_json(guest):
    guest.state()
    result = guest.run("status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("vm db01 on esx-a02 (cl-a): healthy, generation 1")
    assert lines[1].split()[:6] == ["DEVICE", "LABEL", "VERDICT", "REACHABLE", "ADVICE", "MATCH"]
    assert "/dev/sda" in lines[2] and "wwid" in lines[2]
    assert "/dev/sdb" in lines[3] and "scsi-address" in lines[3]
    guest.state("media_failure", explanation="gold01 lost \x1b[2J(PDL)")
    result = guest.run("status", "--json")
    assert result.returncode == 1
    view = json.loads(result.stdout)
    sda = next(d for d in view["disks"] if d["device"] == "/dev/sda")
    assert (sda["verdict"], sda["reachable"], sda["advice"], sda["match"]) == ("media_failure", False, "fail_over", "wwid")
    table = guest.run("status")
    assert table.returncode == 1 and "\x1b" not in table.stdout and "gold01 lost \\x1b[2J(PDL)" in table.stdout


def tools_installed() -> bool:
    from vsguesttruth_guest.rpc import SEARCH_DIRS

    return any(Path(d, name).exists() for d in SEARCH_DIRS for name in ("vmware-rpctool", "vmtoolsd"))


def test_exit_codes(guest, tmp_path):
    one_line_error(guest.run("status"), 5, "no storage document yet")
    guest.put(guestinfo.STATE, json.dumps({**guest.state(), "schema": 2}))
    one_line_error(guest.run("status"), 6, "schema 2, newer than this agent's 1")
    guest.put(guestinfo.STATE, "{garbage")
    one_line_error(guest.run("status"), 6, "cannot be decoded")
    guest.state()
    other = FakeSys(tmp_path / "kvm", vendor="QEMU")
    one_line_error(guest.run("status", "--sysfs", str(other.root)), 3, "not a VMware virtual machine", "QEMU")
    one_line_error(guest.run("status", env={"VSGT_FAKE_NOT_IN_VM": "1"}), 3, "must be run inside a virtual machine")
    one_line_error(guest.run("status", "--rpctool", str(tmp_path / "nope")), 4, "does not exist")
    if not tools_installed():  # autodetection: nothing on PATH nor in the usual folders
        one_line_error(guest.run("status", env={"VSGT_RPCTOOL": "", "PATH": str(tmp_path)}), 4, "VMware Tools missing")
    one_line_error(guest.run("status", "--rpc-timeout", "0.3", env={"VSGT_FAKE_RPC_SLEEP": "3"}), 7, "did not answer within 0.3 s")
    assert guest.run("status", "--bogus").returncode == 2
    one_line_error(guest.run("show-response"), 5, "no response yet")
    one_line_error(guest.run("show-policy"), 5, "no policy set")


def test_watch_once_initial_runs_the_hook_without_a_shell(guest, tmp_path):
    pwned = tmp_path / "pwned"
    hostile = f"$(touch {pwned}); `touch {pwned}` && touch {pwned}"
    guest.state("connectivity_lost", explanation=hostile)
    hook = tmp_path / "hook.py"
    hook.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "rec = {'argv': sys.argv[1:], 'stdin': json.load(sys.stdin), 'env': {k: v for k, v in os.environ.items() if k.startswith('VSGT_')}}\n"
        f"open({str(tmp_path / 'calls.jsonl')!r}, 'a').write(json.dumps(rec) + '\\n')\n"
    )
    hook.chmod(0o755)
    result = guest.run("watch", "--once", "--initial", "--hook", str(hook), "--hook-arg", f"$(touch {pwned})", "--json")
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(c["device"], c["new_verdict"]) for c in printed] == [("/dev/sda", "connectivity_lost"), ("/dev/sdb", "healthy")]
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert len(calls) == 2
    first = calls[0]
    assert first["argv"] == [f"$(touch {pwned})"]
    assert first["stdin"]["explanation"] == hostile == first["env"]["VSGT_EXPLANATION"]
    assert (first["env"]["VSGT_DEVICE"], first["env"]["VSGT_NEW_VERDICT"], first["env"]["VSGT_ADVICE"]) == ("/dev/sda", "connectivity_lost", "move_host")
    assert first["env"]["VSGT_VM"] == "db01" and first["env"]["VSGT_OLD_VERDICT"] == ""
    assert not pwned.exists()


def test_watch_follows_changes(guest, tmp_path):
    guest.state()
    proc = subprocess.Popen([GUEST, "watch", "--interval", "0.1", "--duration", "30", "--initial"], env=guest.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = [proc.stdout.readline() for _ in range(2)]  # the first read, every disk (--initial): it is watching
        assert all("(new) -> healthy" in line for line in first), first
        guest.state("degraded", generation=2)
        changed = proc.stdout.readline()
        guest.state("degraded", "all_paths_down", generation=3)
        changed_again = proc.stdout.readline()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert changed.startswith("/dev/sda Hard disk 1: healthy -> degraded (advice keep_using)"), changed
    assert changed_again.startswith("/dev/sdb Hard disk 3: healthy -> all_paths_down (advice wait)"), changed_again


def test_watch_waits_for_a_document_and_reports_problems_once(guest):
    result = guest.run("watch", "--interval", "0.1", "--count", "4")
    one_line_error(result, 5, "no storage document yet")
    result = guest.run("watch", "--once")
    one_line_error(result, 5, "no storage document yet")


def test_watch_stops_cleanly_on_sigterm(guest):
    guest.state()
    proc = subprocess.Popen([GUEST, "watch", "--interval", "0.1"], env=guest.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and err == "", err


def test_dry_run_works_outside_a_vm(guest, tmp_path):
    other = FakeSys(tmp_path / "kvm", vendor="QEMU")
    result = guest.run("set-policy", "--min-working-paths", "2", "--dry-run", "--sysfs", str(other.root))
    assert result.returncode == 0 and json.loads(result.stdout)["min_working_paths"] == 2
    assert guest.run("devices", "--sysfs", str(other.root)).returncode == 0


def test_status_wait_after_a_power_on_says_so_and_waits_for_the_document(guest):
    # guestinfo is empty after a power-on until the service publishes the document again
    def service():
        time.sleep(1.0)
        guest.state()

    thread = threading.Thread(target=service)
    thread.start()
    result = guest.run("status", "--wait", "--timeout", "10")
    thread.join()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("vm db01 on esx-a02 (cl-a): healthy")
    said = result.stderr.strip().splitlines()
    assert len(said) == 1 and "no storage document yet" in said[0] and "waiting up to 10 s" in said[0]
    (guest.info / guestinfo.STATE).unlink()
    gave_up = guest.run("status", "--wait", "--timeout", "0.3")
    assert gave_up.returncode == 8 and "Traceback" not in gave_up.stderr
    assert gave_up.stderr.strip().splitlines()[-1].endswith("gave up after 0.3 s")


def test_set_policy_wait(guest):
    def service():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not guest.get(guestinfo.POLICY):
            time.sleep(0.05)
        guest.put(guestinfo.RESPONSE, response("policy", "policy_invalid", "refresh_interval 15 is below the admin's minimum 60"))

    thread = threading.Thread(target=service)
    thread.start()
    result = guest.run("set-policy", "--refresh-interval", "15", "--wait", "--timeout", "10")
    thread.join()
    assert result.returncode == 1 and "policy: policy_invalid: refresh_interval 15 is below" in result.stdout
    # the same policy again: the service will not answer anew; its answer stands
    again = guest.run("set-policy", "--refresh-interval", "15", "--wait", "--timeout", "1")
    assert again.returncode == 1 and "policy_invalid" in again.stdout


def test_watch_refuses_a_missing_hook(guest, tmp_path):
    result = guest.run("watch", "--once", "--hook", str(tmp_path / "missing"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_set_policy(guest):
    result = guest.run("set-policy", "--refresh-interval", "30", "--min-working-paths", "2", "--field", "luns")
    assert result.returncode == 0, result.stderr
    assert json.loads(guest.get(guestinfo.POLICY)) == {"schema": 1, "refresh_interval": 30, "min_working_paths": 2, "fields": ["luns"]}
    shown = guest.run("show-policy", "--json")
    assert json.loads(shown.stdout)["policy"]["refresh_interval"] == 30
    bad = guest.run("set-policy", "--min-working-paths", "99")
    assert bad.returncode == 2 and "min_working_paths: 99 is above the maximum 32" in bad.stderr
    assert json.loads(guest.get(guestinfo.POLICY))["min_working_paths"] == 2  # nothing written
    assert guest.run("set-policy").returncode == 2
    dry = guest.run("set-policy", "--publish", "interval", "--dry-run")
    assert dry.returncode == 0 and json.loads(dry.stdout) == {"schema": 1, "publish": "interval"}
    assert guest.run("set-policy", "--clear").returncode == 0
    assert guest.get(guestinfo.POLICY) is None


def answer_later(guest: Guest, status: str, delay: float = 0.5) -> threading.Thread:
    """Play the service: answer the next request written."""

    def run():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            request = guest.get(guestinfo.REQUEST)
            if request:
                req = json.loads(request)
                time.sleep(delay)
                guest.put(guestinfo.RESPONSE, response(req["id"], status, f"{req['action']}: {status} by the test", req["action"]))
                return
            time.sleep(0.05)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_request_migration_refused(guest):
    guest.put(guestinfo.RESPONSE, response("older", "done"))
    thread = answer_later(guest, "refused")
    result = guest.run("request-migration", "--reason", "gold01 paths lost; $(reboot)", "--wait", "--timeout", "10", "--json")
    thread.join()
    assert result.returncode == 1, result.stderr
    answer = json.loads(result.stdout)
    request = json.loads(guest.get(guestinfo.REQUEST))
    assert answer["id"] == request["id"] and answer["status"] == "refused"
    assert request == {"id": request["id"], "action": "migrate", "reason": "gold01 paths lost; $(reboot)"}
    shown = guest.run("show-response")
    assert shown.returncode == 0 and f"request {request['id']} (migrate): refused: migrate: refused by the test" in shown.stdout


def test_request_refresh_accepted_and_timeouts(guest):
    thread = answer_later(guest, "accepted")
    result = guest.run("request-refresh", "--wait", "--timeout", "10")
    thread.join()
    assert result.returncode == 0 and "(refresh): accepted" in result.stdout
    result = guest.run("request-refresh", "--wait", "--until-done", "--timeout", "0.5")
    one_line_error(result, 8, "no answer within 0.5 s")
    sent = guest.run("request-migration")
    assert sent.returncode == 0 and "(migrate) sent" in sent.stdout
    bad = guest.run("request-migration", "--reason", "x" * 300)
    assert bad.returncode == 2 and "longer than 256 characters" in bad.stderr
    assert guest.run("request-refresh", "--until-done").returncode == 2


def test_devices_command(guest):
    result = guest.run("devices", "--json")
    assert result.returncode == 0
    found = json.loads(result.stdout)
    assert [d["device"] for d in found["devices"]] == ["/dev/sda", "/dev/sdb"]
    assert [c["driver"] for c in found["controllers"]] == ["mptspi", "vmw_pvscsi"]
    assert "/dev/sdb: pvscsi 2:0:1:0" in guest.run("devices").stdout


def test_status_names_the_incidents_behind_a_verdict(guest):
    guest.state("degraded", incidents=["target-5e1f0c2a9d"])
    table = guest.run("status")
    assert table.returncode == 1
    row = next(line for line in table.stdout.splitlines() if "/dev/sda" in line)
    assert "target-5e1f0c2a9d" in row and "INCIDENTS" in table.stdout
    view = json.loads(guest.run("status", "--json").stdout)
    assert next(d for d in view["disks"] if d["device"] == "/dev/sda")["incidents"] == ["target-5e1f0c2a9d"]
    assert next(d for d in view["disks"] if d["device"] == "/dev/sdb")["incidents"] == []
