"""The reliability suite's own labs: these tests kill, restart and slow down vCenter, so each module gets a
lab of its own (the default topology starts in a tenth of a second) instead of the session's shared one."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import replace

import pytest
from pyVmomi import vim

from fakes.serve import wait_for
from vsguesttruth.config import Config, RemediationConfig
from vsguesttruth.guestinfo import STATE, decode_state
from vsguesttruth.lab import Lab
from vsguesttruth.reconcile import Service
from vsguesttruth.remediation import RemediationLoop
from vsguesttruth.vcenter import ConnectionSettings, connect, snapshot


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
