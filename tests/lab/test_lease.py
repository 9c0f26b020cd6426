"""The single-instance lease (vsguesttruth.vcenter.lease) against the lab's CustomizationSpecManager, which
checks changeVersion as vCenter does. Short leases (3 s, renewed every second) keep it quick; each test
uses a spec of its own."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from dataclasses import replace

import pytest

from vsguesttruth.vcenter import Lease, NotActive
from vsguesttruth.vcenter.lease import parse_holder

pytestmark = pytest.mark.lab


@pytest.fixture
def name(conn):
    spec = f"vsgt-lease-test-{uuid.uuid4().hex[:8]}"
    yield spec
    try:
        conn.content.customizationSpecManager.DeleteCustomizationSpec(spec)
    except Exception:  # noqa: BLE001 - a test that never created it
        pass


def lease(conn, name, machine: str = "", **kw) -> Lease:
    """A lease as an instance on ``machine`` would hold it (default: a machine of its own)."""
    out = Lease(conn, name=name, seconds=kw.pop("seconds", 3.0), renew=kw.pop("renew", 1.0), **kw)
    out.me = replace(out.me, host=machine or f"machine-{out.me.id[:6]}")
    return out


def test_one_holds_the_other_stands_by_and_takes_over_after_expiry(conn, name):
    a, b = lease(conn, name), lease(conn, name)
    a.step()
    b.step()
    assert a.active and not b.active
    a.check("write")
    with pytest.raises(NotActive, match=r"not the active instance, cannot write: passive: .* holds the lease"):
        b.check("write")
    assert b.holder is not None and b.holder.id == a.me.id and b.describe().startswith("passive: ")
    spec = conn.content.customizationSpecManager.GetCustomizationSpec(name)
    holder = parse_holder(spec.info.description)
    assert (holder.id, holder.pid) == (a.me.id, a.me.pid)
    # a renews for a while: b never gets it
    for _ in range(3):
        time.sleep(0.5)
        a.step()
        b.step()
        assert a.active and not b.active
    # a stops renewing (a machine that died): its own clock closes the gate before vCenter lets b in
    last = time.monotonic()
    while a.active:
        time.sleep(0.05)
    closed = time.monotonic() - last
    while not b.active:
        b.step()
        time.sleep(0.2)
    took = time.monotonic() - last
    print(f"\nlease 3 s: the holder's gate closed after {closed:.1f} s, the other took over after {took:.1f} s")
    assert closed < a.seconds <= took < a.seconds + 1.5
    # a comes back: it finds it lost the lease, and stays out
    a.step()
    assert a.lost and not a.active and b.active


def test_a_released_lease_or_a_holder_gone_from_this_machine_is_taken_over_at_once(conn, name):
    a, b = lease(conn, name, seconds=60.0, renew=10.0), lease(conn, name, seconds=60.0, renew=10.0)
    a.start()
    b.start()
    try:
        assert a.active and not b.active
        a.stop(release=True)
        b.step()
        assert b.active and not a.active
    finally:
        b.stop(release=False)
    # a holder on this machine whose process is gone (killed): no need to wait the 60 s out
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = socket.gethostname()
    c = lease(conn, name, machine=here, seconds=60.0, renew=10.0)
    c.me = replace(c.me, pid=dead.pid)
    c.step()  # b stopped without releasing (on another machine: it may be alive), valid for 60 s: c waits
    assert not c.active
    assert c._write(c._read())  # c holds it, as a process of this machine that then died
    d = lease(conn, name, machine=here, seconds=60.0, renew=10.0)
    d.step()
    assert d.active and d.holder.id == d.me.id


def test_two_writers_of_the_same_version_one_wins(conn, name):
    a, b = lease(conn, name), lease(conn, name)
    a.step()
    time.sleep(a.seconds + 0.5)  # expired: both may try
    item = a._read()
    assert b._write(item)  # b takes it with the version it read ...
    assert not a._write(item)  # ... a, with the same version, gets ConcurrentAccess
    b.step()
    a.step()
    assert b.active and not a.active and a.lost


def test_confirm_renews_in_vcenter_and_a_passive_instance_cannot_confirm(conn, name):
    a, b = lease(conn, name, seconds=30.0, renew=10.0), lease(conn, name, seconds=30.0, renew=10.0)
    a.step()
    b.step()
    before = a._read().info.changeVersion
    a.confirm("start a migration")
    assert a._read().info.changeVersion != before
    with pytest.raises(NotActive, match="cannot start a migration"):
        b.confirm("start a migration")
