"""Bad admin input from the CLI: wrong config values, unknown names, bad certificates and pins, a user who
lacks privileges. Each is one line on stderr that says what to do, a non-zero exit, no traceback, nothing
changed in vCenter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vsguesttruth.vcenter import snapshot

pytestmark = pytest.mark.lab

CLI = str(Path(sys.executable).parent / "vsguesttruth")


def run(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120, input=stdin)


def one_line_error(out: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    assert out.returncode == code, (out.returncode, out.stdout[-500:], out.stderr[-500:])
    assert "Traceback" not in out.stderr + out.stdout
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines, out
    last = lines[-1]
    assert last.startswith(("error:", "Error:")), out.stderr
    for needle in needles:
        assert needle in last, (needle, out.stderr)
    return last


@pytest.fixture(scope="module")
def env(own_lab) -> dict[str, str]:
    info = own_lab.info
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    return {**base, "VSGT_URL": info.url, "VSGT_USERNAME": info.username, "VSGT_PASSWORD": info.password,
            "VSGT_CA_FILE": info.cert}


@pytest.fixture(scope="module")
def readonly(own_lab, env) -> dict[str, str]:
    info = own_lab.info
    assert info.readonly_username
    return {**env, "VSGT_USERNAME": info.readonly_username, "VSGT_PASSWORD": info.readonly_password}


BAD_CONFIGS = [
    ('[remediation]\nmode = "yolo"\n', ("mode", "off, advise")),
    ("[remediation]\nmax_concurrent = -1\n", ("max_concurrent",)),
    ('[guest]\nrequests_per_hour = "many"\n', ("requests_per_hour",)),
    ("[publish]\nconcurency = 8\n", ("concurency",)),
    ("[vcenter]\nurl = 5\n", ("url",)),
    ("[scope\nclusters = []\n", ("TOML",)),
    ('[service_level]\nmin_working_paths = 0\n', ("min_working_paths",)),
    ('[web]\nport = 70000\n', ("port",)),
]


@pytest.mark.parametrize("text,needles", BAD_CONFIGS, ids=[c[1][0] for c in BAD_CONFIGS])
def test_a_wrong_config_value_names_file_and_key(env, tmp_path, text, needles):
    config = tmp_path / "config.toml"
    config.write_text(text)
    last = one_line_error(run("status", "--config", str(config), env=env), 3, *needles)
    assert str(config) in last or "config" in last.lower()


@pytest.mark.parametrize("args,needles", [
    (("map", "no-such-vm"), ("no-such-vm",)),
    (("migrate", "no-such-vm", "--yes"), ("no-such-vm",)),
    (("migrate", "web01", "--to-host", "esx-z99", "--yes"), ("esx-z99",)),
    (("migrate", "web01", "--to-datastore", "ds-nope", "--yes"), ("ds-nope",)),
    (("paths", "--host", "esx-nope"), ("esx-nope",)),
])
def test_unknown_names(env, own_conn, args, needles):
    before = {vm.name: vm.host for vm in snapshot(own_conn).vms.values()}
    one_line_error(run(*args, env=env), 3, *needles)
    assert {vm.name: vm.host for vm in snapshot(own_conn).vms.values()} == before


def test_bad_certificates_and_pins(env, tmp_path):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("this is not a certificate\n")
    one_line_error(run("status", "--ca-file", str(not_pem), env=env), 3, "ca.pem")
    no_ca = {k: v for k, v in env.items() if k != "VSGT_CA_FILE"}
    one_line_error(run("status", env=no_ca), 3, "not trusted", "--ca-file")  # verification is on by default
    one_line_error(run("status", "--thumbprint", "AA:BB", env=no_ca), 3, "thumbprint")
    wrong_pin = ":".join(["AB"] * 20)
    one_line_error(run("status", "--thumbprint", wrong_pin, env=no_ca), 3, "thumbprint")


def test_a_user_without_privileges_gets_the_privilege_named(readonly, own_conn):
    # reading needs no more than read-only
    assert run("status", env=readonly).returncode in (0, 1)
    before = {vm.name: (vm.host, dict(vm.guestinfo)) for vm in snapshot(own_conn).vms.values()}
    one_line_error(run("publish", "--once", env=readonly), 3, "VirtualMachine.Config.AdvancedConfig",
                   "grant it a role")
    inv = snapshot(own_conn)
    here = inv.hosts[inv.vm_by_name("web01").host]
    target = next(h.name for h in inv.hosts.values() if h.cluster == here.cluster and h.moref != here.moref)
    one_line_error(run("migrate", "web01", "--to-host", target, "--yes", env=readonly), 3, "Resource.HotMigrate")
    assert {vm.name: (vm.host, dict(vm.guestinfo)) for vm in snapshot(own_conn).vms.values()} == before
