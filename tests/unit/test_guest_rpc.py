"""The guest RPC transport: argv only, timeouts, and telling 'no value' / 'not a VM' / 'no Tools' apart."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from vsguesttruth.lab import FakeSys
from vsguesttruth_guest import rpc as rpcmod
from vsguesttruth_guest.errors import NotInVm, RpcFailed, ToolsMissing
from vsguesttruth_guest.rpc import Rpc, check_vmware, find_tool

FAKE = str(Path(__file__).resolve().parents[1] / "fakes" / "rpctool.py")


@pytest.fixture
def store(tmp_path, monkeypatch):
    folder = tmp_path / "guestinfo"
    folder.mkdir()
    monkeypatch.setenv("VSGT_FAKE_GUESTINFO_DIR", str(folder))
    monkeypatch.setenv("VSGT_FAKE_RPC_LOG", str(tmp_path / "rpc.log"))
    return folder


def calls(tmp_path):
    return [json.loads(line) for line in (tmp_path / "rpc.log").read_text().splitlines()]


def test_get_and_set_round_trip_with_one_argv_element(store, tmp_path):
    tool = Rpc([FAKE])
    assert tool.get("guestinfo.vsguesttruth.state") is None
    value = '{"reason": "$(touch /tmp/x); `id` | cat", "a b": "c  d"}'
    tool.set("guestinfo.vsguesttruth.request", value)
    assert tool.get("guestinfo.vsguesttruth.request") == value.encode()
    assert calls(tmp_path)[1] == [FAKE, f"info-set guestinfo.vsguesttruth.request {value}"]
    tool.set("guestinfo.vsguesttruth.request", "")
    assert tool.get("guestinfo.vsguesttruth.request") is None


def test_vmtoolsd_gets_cmd(tmp_path, store):
    vmtoolsd = tmp_path / "vmtoolsd"
    vmtoolsd.symlink_to(FAKE)
    tool = Rpc.locate(str(vmtoolsd))
    assert tool.argv == [str(vmtoolsd), "--cmd"]
    assert tool.get("guestinfo.x") is None
    assert calls(tmp_path)[-1] == [str(vmtoolsd), "--cmd", "info-get guestinfo.x"]


def test_only_one_trailing_newline_is_removed(store):
    (store / "guestinfo.k").write_text("value\n")
    assert Rpc([FAKE]).get("guestinfo.k") == b"value\n"


def test_outside_a_vm_the_tool_says_so(store, monkeypatch):
    monkeypatch.setenv("VSGT_FAKE_NOT_IN_VM", "1")
    with pytest.raises(NotInVm, match="must be run inside a virtual machine"):
        Rpc([FAKE]).get("guestinfo.vsguesttruth.state")


def test_failures_and_timeouts(store, monkeypatch):
    with pytest.raises(RpcFailed, match="Invalid key"):
        Rpc([FAKE]).set("other.key", "x")
    monkeypatch.setenv("VSGT_FAKE_RPC_SLEEP", "5")
    with pytest.raises(RpcFailed, match="did not answer within 0.3 s"):
        Rpc([FAKE], timeout=0.3).get("guestinfo.x")


def test_too_large_for_the_rpc_channel(store):
    with pytest.raises(RpcFailed, match="over the 65536 byte RPC limit"):
        Rpc([FAKE]).set("guestinfo.x", "x" * 70000)


def test_tools_missing(tmp_path, monkeypatch):
    with pytest.raises(ToolsMissing, match="does not exist or is not executable"):
        find_tool(str(tmp_path / "vmware-rpctool"))
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(ToolsMissing):
        find_tool(str(plain))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(rpcmod, "SEARCH_DIRS", (str(tmp_path / "none"),))
    with pytest.raises(ToolsMissing, match="VMware Tools missing"):
        find_tool(None)
    with pytest.raises(ToolsMissing, match="cannot run"):
        Rpc([str(tmp_path / "gone")]).get("guestinfo.x")


def test_autodetect_prefers_rpctool_then_vmtoolsd(tmp_path, monkeypatch):
    for name in ("vmtoolsd", "vmware-rpctool"):
        path = tmp_path / name
        path.write_text("#!/bin/sh\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_tool(None) == [str(tmp_path / "vmware-rpctool")]
    os.unlink(tmp_path / "vmware-rpctool")
    assert find_tool(None) == [str(tmp_path / "vmtoolsd"), "--cmd"]
    # a minimal PATH (cron): the usual install folders are searched too
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(rpcmod, "SEARCH_DIRS", (str(tmp_path),))
    assert find_tool(None) == [str(tmp_path / "vmtoolsd"), "--cmd"]


def test_vm_check_by_dmi_vendor(tmp_path):
    check_vmware(FakeSys(tmp_path / "vmware").root)
    with pytest.raises(NotInVm, match="system vendor is 'QEMU'"):
        check_vmware(FakeSys(tmp_path / "kvm", vendor="QEMU").root)
    check_vmware(FakeSys(tmp_path / "nodmi", vendor=None).root)  # cannot tell: the RPC tool decides
