"""The guest agent end to end: the real ``vsguesttruth-guest`` in a fake guest of a lab VM, the real service.

The guest is the lab's simulated guest of the VM (``vsguesttruth.lab.build_guest``, what ``vsguesttruth lab guest``
runs the agent in): a fake sysfs tree built from the VM's virtual hardware in vCenter (controllers, bus and
unit numbers, disk uuids, the RDM's LUN id) and a stand-in rpctool, which serves ``info-get``/``info-set``
from the VM's extraConfig the way the VMX serves guestinfo. The service
(``vsguesttruth.reconcile.Service``, what ``vsguesttruth serve`` runs) publishes to ``db01`` only; ``web01``
stays out of its scope so that the tests can write its keys themselves, as a hostile or newer host would.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pyVmomi import vim

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (for fakes/), as the unit tests have it

from vsguesttruth import guestinfo, lab as vlab  # noqa: E402
from vsguesttruth.lab import Guest  # noqa: E402

pytestmark = pytest.mark.lab

SERVED = "db01"  # in the service's scope
ALONE = "web01"  # out of it: the tests play the host


def build_guest(lab, conn, root: Path, name: str, hide_uuid: set[str] = frozenset(), vendor: str = vlab.VMWARE) -> Guest:
    """The simulated guest of lab VM ``name``; disks in ``hide_uuid`` do not expose their uuid (no disk.EnableUUID)."""
    return vlab.build_guest(conn, root, name, lab.info, hide_uuid=hide_uuid, vendor=vendor)


def set_key(si, moref: str, key: str, value: str) -> None:
    """Write one extraConfig key as a host-side actor (the service, or an impostor) would."""
    vm = vim.VirtualMachine(moref, si._stub)
    task = vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=key, value=value)]))
    deadline = time.monotonic() + 30
    while task.info.state in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert task.info.state == "success", task.info.error


def wait_until(check, timeout: float = 20.0, every: float = 0.05):
    """Call ``check`` until it returns something truthy; return (that, seconds it took)."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        last = check()
        if last:
            return last, time.monotonic() - start
        time.sleep(every)
    raise AssertionError(f"not reached within {timeout} s; last: {last!r}")


@pytest.fixture(scope="module")
def service(lab):
    """``vsguesttruth serve`` for db01 only, in a thread, on its own connection."""
    from vsguesttruth.config import Config, ScopeConfig
    from vsguesttruth.reconcile import Service
    from vsguesttruth.vcenter import ConnectionSettings, connect

    conn = connect(ConnectionSettings(url=lab.url, username=lab.username, password=lab.password, ca_file=lab.cert))
    svc = Service(conn, Config(scope=ScopeConfig(vms=(SERVED,))), max_wait=5)
    thread = threading.Thread(target=svc.run, name="vsgt-service", daemon=True)
    thread.start()
    try:
        yield svc
    finally:
        svc.stop()
        thread.join(30)
        conn.close()


@pytest.fixture(scope="module")
def db01(lab, conn, service, tmp_path_factory) -> Guest:
    # Hard disk 3 (pvscsi 1:1) exposes no uuid: found by controller and unit; the RDM by its LUN id
    guest = build_guest(lab, conn, tmp_path_factory.mktemp("db01"), SERVED, hide_uuid={"Hard disk 3"})
    assert {d.controller for d in guest.disks} == {"lsilogic", "pvscsi"} and any(d.lun for d in guest.disks)
    return guest


@pytest.fixture
def healthy_db01(db01) -> Guest:
    """db01 once the service has published its healthy document (faults of earlier tests restored)."""
    wait_until(lambda: db01.status()[0] == 0, timeout=30, every=0.2)
    return db01


@pytest.fixture
def web01(lab, conn, si, tmp_path) -> Guest:
    guest = build_guest(lab, conn, tmp_path, ALONE)
    for key in guestinfo.KEYS:
        set_key(si, guest.moref, key, "")
    return guest


def by_device(view: dict) -> dict[str, dict]:
    return {d["device"]: d for d in view["disks"]}


# -- status ---------------------------------------------------------------------------------------

def test_every_disk_is_mapped_to_its_device(healthy_db01):
    code, view = healthy_db01.status()
    assert code == 0 and view["vm"] == SERVED and view["verdict"] == "healthy"
    assert {d["label"]: (d["device"], d["match"]) for d in view["disks"]} == healthy_db01.devices
    table = healthy_db01.run("status")
    assert table.returncode == 0
    for device, method in healthy_db01.devices.values():
        assert any(line.startswith(device) and method in line for line in table.stdout.splitlines())


