"""VM data sets end to end on a lab of its own (they stay with the VMs): `publish --once` with `[delivery]
channel = "auto"` gives a vmx-20+ VM its truth through its data set and an older one through guestinfo, both
read by the real guest agent in `vsguesttruth lab guest` (its vmtoolsd data set commands through the lab's guest
door); a second run rewrites nothing; the guest's request comes back through the data sets; a clone carries none
of it; `serve` polls a guest that asks for it and answers within its interval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fakes.automation import guest, sdk, soap
from pyVim.connect import Disconnect
from pyVmomi import vim

from vsguesttruth import guestinfo
from vsguesttruth.config import Config, DeliveryConfig, GuestConfig, ScopeConfig
from vsguesttruth.lab import Lab
from vsguesttruth.reconcile import Service
from vsguesttruth.vcenter import ConnectionSettings, connect, read_guestinfo, snapshot
from vsguesttruth_guest.datasets import GUEST_SET, HOST_SET

pytestmark = pytest.mark.lab

CLI = str(Path(sys.executable).parent / "vsguesttruth")
NEW, OLD = "web01", "web03"  # vmx-20+ and vmx-14 in the default topology


@pytest.fixture(scope="module")
def dlab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("datasets-lab"))
    info = lab.up()
    config = lab.run_dir / "config.toml"
    config.write_text('[delivery]\nchannel = "auto"\n[guest]\nmin_refresh_interval = 2\n')
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    env = {**base, "VSGT_LAB_HOME": str(lab.run_dir), "VSGT_CONFIG": str(config)}

    def run(*args, timeout=120):
        return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)

    conn = connect(ConnectionSettings(url=info.url, username=info.username, password=info.password, ca_file=info.cert))
    try:
        yield lab, info, run, conn
    finally:
        conn.close()
        lab.down()


def data_set(info, vm: str, name: str) -> dict[str, str]:
    client = sdk(info)
    entries = client.vcenter.vm.data_sets.Entries
    return {k: entries.get(vm, name, k) for k in entries.list(vm, name)}


def agent(run, vm: str, *args) -> subprocess.CompletedProcess:
    return run("lab", "guest", vm, *args)


def test_a_new_vm_gets_its_truth_through_a_data_set_an_old_one_through_guestinfo(dlab):
    lab, info, run, conn = dlab
    inv = snapshot(conn)
    new, old = inv.vm_by_name(NEW), inv.vm_by_name(OLD)
    assert int(new.hardware_version[4:]) >= 20 > int(old.hardware_version[4:])
    assert snapshot(conn) and conn.content.about.version.startswith("8.")
    result = run("publish", "--once", "--lab")
    assert result.returncode == 0, result.stderr
    assert f"{len(inv.vms)} VMs in scope" in result.stdout
    assert guestinfo.STATE not in read_guestinfo(conn, new.moref)  # no ReconfigVM for it
    assert json.loads(data_set(info, new.moref, HOST_SET)["state"])["vm"]["name"] == NEW
    assert json.loads(read_guestinfo(conn, old.moref)[guestinfo.STATE])["vm"]["name"] == OLD
    client = sdk(info)
    ours = {s.name: client.vcenter.vm.DataSets.get(new.moref, s.name) for s in client.vcenter.vm.DataSets.list(new.moref)}
    assert (str(ours[HOST_SET].host), str(ours[HOST_SET].guest), ours[HOST_SET].omit_from_snapshot_and_clone) == (
        "READ_WRITE", "READ_ONLY", True)
    assert (str(ours[GUEST_SET].guest), ours[GUEST_SET].omit_from_snapshot_and_clone) == ("READ_WRITE", True)
    for name in (NEW, OLD):  # the real agent reads both, each through its channel
        shown = agent(run, name, "status", "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["vm"] == name and json.loads(shown.stdout)["disks"][0]["device"] == "/dev/sda"
    again = run("publish", "--once", "--lab", "--json")
    assert json.loads(again.stdout)["states"] == 0  # a restart rewrites nothing that is right


def test_the_guest_writes_to_its_data_set_and_is_answered_there(dlab):
    lab, info, run, conn = dlab
    new = snapshot(conn).vm_by_name(NEW)
    run("publish", "--once", "--lab")
    sent = agent(run, NEW, "request-refresh", "--reason", "e2e")
    assert sent.returncode == 0, sent.stderr
    request = json.loads(data_set(info, new.moref, GUEST_SET)["request"])
    assert request["action"] == "refresh" and guestinfo.REQUEST not in read_guestinfo(conn, new.moref)
    assert run("publish", "--once", "--lab").returncode == 0
    shown = agent(run, NEW, "show-response", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == request["id"], shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["status"] == "done"
    assert guestinfo.RESPONSE not in read_guestinfo(conn, new.moref)
    # the guest may not write the service's data set (guest READ_ONLY)
    forged = guest(info, NEW, 'datasets-set-entry {"dataset":"vsguesttruth","entries":[{"key":"state","value":"x"}]}')
    assert forged.json()["result"] is False and forged.json()["error-id"] == "access-denied"


def test_a_clone_carries_none_of_it(dlab):
    lab, info, run, conn = dlab
    run("publish", "--once", "--lab")
    si = soap(info)
    try:
        view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [vim.VirtualMachine], True)
        vm = next(v for v in view.view if v.name == NEW)
        task = vm.CloneVM_Task(folder=vm.parent, name=f"{NEW}-clone", spec=vim.vm.CloneSpec(location=vim.vm.RelocateSpec()))
        while task.info.state in ("queued", "running"):
            time.sleep(0.05)
        clone = task.info.result
        client = sdk(info)  # kept: the SDK's client ends its session when collected
        assert [s.name for s in client.vcenter.vm.DataSets.list(vm._moId)] != []
        assert [s.name for s in client.vcenter.vm.DataSets.list(clone._moId)] == []  # omit_from_snapshot_and_clone
        task = clone.Destroy_Task()
        while task.info.state in ("queued", "running"):
            time.sleep(0.05)
    finally:
        Disconnect(si)


def test_serve_polls_a_guest_that_asks_for_it(dlab):
    lab, info, run, conn = dlab
    config = Config(scope=ScopeConfig(vms=(NEW,)), delivery=DeliveryConfig(channel="datasets", sweep_interval=0,
                                                                           request_window=0),
                    guest=GuestConfig(min_refresh_interval=2))
    assert agent(run, NEW, "set-policy", "--poll-interval", "2").returncode == 0  # before the service starts
    service = Service(conn, config, max_wait=2)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        # no sweep, no request window: the policy is seen at first sight ...
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            shown = agent(run, NEW, "status", "--json")
            if shown.returncode == 0 and json.loads(shown.stdout)["policy"].get("poll_interval") == 2:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the policy was not applied")
        # ... and from then on the guest is read every 2 s: a request is answered without any other change
        started = time.monotonic()
        answer = agent(run, NEW, "request-refresh", "--wait", "--until-done", "--timeout", "30", "--json")
        assert answer.returncode == 0, answer.stderr
        assert json.loads(answer.stdout)["status"] == "done" and time.monotonic() - started < 20
        assert service.delivery.polls >= 1 and service.delivery.schedule.reads >= 1
    finally:
        service.stop()
        thread.join(30)
