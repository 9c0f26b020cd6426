"""What-if against the live service: `what-if fabric A` (the CLI, and the service's own GET /api/v1/what-if)
says which disks change verdict and which VMs move where; then fabric A's switch really fails in the lab and the
service in auto mode opens that incident on the same disks and makes the same moves, and no other.

esx-a01 has lost its fabric B cable first, so fabric A takes its last paths: its VMs must move. On a lab of its
own: the moves recorded here would start cooldowns and use the hourly budget of the shared lab's remediation
tests."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from fakes.serve import CLI, get_json, ready_json, wait_for
from vsguesttruth.lab import Lab
from vsguesttruth.vcenter import ConnectionSettings, connect, events, snapshot

AUTO = '[remediation]\nmode = "auto"\nstable_seconds = 0\n'


@pytest.fixture(scope="module")
def own_lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("what-if-lab"))
    info = lab.up()
    try:
        yield lab, info
    finally:
        lab.down()


@pytest.fixture(scope="module")
def lab(own_lab):
    """This module's lab in place of the session's (serve, the fault and the restore use it)."""
    return own_lab[0]


@pytest.fixture(scope="module")
def conn(own_lab):
    _, info = own_lab
    connection = connect(ConnectionSettings(url=info.url, username=info.username, password=info.password,
                                            ca_file=info.cert))
    try:
        yield connection
    finally:
        connection.close()


@pytest.mark.parametrize("serving", [AUTO], indirect=True)
def test_what_if_a_fabric_fails_is_what_the_service_then_does(lab, conn, serving, tmp_path):
    cafile = str(Path(lab.run_dir) / "web-cert.pem")
    lab.fault("hba", host="esx-a01", hba="vmhba3", state="dead")
    wait_for(lambda: [i["kind"] for i in (ready_json(serving, "/api/v1/incidents", cafile, state="open")
                                          or {"items": []})["items"]] == ["hba"], 60,
             "the service to see esx-a01's fabric B cable pulled")

    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    env = {**base, "VSGT_LAB_HOME": str(lab.run_dir), "VSGT_CONFIG": str(tmp_path / "config.toml")}
    result = subprocess.run([CLI, "what-if", "fabric", "A", "--json", "--lab"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    cli = json.loads(result.stdout)
    api = get_json(serving, "/api/v1/what-if", cafile, failure="fabric", ref="A", limit=500)
    disks = {(d["vm"], d["key"], d["after"]) for d in cli["disks"]}
    moves = {(m["vm_name"], m["to_host_name"]) for m in cli["moves"]}
    assert {(d["vm"], d["key"], d["after"]) for d in api["disks"]} == disks
    assert {(m["vm_name"], m["to_host_name"]) for m in api["moves"]} == moves
    assert [i["key"] for i in cli["incidents"]] == ["fabric:A"]
    assert {vm for vm, _ in moves} == {"web01", "app01"} and len(disks) == cli["disk_count"] > 20
    assert [r["vm_name"] for r in cli["refusals"]] == ["log12"]  # ds-edge: APD on every host, nowhere to go
    assert ("esx-a01", "red") in {(h["host"], h["health"]) for h in cli["proactive_ha"]["unhealthy_hosts"]}

    before = {vm.name: vm.host for vm in snapshot(conn).vms.values()}
    lab.fault("fabric", fabric="A", state="dead")

    def fabric_incident() -> list:
        return [i for i in get_json(serving, "/api/v1/incidents", cafile, state="open")["items"] if i["kind"] == "fabric"]

    [row] = wait_for(fabric_incident, 30, "the service to open the fabric incident")
    assert row["key"] == "fabric:A"
    detail = get_json(serving, f"/api/v1/incidents/{row['id']}", cafile)
    assert {(h["vm"], h["key"], h["verdict_when_hit"]) for h in detail["hits"]} == disks

    hosts = {m["vm"]: m["to_host"] for m in cli["moves"]}  # VM names -> host morefs planned

    def moved() -> dict:
        now = {vm.name: vm.host for vm in snapshot(conn).vms.values()}
        changed = {name: host for name, host in now.items() if host != before[name]}
        return changed if len(changed) >= len(moves) else {}

    changed = wait_for(moved, 60, "the service's vMotions")
    names = {vm.moref: vm.name for vm in snapshot(conn).vms.values()}
    assert changed == {names[vm]: host for vm, host in hosts.items()}
    started = [e.vm_name for e in events.query(conn) if e.message.startswith("vsguesttruth: moving ")]
    assert sorted(started) == sorted(vm for vm, _ in moves)
