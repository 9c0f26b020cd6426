"""The reliability suite's own labs: these tests kill, restart and slow down vCenter, so each module gets a
lab of its own (the default topology starts in a tenth of a second) instead of the session's shared one."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from pyVmomi import vim, vmodl

from fakes.serve import wait_for
from vsguesttruth.config import Config, RemediationConfig
from vsguesttruth.guestinfo import STATE, decode_state
from vsguesttruth.lab import Lab
from vsguesttruth.reconcile import Service
from vsguesttruth.remediation import RemediationLoop
from vsguesttruth.vcenter import ConnectionSettings, connect, snapshot
from vsguesttruth.vcenter.events import query
from vsguesttruth.web import self_signed

CLI = str(Path(sys.executable).parent / "vsguesttruth")


class OwnLab:
    """A lab this module may kill: its Lab, how to reach it, and our Connection to it."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.info = lab.require()
        self.settings = ConnectionSettings(url=self.info.url, username=self.info.username,
                                           password=self.info.password, ca_file=self.info.cert,
                                           reconnect_timeout=120)

    def connect(self, **changes):
        return connect(replace(self.settings, **changes))


@pytest.fixture(scope="module")
def own_lab(tmp_path_factory, request):
    lab = Lab(tmp_path_factory.mktemp("own-lab"))
    lab.up(**{"timing": False, **getattr(request.module, "LAB_OPTIONS", {})})
    try:
        yield OwnLab(lab)
    finally:
        lab.down()


@pytest.fixture
def own_conn(own_lab):
    conn = own_lab.connect()
    try:
        yield conn
    finally:
        conn.close()
        own_lab.lab.restore()


def doc_of(inv, name: str) -> dict | None:
    value = inv.vm_by_name(name).guestinfo.get(STATE)
    return decode_state(value) if value else None


def events_of(conn, vm_moref: str, types: list[str]) -> list:
    """vCenter's events of these types on one VM, read through our connection (it reconnects)."""
    def call():
        spec = vim.event.EventFilterSpec(eventTypeId=types, entity=vim.event.EventFilterSpec.ByEntity(
            entity=vim.VirtualMachine(vm_moref, conn.si._stub), recursion="self"))
        return list(conn.content.eventManager.QueryEvents(spec))
    return conn.run(call, "query events")


@contextmanager
def serving(conn, remediation: RemediationConfig | None = None, passes: list | None = None, **config):
    """The service as `serve` runs it (reconcile loop, remediation loop), in a thread; the results of its
    passes that did something are appended to ``passes``."""
    passes = [] if passes is None else passes
    cfg = Config(remediation=remediation or RemediationConfig(mode="off"), **config)
    remedy = RemediationLoop(conn, cfg.remediation).start() if cfg.remediation.mode != "off" else None
    service = Service(conn, cfg, remediation=remedy, max_wait=5, on_pass=passes.append)
    errors: list[BaseException] = []

    def run():
        try:
            service.run()
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield service
        assert not errors, f"the service stopped: {errors[0]}"
        assert thread.is_alive(), "the service stopped"
    finally:
        service.stop()
        thread.join(30)
        if remedy is not None:
            remedy.stop()


def published(conn, service, timeout: float = 30):
    """Until the service finished a pass and every VM has its document."""
    return wait_for(lambda: service.passes >= 1 and not service.busy and all(
        STATE in vm.guestinfo for vm in snapshot(conn).vms.values()), timeout, "the first publish")


class Serve:
    """`vsguesttruth serve -v --mode auto` as its own process, its output in a file, its plugin server's URL."""

    def __init__(self, own_lab, tmp_path: Path, name: str, config: str) -> None:
        info = own_lab.info
        cert, key = self_signed(tmp_path)
        self.context = ssl.create_default_context(cafile=str(cert))
        path = tmp_path / f"{name}.toml"
        path.write_text(config + f'\n[web]\ncert_file = "{cert}"\nkey_file = "{key}"\n')
        self.log = tmp_path / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
        env.update(VSGT_URL=info.url, VSGT_USERNAME=info.username, VSGT_PASSWORD=info.password,
                   VSGT_CA_FILE=info.cert)
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([CLI, "serve", "-v", "--mode", "auto", "--port", "0", "--config", str(path)],
                                         env=env, stdout=out, stderr=subprocess.STDOUT)
        self.url = wait_for(lambda: self._url(), 30, f"{name}'s plugin server")

    def _url(self) -> str | None:
        assert self.proc.poll() is None, self.text()
        for line in self.text().splitlines():
            if line.startswith("plugin UI https://"):
                return line.split()[2].split("/ui/")[0]
        return None

    def text(self) -> str:
        return self.log.read_text()

    def role(self) -> str:
        """What ``/readyz`` says: active or passive (503 until the first inventory, with the role too)."""
        try:
            with urllib.request.urlopen(self.url + "/readyz", context=self.context, timeout=10) as res:
                return json.loads(res.read())["role"]
        except urllib.error.HTTPError as err:
            return json.loads(err.read())["role"]

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def serves():
    started: list[Serve] = []
    yield started
    for s in started:
        s.stop()


def config(**remediation) -> str:
    rails = {"stable_seconds": 1, "cooldown_minutes": 30, "retry_seconds": 1, "max_concurrent": 2, **remediation}
    return ("[guest]\nallow_migrate_requests = true\n[remediation]\n"
            + "".join(f"{k} = {v}\n" for k, v in rails.items()))


def cable_pull(lab, host: str, state: str = "dead") -> None:
    for hba in ("vmhba2", "vmhba3"):
        lab.fault("hba", host=host, hba=hba, state=state)


def san_vms(conn, host: str) -> dict[str, str]:
    """name -> moref of the VMs on ``host`` with disks on the SAN's VMFS datastores (a cable pull moves them)."""
    inv = snapshot(conn)
    sans = {m for m, ds in inv.datastores.items() if ds.name.startswith("ds-")}
    return {vm.name: vm.moref for vm in inv.vms.values()
            if inv.hosts[vm.host].name == host and any(set(d.datastores) & sans for d in vm.disks)}


def off(conn, vms: dict[str, str], host: str) -> bool:
    inv = snapshot(conn)
    return all(inv.hosts[inv.vms[m].host].name != host for m in vms.values())


def ours(conn, moref: str, text: str) -> list[str]:
    return [e.message for e in query(conn, moref) if text in e.message]


def migration_tasks(conn, moref: str) -> int:
    """MigrateVM_Task tasks of the VM among vCenter's recent tasks (running or completed)."""
    PC = vmodl.query.PropertyCollector

    def read():
        tasks = list(conn.content.taskManager.recentTask or ())
        spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=t) for t in tasks],
                             propSet=[PC.PropertySpec(type=vim.Task, pathSet=["info"])])
        result = conn.content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
        infos = [p.val for o in (result.objects if result else ()) for p in o.propSet]
        return sum(1 for i in infos if i.descriptionId == "VirtualMachine.migrate" and i.entity._moId == moref)
    return conn.run(read, "read recent tasks")
