"""The CLI as a user runs it: real processes, the lab behind them, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from vsguesttruth.cli import main as cli_main

CLI = str(Path(sys.executable).parent / "vsguesttruth")


def run(*args, env=None, input=None, timeout=60):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    return subprocess.run([CLI, *args], env={**base, **(env or {})}, input=input, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def lab_env(lab):
    return {"VSGT_LAB_HOME": str(lab.run_dir)}


@pytest.fixture
def vsgt_env(lab):
    """Connection through the documented environment variables."""
    return {"VSGT_URL": lab.url, "VSGT_USERNAME": lab.username, "VSGT_PASSWORD": lab.password, "VSGT_CA_FILE": lab.cert}


def assert_one_line_error(result, *needles):
    assert result.returncode == 3, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def all_commands(group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


def test_version_and_help_on_every_command():
    assert run("--version").stdout.startswith("vsguesttruth, version ")
    for path in all_commands(cli_main):
        result = run(*path, "--help")
        assert result.returncode == 0 and "Usage:" in result.stdout, path


def test_status_healthy_then_degraded(lab, lab_env):
    result = run("status", "--lab", "--json", env=lab_env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["counts"]["healthy"] == len(doc["disks"]) > 20
    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    result = run("status", "--lab", "--host", "esx-a01", env=lab_env)
    assert result.returncode == 1
    assert "degraded" in result.stdout and "vmhba2" in result.stdout
    result = run("status", "--lab", "--host", "esx-b01", env=lab_env)
    assert result.returncode == 0


def test_status_filters(lab_env):
    result = run("status", "--lab", "--json", "--cluster", "cl-b", "--vm", "*0*", env=lab_env)
    doc = json.loads(result.stdout)
    assert doc["disks"] and all(d["host"].startswith("esx-b") for d in doc["disks"])
    assert all("0" in d["vm"] for d in doc["disks"])
    result = run("status", "--lab", "--verdict", "media_failure", "--json", env=lab_env)
    assert result.returncode == 0 and json.loads(result.stdout)["disks"] == []


def test_environment_connection(vsgt_env):
    result = run("status", "--json", env=vsgt_env)
    assert result.returncode == 0, result.stderr


def test_govc_names_as_fallback(lab):
    env = {"GOVC_URL": lab.url, "GOVC_USERNAME": lab.username, "GOVC_PASSWORD": lab.password, "VSGT_CA_FILE": lab.cert}
    assert run("paths", "--json", env=env).returncode == 0


def test_map_shows_the_whole_chain(lab_env):
    result = run("map", "--lab", "db01", "--json", env=lab_env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["name"] == "db01"
    rdm = [d for d in doc["disks"] if d["disk"]["backing"] == "rdm_physical"]
    assert rdm and rdm[0]["luns"][0]["canonical_name"].startswith("naa.")
    hosts = rdm[0]["luns"][0]["hosts"]
    # every host cabled to both fabrics: 2 HBAs x 2 ports of the array; esx-b04 has one HBA, on fabric B
    assert len(hosts) >= 2 and {h["host"]: len(h["paths"]) for h in hosts if h["host"] != "esx-b04"} == \
        {h["host"]: 4 for h in hosts if h["host"] != "esx-b04"}
    assert [len(h["paths"]) for h in hosts if h["host"] == "esx-b04"] == [2]
    text = run("map", "--lab", "db01", env=lab_env).stdout
    assert "vmhba2:C0:" in text and "VM here" in text


def test_paths_summary_line(lab, lab_env):
    lab.fault("target", target="A-ctl1-p1", state="dead")
    result = run("paths", "--lab", "--host", "esx-a01", env=lab_env)
    assert result.returncode == 0, result.stderr
    assert "2/2 FC HBAs online, 1 local adapter" in result.stdout and "LUNs ok" in result.stdout
    assert "paths available" in result.stdout and "carrying I/O" in result.stdout
    doc = json.loads(run("paths", "--lab", "--json", env=lab_env).stdout)
    host = next(h for h in doc["hosts"] if h["name"] == "esx-a01")
    assert host["paths_available"] < host["paths_total"] and host["paths_working"] == host["paths_available"]


def test_watch_prints_each_change_as_json_lines(lab, lab_env):
    proc = subprocess.Popen([CLI, "watch", "--lab", "--json", "--count", "1", "--duration", "60"],
                            env={**os.environ, **lab_env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr.readline().startswith("watching ")  # its first snapshot is taken
        t0 = time.monotonic()
        lab.fault("lun", lun="gold01", state="pdl")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.strip().splitlines()]
    # the LUN's incident opens, then the first disk's verdict changes (--count 1)
    assert lines[0]["incident"] == "opened" and lines[0]["kind"] == "lun"
    change = lines[-1]
    assert change["new"] == "media_failure" and change["old"] == "healthy"
    assert time.monotonic() - t0 < 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_vcenter(lab):
    result = run("status", env={"VSGT_URL": f"https://127.0.0.1:{free_port()}/sdk", "VSGT_USERNAME": "u", "VSGT_PASSWORD": "p"})
    assert_one_line_error(result, "127.0.0.1")


def test_wrong_password_never_echoed(lab):
    secret = "wr0ng-S3cret-pw"
    result = run("status", env={"VSGT_URL": lab.url, "VSGT_USERNAME": lab.username, "VSGT_PASSWORD": secret,
                                "VSGT_CA_FILE": lab.cert})
    assert secret not in result.stdout + result.stderr
    assert_one_line_error(result, "rejected the user name or password", "VSGT_PASSWORD")


def test_untrusted_certificate_is_refused_with_advice(lab):
    env = {"VSGT_URL": lab.url, "VSGT_USERNAME": lab.username, "VSGT_PASSWORD": lab.password}
    result = run("status", env=env)
    assert_one_line_error(result, "certificate")
    assert "--insecure" in result.stderr or "--ca-file" in result.stderr
    assert run("status", "--insecure", env=env).returncode in (0, 1)
    assert run("status", "--thumbprint", lab.thumbprint, env=env).returncode in (0, 1)
    wrong = ":".join(["AA"] * 20)
    assert_one_line_error(run("status", "--thumbprint", wrong, env=env), "thumbprint")


def test_unknown_names_are_clear_errors(lab_env):
    assert_one_line_error(run("map", "--lab", "no-such-vm", env=lab_env), "no-such-vm")
    assert_one_line_error(run("status", "--lab", "--host", "esx-z9", env=lab_env), "esx-z9")
    assert_one_line_error(run("lab", "fault", "path", "esx-a01", "vmhba9:C0:T0:L0", env=lab_env), "vmhba9:C0:T0:L0")
    assert_one_line_error(run("lab", "fault", "hba", "esx-z9", "vmhba2", env=lab_env), "esx-z9")


def test_lab_already_running_and_no_lab(lab_env, tmp_path):
    assert_one_line_error(run("lab", "up", env=lab_env), "already running")
    empty = {"VSGT_LAB_HOME": str(tmp_path / "none")}
    assert_one_line_error(run("status", "--lab", env=empty), "lab up")
    assert run("lab", "status", env=empty).returncode == 1


def test_no_url_configured_says_how():
    result = run("status", env={"HOME": "/nonexistent"})
    assert_one_line_error(result, "VSGT_URL")


def test_wrong_usage_exit_2():
    assert run("status", "--verdict", "sick").returncode == 2
    assert run("lab", "up", "--hosts", "10").returncode == 2
