"""vSphere tags end to end on the lab, as an admin uses them: `vsguesttruth lab tag` attaches and detaches;
`serve` with `[scope] exclude_tags` stops updating the documents of a VM tagged out of scope (read again on
SIGHUP); a replica tag on a datastore is where `remediate` fails a PDL over to. Every tag attached is detached."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vsguesttruth import guestinfo
from vsguesttruth.vcenter import read_guestinfo, snapshot

pytestmark = pytest.mark.lab

CLI = str(Path(sys.executable).parent / "vsguesttruth")


@pytest.fixture
def run(lab, tmp_path):
    config = tmp_path / "config.toml"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    env = {**base, "VSGT_LAB_HOME": str(lab.run_dir), "VSGT_CONFIG": str(config)}
    attached: list[tuple[str, str, str]] = []

    def call(*args, config_text=None, timeout=120):
        if config_text is not None:
            config.write_text(config_text)
        if args[:3] == ("lab", "tag", "attach"):
            attached.append(args[3:6])
        return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)

    call.env = env
    call.config = config
    yield call
    for tag, kind, name in attached:
        subprocess.run([CLI, "lab", "tag", "detach", tag, kind, name], env=env, capture_output=True, timeout=60)


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_lab_tag_attaches_lists_and_detaches(run):
    assert run("lab", "tag", "attach", "vsgt-e2e:demo", "vm", "web02").returncode == 0
    assert run("lab", "tag", "attach", "vsgt-e2e:demo", "cluster", "cl-b").returncode == 0
    assert run("lab", "tag", "list", "vm", "web02").stdout.split() == ["vsgt-e2e:demo"]
    listed = json.loads(run("lab", "tag", "list", "vsgt-e2e:demo", "--json").stdout)
    assert listed == [{"kind": "cluster", "name": "cl-b"}, {"kind": "vm", "name": "web02"}]
    assert run("lab", "tag", "detach", "vsgt-e2e:demo", "vm", "web02").returncode == 0
    assert run("lab", "tag", "list", "vm", "web02").stdout.strip() == "none"
    unknown = run("lab", "tag", "attach", "vsgt-e2e:demo", "vm", "no-such-vm")
    assert unknown.returncode == 3 and "no VirtualMachine named 'no-such-vm'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1 and "Traceback" not in unknown.stderr
    assert run("lab", "tag", "attach", "no-colon", "vm", "web02").returncode == 2


def test_a_vm_tagged_out_of_scope_stops_getting_updates(lab, conn, run, tmp_path):
    run.config.write_text('[scope]\nexclude_tags = ["vsgt-e2e:off"]\ntag_refresh = 3600\n[remediation]\nmode = "off"\n')
    inv = snapshot(conn)
    web01, app01 = inv.vm_by_name("web01"), inv.vm_by_name("app01")
    assert web01.host == app01.host  # both on esx-a01, on SAN datastores
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([CLI, "serve", "--lab", "--no-web"], env=run.env, stdout=out, stderr=subprocess.STDOUT)
    try:
        def verdict(vm):
            value = read_guestinfo(conn, vm.moref).get(guestinfo.STATE)
            return guestinfo.decode_state(value)["verdict"] if value else None

        wait_for(lambda: verdict(web01) == "healthy" and verdict(app01) == "healthy", 60, "the first publish")
        kept = read_guestinfo(conn, web01.moref)[guestinfo.STATE]
        assert run("lab", "tag", "attach", "vsgt-e2e:off", "vm", "web01").returncode == 0
        proc.send_signal(signal.SIGHUP)  # read the tags again (tag_refresh is an hour)
        lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
        wait_for(lambda: verdict(app01) == "degraded", 60, "app01's document")
        time.sleep(2)
        assert read_guestinfo(conn, web01.moref)[guestinfo.STATE] == kept  # out of scope: untouched
        assert run("lab", "tag", "detach", "vsgt-e2e:off", "vm", "web01").returncode == 0
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: verdict(web01) == "degraded", 60, "web01 back in scope")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "scope not tags vsgt-e2e:off" in log.read_text()


def test_a_replica_tag_is_where_pdl_fails_over_to(lab, conn, run, placement):
    config = ('[remediation]\nstable_seconds = 0\nretry_seconds = 1\nattempts = 2\ncooldown_minutes = 1\n'
              'replica_tag_category = "vsgt-e2e-replica-of"\n')
    inv = placement
    web02 = inv.vm_by_name("web02")
    replica = next(d for d in inv.datastores.values() if d.name == "ds-gold-replica")
    lab.fault("lun", lun="gold01", state="pdl")
    untagged = json.loads(run("plan", "--json", "--lab", "--vm", "web02", config_text=config).stdout)
    assert not untagged["moves"] and "no replica configured for ds-gold" in json.dumps(untagged)
    assert run("lab", "tag", "attach", "vsgt-e2e-replica-of:ds-gold", "datastore", "ds-gold-replica").returncode == 0
    planned = json.loads(run("plan", "--json", "--lab", "--vm", "web02").stdout)["moves"]
    assert planned and planned[0]["action"] == "relocate_to_replica" and planned[0]["to_datastore_name"] == "ds-gold-replica"
    moved = run("remediate", "--once", "--mode", "auto", "--vm", "web02", "--json", "--lab")
    assert moved.returncode == 0 and json.loads(moved.stdout)["moved"] == 1, moved.stderr
    vm = snapshot(conn).vms[web02.moref]
    assert {d.label: d.datastores for d in vm.disks}["Hard disk 1"] == (replica.moref,)
