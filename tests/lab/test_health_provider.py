"""The Proactive HA health provider of the vCenter edge against the lab's HealthUpdateManager (own lab: it
restarts vCenter): registered once and adopted by a second instance, monitored hosts in step, posts checked
by vCenter, and after a vCenter restart registered again and listed again in the cluster."""

from __future__ import annotations

import pytest

from vsguesttruth.lab import Lab
from vsguesttruth.vcenter import ConnectionSettings, connect, snapshot
from vsguesttruth.vcenter.health import (
    PROVIDER_NAME,
    HealthProvider,
    Update,
    clusters,
    configure,
    find_provider,
    posted,
)


@pytest.fixture
def own(tmp_path):
    lab = Lab(tmp_path / "lab")
    info = lab.up()
    conn = connect(ConnectionSettings(url=info.url, username=info.username, password=info.password, ca_file=info.cert))
    try:
        yield lab, conn
    finally:
        conn.close()
        lab.down()


def test_register_once_monitor_post_and_survive_a_vcenter_restart(own):
    lab, conn = own
    inv = snapshot(conn)
    b01 = inv.host_by_name("esx-b01").moref
    cl_b = {m for m, h in inv.hosts.items() if h.cluster == "cl-b"}
    first = HealthProvider(conn)
    pid = first.ensure()
    assert find_provider(conn) == pid and first.ensure() == pid
    assert HealthProvider(conn).ensure() == pid  # the other instance adopts it: never registered twice
    first.sync_monitored(set(inv.hosts))
    first.sync_monitored(cl_b)
    assert first.monitored == cl_b
    first.post([Update(b01, "vsguesttruth.storage.connectivity-lost", "red", "restore the paths")])
    assert posted(conn, pid) == {(b01, "vsguesttruth.storage.connectivity-lost"): ("red", "restore the paths")}
    assert first.unused_by() == ["cl-a", "cl-b"]  # nothing acts on the health yet
    cluster = next(c for c in clusters(conn) if c.name == "cl-b")
    configure(conn, cluster.moref, cluster.name, enabled=True, behavior="Manual", moderate="QuarantineMode",
              severe="QuarantineMode", providers=[pid], drs=not cluster.drs_enabled)
    assert next(c for c in clusters(conn) if c.name == "cl-b").providers == (pid,)
    assert first.unused_by(["cl-b"]) == [] and first.unused_by() == ["cl-a"]

    lab.restart()  # "a VirtualCenter Server restart implicitly unregisters all providers"

    conn.reconnect(conn.generation)
    new = first.ensure()
    assert new != pid and find_provider(conn, PROVIDER_NAME) == new
    assert first.replaced == (pid, new)
    assert next(c for c in clusters(conn) if c.name == "cl-b").providers == (new,)  # the admin's choice holds
    first.sync_monitored(cl_b)
    first.post([Update(b01, "vsguesttruth.storage.connectivity-lost", "green")])
    assert posted(conn, new)[b01, "vsguesttruth.storage.connectivity-lost"] == ("green", "")