def test_status_shows_a_fault_within_about_a_second(lab, healthy_db01):
    gold = [label for label, disk in ((d.label, d) for d in healthy_db01.disks) if not disk.lun]
    devices = {healthy_db01.devices[label][0] for label in gold}
    rdm = next(healthy_db01.devices[d.label][0] for d in healthy_db01.disks if d.lun)
    lab.fault("lun", lun="gold01", state="pdl")

    def faulted():
        code, view = healthy_db01.status()
        disks = by_device(view) if view else {}
        return code == 1 and all(disks[d]["verdict"] == "media_failure" for d in devices) and (code, view)

    (code, view), took = wait_until(faulted, every=0.0)
    disks = by_device(view)
    for device in devices:
        assert (disks[device]["reachable"], disks[device]["advice"]) == (False, "fail_over")
        assert disks[device]["explanation"]
    # the RDM's I/O goes on (it bypasses its mapping file), but its mapping file is on ds-gold: it can no
    # longer be moved or powered on
    assert (disks[rdm]["verdict"], disks[rdm]["reachable"], disks[rdm]["advice"]) == ("degraded", True, "keep_using")
    assert "mapping file's datastore ds-gold is out of reach" in disks[rdm]["explanation"]
    # the service sees the change and rewrites extraConfig; one agent run (two processes) reads it.
    # Typically 0.4-1 s; the bound leaves room for a loaded test machine.
    assert took < 2.5, f"the guest saw the fault after {took:.2f} s"
    print(f"fault visible in the guest after {took:.2f} s")


def test_status_recovers_after_restore(lab, healthy_db01):
    lab.fault("hba", host="esx-a02", hba="vmhba2", state="dead")
    (_, view), _ = wait_until(lambda: (lambda c, v: c == 1 and v and (c, v))(*healthy_db01.status()), every=0.0)
    assert {d["verdict"] for d in view["disks"]} == {"degraded"}
    assert {d["advice"] for d in view["disks"]} == {"keep_using"}
    lab.restore()
    wait_until(lambda: healthy_db01.status()[0] == 0, every=0.0)


# -- watch and hooks --------------------------------------------------------------------------------

def recording_hook(folder: Path) -> tuple[Path, Path]:
    hook, out = folder / "on-storage-change", folder / "calls.jsonl"
    hook.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "rec = {'argv': sys.argv[1:], 'stdin': json.load(sys.stdin),\n"
        "       'env': {k: v for k, v in os.environ.items() if k.startswith('VSGT_') and not k.startswith('VSGT_FAKE')}}\n"
        f"with open({str(out)!r}, 'a') as f: f.write(json.dumps(rec) + '\\n')\n"
    )
    hook.chmod(0o755)
    return hook, out


