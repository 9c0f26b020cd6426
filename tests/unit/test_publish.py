"""The publisher's retry policy, without vCenter: transient faults are retried, others fail that write only."""

from __future__ import annotations

import socket

import pytest
from pyVmomi import vim, vmodl

from vsguesttruth.reconcile import Write
from vsguesttruth.vcenter import ConnectionSettings, Publisher, is_transient


class FakeConn:
    def __init__(self) -> None:
        self.settings = ConnectionSettings(url="https://vc.example/sdk", username="u", password="secret-pw")
        self.generation = 0
        self.reconnects = 0

    def reconnect(self, seen_generation=None) -> int:
        self.reconnects += 1
        self.generation += 1
        return self.generation


class Scripted(Publisher):
    """Raises the scripted faults in turn for each VM, then succeeds."""

    def __init__(self, faults: dict[str, list[BaseException]], **kw) -> None:
        super().__init__(FakeConn(), backoff=(0.001, 0.002), **kw)
        self.faults = faults
        self.sent: list[tuple[str, dict]] = []

    def _reconfigure(self, moref, values, what):
        queue = self.faults.get(moref, [])
        if queue:
            raise queue.pop(0)
        self.sent.append((moref, dict(values)))


def w(moref: str) -> Write:
    return Write(moref, moref, {"guestinfo.vsguesttruth.state": "{}"})


def test_transient_faults_are_retried():
    pub = Scripted({"vm-1": [vim.fault.TaskInProgress(), vim.fault.ConcurrentAccess()],
                    "vm-2": [ConnectionResetError()]})
    results = pub.write([w("vm-1"), w("vm-2"), w("vm-3")])
    assert [r.ok for r in results] == [True, True, True]
    assert [r.attempts for r in results] == [3, 2, 1]
    assert pub.tasks == 6 and pub.writes == 3 and pub.retries == 3 and pub.failures == 0
    assert pub.conn.reconnects == 1  # a lost connection logs in again before the retry
    assert sorted(x.vm for x in pub.recent()) == ["vm-1", "vm-2", "vm-3"]


def test_permanent_faults_fail_that_write_only():
    pub = Scripted({"vm-1": [vmodl.fault.InvalidArgument(invalidProperty="extraConfig")],
                    "vm-2": [vmodl.fault.NotSupported()]})
    results = pub.write([w("vm-1"), w("vm-2"), w("vm-3")])
    assert [r.ok for r in results] == [False, False, True]
    assert results[0].attempts == 1 and "InvalidArgument" in results[0].error
    assert pub.failures == 2 and pub.writes == 1


def test_retries_are_bounded():
    pub = Scripted({"vm-1": [vim.fault.TaskInProgress()] * 10}, attempts=3)
    [result] = pub.write([w("vm-1")])
    assert not result.ok and result.attempts == 3 and "TaskInProgress" in result.error
    assert "secret-pw" not in result.error


def test_only_our_keys_are_ever_written():
    pub = Scripted({})
    with pytest.raises(ValueError, match="only guestinfo.vsguesttruth"):
        pub.write([Write("vm-1", "vm-1", {"guestinfo.other": "x"})])
    assert pub.tasks == 0


def test_dry_run_sends_nothing():
    pub = Scripted({}, dry_run=True)
    assert all(r.ok for r in pub.write([w("vm-1"), w("vm-2")]))
    assert pub.tasks == 0 and pub.skipped == 2 and pub.refresh(["host-1"]) == {}


def test_transient_classification():
    assert is_transient(vim.fault.TaskInProgress()) and is_transient(socket.timeout())
    assert is_transient(vim.fault.NotAuthenticated())
    assert not is_transient(vmodl.fault.InvalidArgument()) and not is_transient(vim.fault.NoPermission())
