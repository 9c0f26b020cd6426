"""Shared fixtures: hypothesis settings, and one SAN lab per test session reached through real SOAP."""

from __future__ import annotations

import os
import ssl
from urllib.parse import urlparse

import pytest
from hypothesis import HealthCheck, settings
from pyVim.connect import Disconnect, SmartConnect

from vsguesttruth.lab import Lab, LabInfo

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


class RunningLab:
    """A started lab: its connection details plus fault injection."""

    def __init__(self, lab: Lab, info: LabInfo) -> None:
        self._lab = lab
        self.info = info
        self.url = info.url
        self.username = info.username
        self.password = info.password
        self.control = info.control
        self.cert = info.cert
        self.thumbprint = info.thumbprint
        self.run_dir = lab.run_dir

    def fault(self, kind: str, **body: str) -> dict:
        return self._lab.fault(kind, **body)

    def restore(self) -> dict:
        return self._lab.restore()

    def topology(self) -> dict:
        return self._lab.topology()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cert)

    def connect(self):
        """A new pyVmomi ServiceInstance, TLS verified against the lab's certificate."""
        url = urlparse(self.url)
        return SmartConnect(
            host=url.hostname, port=url.port, user=self.username, pwd=self.password,
            sslContext=self.ssl_context(), disableSslCertValidation=False,
        )


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> RunningLab:
    """The default-topology lab, shared by the whole session; faults are restored after each test."""
    lab = Lab(tmp_path_factory.mktemp("lab"))
    # tasks finish at once (tests of realism have labs with timing on); VSGT_TEST_TIMING=on runs the
    # shared lab with vCenter's task durations and queueing (lab/README.md, "Task timing")
    info = lab.up(timing=os.environ.get("VSGT_TEST_TIMING", "off") == "on")
    try:
        yield RunningLab(lab, info)
    finally:
        lab.down()


@pytest.fixture(autouse=True)
def _restore_lab(request):
    """Undo injected faults after every test that used the lab, so tests stay independent."""
    yield
    if "lab" in request.fixturenames:
        request.getfixturevalue("lab").restore()


@pytest.fixture(scope="session")
def si(lab: RunningLab):
    """A connected pyVmomi ServiceInstance on the lab."""
    instance = lab.connect()
    try:
        yield instance
    finally:
        Disconnect(instance)


def pytest_collection_modifyitems(items):
    for item in items:
        if any(f"/tests/{kind}/" in str(item.fspath) for kind in ("lab", "e2e", "interop")):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def conn(lab: RunningLab):
    """vsguesttruth's own connection to the lab (TLS verified against the lab's certificate)."""
    from vsguesttruth.vcenter import ConnectionSettings, connect

    connection = connect(ConnectionSettings(url=lab.url, username=lab.username, password=lab.password, ca_file=lab.cert))
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def placement(lab, conn):
    """Where every VM is (host and disk datastores) before the test; puts every moved VM back afterwards."""
    from vsguesttruth.vcenter import migrate, snapshot

    inv = snapshot(conn)
    before = {vm.moref: (vm.host, {d.key: d.datastores[-1] for d in vm.disks if d.datastores}) for vm in inv.vms.values()}
    yield inv
    lab.restore()
    now = snapshot(conn)
    for moref, (host, disks) in before.items():
        vm = now.vms[moref]
        placed = {d.key: d.datastores[-1] for d in vm.disks if d.datastores}
        if placed != disks:
            home = disks[min(disks)]
            migrate.relocate(conn, moref, home, disks=disks.items(), host=host if vm.host != host else "")
        elif vm.host != host:
            migrate.vmotion(conn, moref, host)
    after = snapshot(conn)
    assert {m: v.host for m, v in after.vms.items()} == {m: h for m, (h, _) in before.items()}