def calls(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def test_watch_runs_the_hook_on_a_verdict_change(lab, healthy_db01, tmp_path):
    hook, out = recording_hook(tmp_path)
    proc = healthy_db01.popen("watch", "--interval", "0.2", "--duration", "60", "--hook", str(hook), "--hook-arg", "db01")
    try:
        time.sleep(1.5)  # the first read: no change yet, nothing runs
        assert calls(out) == []
        lab.fault("lun", lun="rdm01", state="apd")
        rdm = next(healthy_db01.devices[d.label][0] for d in healthy_db01.disks if d.lun)
        (call,), took = wait_until(lambda: calls(out), every=0.1)
    finally:
        stdout, stderr = stop(proc)
    assert call["argv"] == ["db01"]
    change = call["stdin"]
    assert (change["device"], change["old_verdict"], change["new_verdict"]) == (rdm, "healthy", "all_paths_down")
    assert change["advice"] == "wait" and change["reachable"] is False and change["vm"] == SERVED
    env = call["env"]
    assert (env["VSGT_DEVICE"], env["VSGT_OLD_VERDICT"], env["VSGT_NEW_VERDICT"], env["VSGT_ADVICE"]) == (rdm, "healthy", "all_paths_down", "wait")
    assert env["VSGT_EXPLANATION"] == change["explanation"] and env["VSGT_VM"] == SERVED and env["VSGT_MATCH"] == "wwid"
    assert f"{rdm} Hard disk" in stdout and "healthy -> all_paths_down" in stdout, (stdout, stderr)
    print(f"hook ran {took:.2f} s after the fault")


def test_hook_gets_host_text_as_data_never_through_a_shell(si, web01, tmp_path):
    from fakes.documents import document, disk

    hook, out = recording_hook(tmp_path)
    pwned = tmp_path / "pwned"
    hostile = f"$(touch {pwned}); `touch {pwned}` && touch {pwned} | sh -c 'touch {pwned}'"
    first = web01.disks[0]
    before = document([disk(first.label, first.controller, first.bus, first.unit, uuid=first.uuid, capacity=first.capacity)], vm=ALONE)
    set_key(si, web01.moref, guestinfo.STATE, guestinfo.encode_state(before))
    proc = web01.popen("watch", "--interval", "0.2", "--duration", "60", "--initial", "--hook", str(hook),
                       "--hook-arg", f"$(touch {pwned})")
    try:
        wait_until(lambda: calls(out), every=0.1)  # it has read the first document (--initial reports it)
        after = document([disk(hostile, first.controller, first.bus, first.unit, "media_failure", uuid=first.uuid,
                               capacity=first.capacity, explanation=hostile)], generation=2, vm=f"{ALONE}; touch {pwned}")
        set_key(si, web01.moref, guestinfo.STATE, guestinfo.encode_state(after))
        (_, call), _ = wait_until(lambda: calls(out)[:2] if len(calls(out)) >= 2 else None, every=0.1)
    finally:
        stop(proc)
    assert call["argv"] == [f"$(touch {pwned})"]
    assert call["stdin"]["explanation"] == hostile == call["env"]["VSGT_EXPLANATION"]
    assert call["env"]["VSGT_LABEL"] == hostile and call["env"]["VSGT_VM"] == f"{ALONE}; touch {pwned}"
    assert call["env"]["VSGT_NEW_VERDICT"] == "media_failure" and call["env"]["VSGT_DEVICE"] == web01.devices[first.label][0]
    time.sleep(0.2)
    assert not pwned.exists()


# -- policy and requests ----------------------------------------------------------------------------

def test_set_policy_is_honoured_by_the_service(healthy_db01):
    try:
        bad = healthy_db01.run("set-policy", "--min-working-paths", "64")
        assert bad.returncode == 2 and "above the maximum 32" in bad.stderr
        result = healthy_db01.run("set-policy", "--min-working-paths", "5", "--refresh-interval", "30", "--wait", "--timeout", "30")
        assert result.returncode == 0, (result.stdout, result.stderr)
        assert "policy: policy_applied" in result.stdout
        # every LUN has 4 working paths (2 active, 2 standby): below the level of 5
        (_, view), _ = wait_until(lambda: (lambda c, v: v and v["verdict"] == "below_sla" and (c, v))(*healthy_db01.status()))
        assert view["policy"]["status"] == "applied" and view["policy"]["min_working_paths"] == 5
        assert view["policy"]["refresh_interval"] == 30
        assert {d["verdict"] for d in view["disks"]} == {"below_sla"}
        assert {d["advice"] for d in view["disks"]} == {"move"}
        shown = json.loads(healthy_db01.run("show-policy", "--json").stdout)
        assert shown["policy"] == {"schema": 1, "min_working_paths": 5, "refresh_interval": 30}
    finally:
        assert healthy_db01.run("set-policy", "--clear").returncode == 0
    wait_until(lambda: healthy_db01.status()[0] == 0, timeout=30, every=0.2)


def test_request_migration_is_answered(healthy_db01):
    result = healthy_db01.run("request-migration", "--reason", "gold01 flapping; $(reboot)", "--wait", "--timeout", "30", "--json")
    assert result.returncode == 1, (result.stdout, result.stderr)
    answer = json.loads(result.stdout)
    sent = json.loads(healthy_db01.run("show-response", "--json").stdout)
    assert answer == sent and answer["status"] == "refused" and answer["action"] == "migrate" and answer["message"]
    refresh = healthy_db01.run("request-refresh", "--wait", "--until-done", "--timeout", "30")
    assert refresh.returncode == 0, (refresh.stdout, refresh.stderr)
    assert "(refresh): done" in refresh.stdout.splitlines()[-1]


# -- what goes wrong ----------------------------------------------------------------------------------

def one_line(result: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(n in lines[0] for n in needles), lines[0]


def test_distinct_exit_codes(lab, conn, si, web01, tmp_path):
    one_line(web01.run("status"), 5, "no storage document yet")
    one_line(web01.run("show-response"), 5, "no response yet")
    set_key(si, web01.moref, guestinfo.STATE, json.dumps({"schema": 2, "generation": 1, "disks": [], "whatever": "next"}))
    one_line(web01.run("status"), 6, "schema 2, newer than this agent's 1", "upgrade")
    set_key(si, web01.moref, guestinfo.STATE, '{"schema": 1, "encoding": "gzip+base64", "data": "bm90IGd6aXA="}')
    one_line(web01.run("status"), 6, "cannot be decoded")
    kvm = build_guest(lab, conn, tmp_path / "kvm", ALONE, vendor="QEMU")
    one_line(kvm.run("status"), 3, "not a VMware virtual machine", "QEMU")
    one_line(web01.run("status", "--rpctool", str(tmp_path / "vmware-rpctool")), 4, "does not exist")
    one_line(web01.run("status", env={"VSGT_RPCTOOL": str(tmp_path / "missing" / "vmtoolsd")}), 4)


def test_a_large_document_arrives_enveloped(si, web01):
    from fakes.documents import disk, document

    first = web01.disks[0]
    disks = [disk(first.label, first.controller, first.bus, first.unit, "degraded", uuid=first.uuid, capacity=first.capacity)]
    disks += [disk(f"Hard disk {i}", "pvscsi", 1 + i // 15, i % 15, explanation="x" * 700 + str(i)) for i in range(59)]
    value = guestinfo.encode_state(document(disks, vm=ALONE))
    assert json.loads(value)["encoding"] == "gzip+base64"
    set_key(si, web01.moref, guestinfo.STATE, value)
    code, view = web01.status()
    assert code == 1 and len(view["disks"]) == 60
    assert by_device(view)[web01.devices[first.label][0]]["verdict"] == "degraded"
    assert sum(d["match"] == "unmatched" for d in view["disks"]) == 59
