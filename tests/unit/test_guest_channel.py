"""The guest agent on VM data sets, as a guest runs it: real processes, the stand-in tool (fakes/rpctool.py)
as ``vmware-rpctool`` and, beside it, as ``vmtoolsd`` answering the data set commands from a file as the VMX
does. The agent reads the state and answers from ``vsguesttruth`` and writes its policy and requests to
``vsguesttruth-guest`` when the VM has them, and uses guestinfo otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.documents import GB, disk, document

from vsguesttruth.lab import FakeSys
from vsguesttruth_guest import guestinfo
from vsguesttruth_guest.datasets import GUEST_SET, HOST_SET

GUEST = str(Path(sys.executable).parent / "vsguesttruth-guest")
FAKE = Path(__file__).resolve().parents[1] / "fakes" / "rpctool.py"


class DataSetGuest:
    def __init__(self, tmp: Path, sets: dict | None, vmtoolsd: bool = True) -> None:
        tmp.mkdir(exist_ok=True)
        self.info = tmp / "guestinfo"
        self.info.mkdir()
        self.sets = tmp / "datasets.json"
        self.sets.write_text(json.dumps(sets or {}))
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "vmware-rpctool").symlink_to(FAKE)
        if vmtoolsd:
            (bin_dir / "vmtoolsd").symlink_to(FAKE)
        self.sys = FakeSys(tmp / "sys")
        self.sys.scsi_host(0, "mptspi", "0000:00:10.0").scsi_disk("sda", 0, 0, 60 * GB)
        self.env = {"PATH": os.environ["PATH"], "VSGT_RPCTOOL": str(bin_dir / "vmware-rpctool"),
                    "VSGT_SYSFS": str(self.sys.root), "VSGT_FAKE_GUESTINFO_DIR": str(self.info),
                    **({"VSGT_FAKE_DATASETS": str(self.sets)} if sets is not None else {})}

    def run(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run([GUEST, *args], env=self.env, capture_output=True, text=True, timeout=30)

    def entry(self, dataset: str, key: str):
        return json.loads(self.sets.read_text())[dataset]["entries"].get(key)

    def guestinfo(self, key: str):
        path = self.info / key
        return path.read_text() if path.exists() else None


def doc(vm: str, verdict: str = "healthy", **extra) -> str:
    return guestinfo.encode_state(document([disk("Hard disk 1", "lsilogic", 0, 0, verdict, capacity=60 * GB)],
                                           vm=vm, **extra))


def ours(state: str | None = None, response: str | None = None, guest_set: bool = True) -> dict:
    sets = {HOST_SET: {"guest": "READ_ONLY", "entries": {k: v for k, v in (("state", state), ("response", response)) if v}}}
    if guest_set:
        sets[GUEST_SET] = {"guest": "READ_WRITE", "entries": {}}
    return sets


def test_the_state_is_read_from_the_data_set_not_an_old_guestinfo(tmp_path):
    g = DataSetGuest(tmp_path, ours(doc("web01", "degraded")))
    (g.info / guestinfo.STATE).write_text(doc("web01", "healthy"))  # left from before the switch
    result = g.run("status", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["verdict"] == "degraded", result.stderr


def test_policy_and_requests_go_to_the_guest_data_set_and_answers_come_from_ours(tmp_path):
    answer = json.dumps({"schema": 1, "id": "policy", "status": "policy_applied", "message": "ok",
                         "at": "2025-01-01T00:00:00Z"})
    g = DataSetGuest(tmp_path, ours(doc("web01"), answer))
    assert g.run("set-policy", "--poll-interval", "30").returncode == 0
    assert json.loads(g.entry(GUEST_SET, "policy")) == {"schema": 1, "poll_interval": 30}
    sent = g.run("request-refresh", "--reason", "now")
    assert sent.returncode == 0, sent.stderr
    request = json.loads(g.entry(GUEST_SET, "request"))
    assert request["action"] == "refresh" and request["reason"] == "now"
    assert "poll_interval" in sent.stderr  # the applied policy has none yet: the guest is told how it is read
    assert g.guestinfo(guestinfo.REQUEST) is None and g.guestinfo(guestinfo.POLICY) is None
    shown = g.run("show-response", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["status"] == "policy_applied"
    denied = DataSetGuest(tmp_path / "ro", {HOST_SET: {"guest": "READ_ONLY", "entries": {}},
                                            GUEST_SET: {"guest": "READ_ONLY", "entries": {}}})
    result = denied.run("request-refresh")
    assert result.returncode == 7 and "access-denied" in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("case", ["no vmtoolsd", "tools without data sets", "not our data sets"])
def test_without_our_data_sets_the_agent_uses_guestinfo(tmp_path, case):
    sets = {"no vmtoolsd": ours(doc("web01", "degraded")), "tools without data sets": None,
            "not our data sets": {"com.example.other": {"guest": "READ_WRITE", "entries": {}}}}[case]
    g = DataSetGuest(tmp_path, sets, vmtoolsd=case != "no vmtoolsd")
    (g.info / guestinfo.STATE).write_text(doc("web03"))
    result = g.run("status", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["vm"] == "web03", result.stderr
    assert g.run("request-refresh").returncode == 0 and g.guestinfo(guestinfo.REQUEST)


def test_without_the_guest_data_set_requests_and_answers_stay_in_guestinfo(tmp_path):
    g = DataSetGuest(tmp_path, ours(doc("web01"), guest_set=False))
    assert json.loads(g.run("status", "--json").stdout)["vm"] == "web01"
    assert g.run("request-refresh").returncode == 0
    assert g.guestinfo(guestinfo.REQUEST) and g.entry(HOST_SET, "request") is None
    (g.info / guestinfo.RESPONSE).write_text(json.dumps({"schema": 1, "id": "x", "status": "done", "message": "m",
                                                         "at": "2025-01-01T00:00:00Z"}))
    assert json.loads(g.run("show-response", "--json").stdout)["id"] == "x"


def test_no_state_in_the_data_set_yet_is_nothing_published(tmp_path):
    g = DataSetGuest(tmp_path, ours())
    result = g.run("status")
    assert result.returncode == 5 and "no storage document yet" in result.stderr
