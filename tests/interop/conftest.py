"""Third-party clients against the lab: check_vsphere and Ansible's community.vmware, as admins run them.

The tools live in their own venv (``.venv-interop``, made by ``make setup`` from ``requirements.txt``): they
pin their own pyVmomi and Ansible, which must not meet the product's. They get the lab's address and
password through their documented environment variables (never on a command line) and verify TLS against
the lab's certificate (check_vsphere: ``SSL_CA_FILE``; Ansible: ``validate_certs`` with ``SSL_CERT_FILE``).

Each lab state (healthy, a dead path, a pulled cable, PDL, APD) is set up once; :func:`observe` then runs
every check_vsphere command and one ansible-playbook with every module against it and keeps what they
said, for the tests of ``test_check_vsphere.py`` and ``test_ansible.py`` to judge.

The SPBM module (vmware_vm_storage_policy_info) opens its second stub on port 443 whatever ``port`` says
(community.vmware ``module_utils/vmware_spbm.py``), so the suite's lab listens on 443 when it may; where it
may not (no privilege, 443 taken), that one module does not run and its test says why.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from vsguesttruth.lab import Lab, LabError

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("VSGT_INTEROP_VENV", ROOT / ".venv-interop"))
HOST = "esx-a01"  # where the faults are injected and the host checks look
LUN = "gold01"    # the LUN of ds-gold, the datastore that PDL and APD take away
STATES = ("healthy", "dead_path", "cable_pull", "pdl", "apd")

# check_vsphere commands: name -> arguments after the connection options
CHECKS = {
    "host-storage-adapter": ["host-storage", "--vihost", HOST, "--mode", "adapter"],
    "host-storage-lun": ["host-storage", "--vihost", HOST, "--mode", "lun"],
    "host-storage-path": ["host-storage", "--vihost", HOST, "--mode", "path"],
    "datastores": ["datastores", "--metric", "usage", "--warning", "90", "--critical", "95"],
    "host-runtime-status": ["host-runtime", "--vihost", HOST, "--mode", "status"],
    "host-runtime-con": ["host-runtime", "--vihost", HOST, "--mode", "con"],
    "host-runtime-issues": ["host-runtime", "--vihost", HOST, "--mode", "issues"],
    "host-service": ["host-service", "--vihost", HOST],
}

# Ansible modules (community.vmware) and their arguments
MODULES = {
    "vmware_host_facts": {"esxi_hostname": HOST},
    "vmware_host_scsidisk_info": {"esxi_hostname": HOST},
    "vmware_host_vmhba_info": {"esxi_hostname": HOST},
    "vmware_host_disk_info": {"esxi_hostname": HOST},
    "vmware_datastore_info": {"datacenter": "dc1"},
    "vmware_guest_disk_info": {"datacenter": "dc1", "name": "db01"},
    "vmware_host_capability_info": {"esxi_hostname": HOST},
    "vmware_cluster_info": {"cluster_name": "cl-a"},
    "vmware_host_service_info": {"esxi_hostname": HOST},
    "vmware_host_vmnic_info": {"esxi_hostname": HOST},
    "vmware_vm_storage_policy_info": {},
}
SPBM_MODULE = "vmware_vm_storage_policy_info"


@dataclass
class Check:
    """One check_vsphere run: its exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and output."""

    code: int
    out: str

    @property
    def status(self) -> str:
        return {0: "OK", 1: "WARNING", 2: "CRITICAL"}.get(self.code, "UNKNOWN")


@dataclass
class Observation:
    """What every tool said about the lab in one state, and what the lab itself reported (pyVmomi)."""

    state: str
    checks: dict[str, Check] = field(default_factory=dict)
    modules: dict[str, dict] = field(default_factory=dict)  # module -> Ansible's result
    lun_states: dict[str, list[str]] = field(default_factory=dict)  # canonical name -> operationalState
    path_states: dict[str, str] = field(default_factory=dict)  # path name -> state
    overall_status: str = ""
    config_issues: int = 0


class InteropLab:
    """The suite's own lab (port 443 when possible), the tools' environments, and one observation per state."""

    def __init__(self, lab: Lab, work: Path) -> None:
        self.lab = lab
        self.info = lab.require()
        self.work = work
        url = urlparse(self.info.url)
        self.port = url.port
        self.spbm = url.port == 443
        self.observed: dict[str, Observation] = {}
        base = {k: v for k, v in os.environ.items() if not k.startswith(("VMWARE_", "ANSIBLE_", "SSL_"))}
        self.check_env = {**base, "VSPHERE_PASS": self.info.password, "SSL_CA_FILE": self.info.cert}
        self.ansible_env = {
            **base,
            "VMWARE_HOST": "127.0.0.1", "VMWARE_PORT": str(self.port), "VMWARE_USER": self.info.username,
            "VMWARE_PASSWORD": self.info.password, "VMWARE_VALIDATE_CERTS": "true", "SSL_CERT_FILE": self.info.cert,
            "ANSIBLE_HOME": str(work / "ansible"), "ANSIBLE_LOCAL_TEMP": str(work / "ansible" / "tmp"),
            "ANSIBLE_REMOTE_TMP": str(work / "ansible" / "remote"), "ANSIBLE_STDOUT_CALLBACK": "json",
            "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_DEPRECATION_WARNINGS": "false", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "false",
        }

    # -- the states --------------------------------------------------------------------------------
    def set_state(self, state: str) -> None:
        self.lab.restore()
        if state == "dead_path":
            self.lab.fault("path", host=HOST, path=self.gold_path(), state="dead")
        elif state == "cable_pull":
            self.lab.fault("hba", host=HOST, hba="vmhba2", state="dead")
        elif state in ("pdl", "apd"):
            self.lab.fault("lun", lun=LUN, state=state)

    def gold_canonical(self) -> str:
        return next(lun["canonical_name"] for lun in self.lab.topology()["luns"] if lun["name"] == LUN)

    def gold_path(self) -> str:
        """An active path of the gold LUN on the host, through vmhba2."""
        host = next(h for h in self.lab.topology()["hosts"] if h["name"] == HOST)
        return next(p["name"] for p in host["paths"] if p["lun"] == LUN and p["hba"] == "vmhba2"
                    and p["state"] == "active")

    def observe(self, state: str) -> Observation:
        if state not in self.observed:
            self.set_state(state)
            try:
                obs = Observation(state)
                self._lab_view(obs)
                with ThreadPoolExecutor(4) as pool:
                    playbook = pool.submit(self.run_playbook)
                    checks = {name: pool.submit(self.run_check, args) for name, args in CHECKS.items()}
                    obs.checks = {name: f.result() for name, f in checks.items()}
                    obs.modules = playbook.result()
                self.observed[state] = obs
            finally:
                self.lab.restore()
        return self.observed[state]

    # -- the tools ---------------------------------------------------------------------------------
    def run_check(self, args: list[str]) -> Check:
        cmd = [str(VENV / "bin" / "check_vsphere"), args[0], "-s", "127.0.0.1", "-o", str(self.port),
               "-u", self.info.username, *args[1:]]
        r = subprocess.run(cmd, env=self.check_env, capture_output=True, text=True, timeout=120)
        return Check(r.returncode, r.stdout + r.stderr)

    def run_playbook(self) -> dict[str, dict]:
        tasks = [{"name": m, f"community.vmware.{m}": args, "ignore_errors": True}
                 for m, args in MODULES.items() if m != SPBM_MODULE or self.spbm]
        playbook = self.work / "interop.yml"  # JSON is YAML
        playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
        r = subprocess.run([str(VENV / "bin" / "ansible-playbook"), str(playbook)], env=self.ansible_env,
                           capture_output=True, text=True, timeout=240)
        try:
            report = json.loads(r.stdout)
        except ValueError:
            raise AssertionError(f"ansible-playbook did not report JSON (exit {r.returncode}): {r.stderr[-2000:]}")
        return {t["task"]["name"]: t["hosts"]["localhost"] for t in report["plays"][0]["tasks"]}

    def _lab_view(self, obs: Observation) -> None:
        """What the lab reports for the host, through pyVmomi: what the tools' rules are applied to."""
        url = urlparse(self.info.url)
        si = SmartConnect(host=url.hostname, port=url.port, user=self.info.username, pwd=self.info.password,
                          sslContext=ssl.create_default_context(cafile=self.info.cert))
        try:
            content = si.RetrieveContent()
            view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
            host = next(h for h in view.view if h.name == HOST)
            device = host.configManager.storageSystem.storageDeviceInfo
            obs.lun_states = {lun.canonicalName: list(lun.operationalState) for lun in device.scsiLun}
            obs.path_states = {p.name: p.state for lu in device.multipathInfo.lun for p in lu.path}
            obs.overall_status = str(host.overallStatus)
            obs.config_issues = len(host.configIssue)
        finally:
            Disconnect(si)


@pytest.fixture(scope="session")
def interop(tmp_path_factory) -> InteropLab:
    missing = [t for t in ("check_vsphere", "ansible-playbook") if not (VENV / "bin" / t).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing in {VENV}: run `make setup` (it installs tests/interop/requirements.txt)")
    lab = Lab(tmp_path_factory.mktemp("interop-lab"))
    try:
        lab.up(port=443, timing=False)  # SPBM clients assume vCenter's port
    except LabError:
        lab.up(timing=False)
    try:
        yield InteropLab(lab, tmp_path_factory.mktemp("interop-work"))
    finally:
        lab.down()


@pytest.fixture(params=STATES)
def observed(request, interop) -> Observation:
    return interop.observe(request.param)
