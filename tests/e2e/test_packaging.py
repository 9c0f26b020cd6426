"""What ships, built as a user builds it: the server's wheel carries the vSphere Client plugin's manifest
(one copy in the tree, ``plugin-manifest/``) and its built pages (``make setup`` bundles them from npm), and the guest agent's wheel installs alone (stdlib + click,
nothing of the server) and reads a lab VM's document inside the VM's simulated guest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "vsguesttruth")
SERVER_ONLY = ("vsguesttruth", "pyVmomi", "fastapi", "uvicorn", "rich", "prometheus_client", "tenacity")


def build_wheel(source: Path, out: Path) -> Path:
    """``pip wheel --no-deps`` of a project folder (its build requirements from the index or pip's cache)."""
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
                             "-w", str(out), str(source)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


def installed(venv: Path) -> set[str]:
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json",
                             "--disable-pip-version-check"], capture_output=True, text=True, check=True)
    return {p["name"].lower() for p in json.loads(result.stdout)}


def test_the_plugin_manifest_is_one_copy_at_the_top_and_ships_in_the_wheel(tmp_path):
    skip = {".venv", "build", "dist", "test-artifacts", ".git"}
    copies = [p.relative_to(ROOT) for p in ROOT.rglob("plugin.json") if not skip.intersection(p.relative_to(ROOT).parts)]
    assert copies == [Path("plugin-manifest/plugin.json")]

    wheel = build_wheel(ROOT, tmp_path / "dist")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        shipped = {n for n in z.namelist() if n.startswith("vsguesttruth/web/plugin/")}
        sources = [p for p in (ROOT / "plugin-manifest").rglob("*") if p.is_file()]
        assert shipped == {f"vsguesttruth/web/plugin/{p.relative_to(ROOT / 'plugin-manifest')}" for p in sources}
        for p in sources:
            assert z.read(f"vsguesttruth/web/plugin/{p.relative_to(ROOT / 'plugin-manifest')}") == p.read_bytes()
        names = set(z.namelist())
        built = ROOT / "vsguesttruth" / "web" / "static"
        pages = {f"vsguesttruth/web/static/{p.relative_to(built)}" for p in built.rglob("*") if p.is_file()}
        assert {"vsguesttruth/web/static/vsgt.js", "vsguesttruth/web/static/vsgt.css",
                "vsguesttruth/web/static/global.html", "vsguesttruth/web/static/swagger/swagger-ui-bundle.js"} <= pages
        assert pages <= names, "the wheel lacks the built plugin pages"  # built by make setup, not in git
        assert not [n for n in names if "node_modules" in n or n.startswith("vsguesttruth/web/ui/")]
        z.extractall(site)
    # an installed copy has no checkout beside it: it serves the manifest it carries
    found = subprocess.run([sys.executable, "-c", "from vsguesttruth.web.manifest import manifest_dir; print(manifest_dir())"],
                           cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == site / "vsguesttruth" / "web" / "plugin"


@pytest.mark.lab
def test_the_guest_agent_installs_alone_and_reads_its_vm_in_a_lab_guest(lab, tmp_path):
    wheel = build_wheel(ROOT / "guest-agent", tmp_path / "dist")
    with zipfile.ZipFile(wheel) as z:
        assert not [n for n in z.namelist() if n.startswith("vsguesttruth/")], "the agent's wheel carries the server"
    venv = tmp_path / "guest"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    before = installed(venv)
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                             str(wheel)], capture_output=True, text=True, timeout=300)  # click from the index
    assert result.returncode == 0, result.stderr
    assert installed(venv) - before == {"vsguesttruth-guest", "click"}
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import importlib.util as u, sys; "
                            f"print([m for m in {SERVER_ONLY!r} if u.find_spec(m)])"],
                           cwd=tmp_path, capture_output=True, text=True)  # not the checkout: nothing on sys.path
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr

    agent = venv / "bin" / "vsguesttruth-guest"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    env = {**base, "VSGT_LAB_HOME": str(lab.run_dir)}
    assert subprocess.run([CLI, "publish", "--once", "--lab"], env=env, capture_output=True, timeout=120).returncode == 0
    status = subprocess.run([CLI, "lab", "guest", "--agent", str(agent), "web01", "status", "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert status.returncode in (0, 1), status.stderr  # 1: a fault another test left
    view = json.loads(status.stdout)
    assert view["vm"] == "web01" and [d["device"] for d in view["disks"]] == ["/dev/sda"]

    # the systemd unit a root install puts in <prefix>/lib/systemd/system, ready to enable
    unit = venv / "lib" / "systemd" / "system" / "vsguesttruth-guest.service"
    assert "ExecStart=/usr/local/bin/vsguesttruth-guest watch $WATCH_ARGS" in unit.read_text()
    analyze = shutil.which("systemd-analyze")
    if analyze:  # the unit as systemd reads it, with ExecStart pointing at this venv's agent
        here = tmp_path / "vsguesttruth-guest.service"
        here.write_text(unit.read_text().replace("/usr/local/bin/vsguesttruth-guest", str(agent)))
        checked = subprocess.run([analyze, "verify", str(here)], capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
