"""`vsguesttruth lab guest`: the guest agent's view of a lab VM, as a user runs it (real processes, the lab)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vsguesttruth import guestinfo

pytestmark = pytest.mark.lab

CLI = str(Path(sys.executable).parent / "vsguesttruth")


def run(*args, env=None, timeout=60):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    return subprocess.run([CLI, *args], env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def lab_env(lab):
    return {"VSGT_LAB_HOME": str(lab.run_dir)}


@pytest.fixture
def fresh_web01(si):
    """web01 as if nothing had published to it yet (earlier tests may have)."""
    from pyVmomi import vim

    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        vm = next(v for v in view.view if v.name == "web01")
    finally:
        view.Destroy()
    options = [vim.option.OptionValue(key=key, value="") for key in guestinfo.KEYS]
    task = vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(extraConfig=options))
    from pyVim.task import WaitForTask

    WaitForTask(task)
    return vm


def status(lab_env) -> tuple[int, dict | None, str]:
    result = run("lab", "guest", "web01", "status", "--json", env=lab_env)
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else None, result.stderr


def test_the_guest_sees_nothing_then_healthy_then_degraded(lab, lab_env, fresh_web01):
    code, view, stderr = status(lab_env)
    assert code == 5 and view is None, (code, stderr)
    assert "no storage document yet" in stderr and len(stderr.strip().splitlines()) == 1

    assert run("publish", "--once", "--lab", env=lab_env).returncode == 0
    code, view, stderr = status(lab_env)
    assert code == 0, stderr
    assert view["vm"] == "web01" and view["verdict"] == "healthy"
    (disk,) = view["disks"]
    assert (disk["device"], disk["label"], disk["match"], disk["verdict"]) == ("/dev/sda", "Hard disk 1", "wwid", "healthy")

    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    assert run("publish", "--once", "--lab", env=lab_env).returncode == 0
    code, view, stderr = status(lab_env)
    assert code == 1, stderr
    (disk,) = view["disks"]
    assert (disk["device"], disk["verdict"], disk["advice"]) == ("/dev/sda", "degraded", "keep_using")


def test_the_guest_lives_in_the_run_dir_and_gets_credentials_by_environment_only(lab, lab_env):
    table = run("lab", "guest", "web01", env=lab_env)  # default: status, as a table
    assert table.returncode in (0, 1, 5), table.stderr
    folder = Path(lab.run_dir) / "guests" / "web01"
    rpctool = folder / "bin" / "vmware-rpctool"
    assert (folder / "sys" / "block" / "sda").is_symlink()
    assert rpctool.read_text().splitlines()[0] == f"#!{sys.executable}" and os.access(rpctool, os.X_OK)
    assert lab.password not in rpctool.read_text()
    # everything after the VM is the agent's, options too; `--` passes what the agent alone should see
    for args in (("--help",), ("--", "--help")):
        result = run("lab", "guest", "web01", *args, env=lab_env)
        assert result.returncode == 0 and "Usage: vsguesttruth-guest" in result.stdout, (args, result.stderr)


def test_an_unknown_vm_is_one_line(lab_env):
    result = run("lab", "guest", "nosuchvm", "status", env=lab_env)
    assert result.returncode == 3 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "nosuchvm" in line
