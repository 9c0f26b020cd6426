"""The guest agent's logic: reading documents, joining them with devices, watching, hooks, writing."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakes.documents import GB, disk, document, response
from vsguesttruth.lab import FakeSys, naa_of
from vsguesttruth_guest import agent, devices, guestinfo, validate
from vsguesttruth_guest.errors import BadDocument, NewerSchema, NoDocument, WaitTimeout

U1 = "6000C291-5fd3-bc63-a440-856334b189ec"
HOSTILE = "$(touch {p}) `touch {p}`; touch {p} | touch {p} && touch {p}\n\x1b[31mred\x00"


def schema_validator(name: str):
    return jsonschema.Draft202012Validator(guestinfo.load_schema(name))


def db01(verdict="healthy") -> dict:
    return document([
        disk("Hard disk 1", "lsilogic", 0, 0, verdict, uuid=U1, capacity=60 * GB),
        disk("Hard disk 3", "pvscsi", 1, 1, capacity=100 * GB),
    ])


class FakeRpc:
    def __init__(self, values=None):
        self.values = dict(values or {})
        self.sets = []

    def get(self, key):
        value = self.values.get(key)
        if callable(value):
            value = value()
        return None if value is None else value.encode() if isinstance(value, str) else value

    def set(self, key, value):
        self.sets.append((key, value))
        self.values[key] = value


def test_fixtures_follow_the_published_schemas():
    schema_validator("state").validate(db01("media_failure"))
    schema_validator("response").validate(response("g1-ab", "refused", "no", "migrate"))


# -- reading ------------------------------------------------------------------------------------

def test_plain_and_enveloped_documents_decode():
    doc = db01()
    assert agent.load_state(guestinfo.encode_state(doc)) == doc
    big = document([disk(f"Hard disk {i}", "pvscsi", i // 15, i % 15, explanation="x" * 900) for i in range(60)])
    value = guestinfo.encode_state(big)
    assert json.loads(value)["encoding"] == "gzip+base64"
    assert agent.load_state(value.encode()) == big


@pytest.mark.parametrize("value", [
    json.dumps({**db01(), "schema": 2}),
    json.dumps({"schema": 2, "encoding": "zstd+base64", "data": "AAAA"}),
    json.dumps({"schema": 7, "something": "else entirely"}),
])
def test_newer_schema_is_told_apart(value):
    with pytest.raises(NewerSchema, match="upgrade vsguesttruth-guest"):
        agent.load_state(value)


@pytest.mark.parametrize("value, needle", [
    ("not json", "cannot be decoded"),
    (b"\xff\xfe", "cannot be decoded"),
    (json.dumps({"schema": 1, "encoding": "gzip+base64", "data": "!!!"}), "cannot be decoded"),
    (json.dumps({**db01(), "disks": "none"}), "not valid: disks"),
    (json.dumps({**db01(), "disks": [{**disk("d", "pvscsi", 0, 0), "verdict": "fine"}]}), "disks[0].verdict"),
    (json.dumps({k: v for k, v in db01().items() if k != "vm"}), "'vm' is missing"),
    (json.dumps({**db01(), "schema": 0}), "must be 1"),
    ("[" * 100000, "cannot be decoded"),
])
def test_undecodable_documents(value, needle):
    with pytest.raises(BadDocument) as err:
        agent.load_state(value)
    assert not isinstance(err.value, NewerSchema)
    assert needle in str(err.value)


def test_unknown_fields_of_the_same_schema_are_tolerated():
    doc = db01()
    doc["future_field"] = {"x": 1}
    doc["disks"][0]["iops"] = 5
    assert agent.load_state(json.dumps(doc))["future_field"] == {"x": 1}


def test_read_state_without_a_value():
    with pytest.raises(NoDocument, match="no storage document yet"):
        agent.read_state(FakeRpc())
    with pytest.raises(NoDocument):
        agent.read_state(FakeRpc({guestinfo.STATE: "  "}))


# -- the joined view ----------------------------------------------------------------------------

def test_view_joins_disks_and_devices(tmp_path):
    fs = FakeSys(tmp_path)
    fs.scsi_host(0, "mptspi", "0000:00:10.0").scsi_host(2, "vmw_pvscsi", "0000:03:00.0")
    fs.scsi_disk("sda", 0, 0, 60 * GB, wwid=f"naa.{naa_of(U1)}").scsi_disk("sdb", 2, 1, 100 * GB)
    view = agent.view(db01("degraded"), devices.scan(tmp_path))
    assert [(d["device"], d["verdict"], d["match"], d["advice"]) for d in view["disks"]] == [
        ("/dev/sda", "degraded", "wwid", "keep_using"), ("/dev/sdb", "healthy", "scsi-address", "none"),
    ]
    assert (view["vm"], view["host"], view["generation"]) == ("db01", "esx-a02", 1)
    assert not agent.healthy(view)
    assert agent.healthy(agent.view(db01(), devices.scan(tmp_path)))


def test_policy_interval_only_when_applied():
    doc = db01()
    assert agent.policy_interval(doc) is None
    doc["policy"] = {"status": "applied", "refresh_interval": 30}
    assert agent.policy_interval(doc) == 30
    doc["policy"] = {"status": "invalid", "refresh_interval": 30}
    assert agent.policy_interval(doc) is None


# -- watching -----------------------------------------------------------------------------------

def rows(*verdicts):
    doc = document([disk(f"Hard disk {i + 1}", "pvscsi", 0, i, v) for i, v in enumerate(verdicts)])
    return agent.view(doc, devices.GuestStorage())


def test_watch_reports_verdict_changes_only():
    w = agent.Watch()
    assert w.update(rows("healthy", "healthy")) == []
    assert w.update(rows("healthy", "healthy")) == []
    [change] = w.update(rows("healthy", "media_failure"))
    assert (change["label"], change["old_verdict"], change["new_verdict"], change["advice"]) == ("Hard disk 2", "healthy", "media_failure", "fail_over")
    assert change["vm"] == "db01" and change["unit"] == 1
    gone = w.update(rows("healthy"))
    assert [(c["label"], c["old_verdict"], c["new_verdict"]) for c in gone] == [("Hard disk 2", "media_failure", "")]
    new = w.update(rows("healthy", "healthy"))
    assert [(c["label"], c["old_verdict"], c["new_verdict"]) for c in new] == [("Hard disk 2", "", "healthy")]


def test_watch_initial_reports_every_disk():
    w = agent.Watch(initial=True)
    assert [(c["old_verdict"], c["new_verdict"]) for c in w.update(rows("healthy", "degraded"))] == [("", "healthy"), ("", "degraded")]


def test_disks_without_a_place_are_keyed_by_label():
    a, b = disk("Hard disk 1", "other", -1, -1), disk("Hard disk 2", "other", -1, -1)
    assert agent.disk_key(a) != agent.disk_key(b)
    assert agent.disk_key(disk("x", "pvscsi", 0, 3)) == "pvscsi:0:3"


# -- hooks --------------------------------------------------------------------------------------

def write_hook(folder: Path) -> Path:
    """A hook that records its argv, stdin and VSGT_* environment."""
    hook = folder / "hook.py"
    hook.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "out = sys.argv[1]\n"
        "record = {'argv': sys.argv, 'stdin': sys.stdin.read(),\n"
        "          'env': {k: v for k, v in os.environ.items() if k.startswith('VSGT_')}}\n"
        "with open(out, 'a') as f: f.write(json.dumps(record) + '\\n')\n"
        "print('hook saw', os.environ['VSGT_DEVICE'])\n"
        "sys.exit(int(os.environ.get('HOOK_EXIT', '0')))\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    return hook


def test_hook_gets_the_change_on_stdin_and_in_env_and_no_shell_runs(tmp_path):
    hook = write_hook(tmp_path)
    pwned = tmp_path / "pwned"
    hostile = HOSTILE.format(p=pwned)
    change = {**agent.Watch(initial=True).update(rows("media_failure"))[0], "explanation": hostile, "label": hostile}
    result = agent.run_hook([str(hook), str(tmp_path / "out.jsonl"), f"$(touch {pwned})"], change)
    assert result.returncode == 0 and "hook saw" in result.output
    record = json.loads((tmp_path / "out.jsonl").read_text())
    assert record["argv"][2] == f"$(touch {pwned})"
    assert json.loads(record["stdin"]) == json.loads(json.dumps(change))
    assert json.loads(record["stdin"])["explanation"] == hostile
    env = record["env"]
    assert env["VSGT_EXPLANATION"] == hostile.replace("\x00", "")
    assert (env["VSGT_OLD_VERDICT"], env["VSGT_NEW_VERDICT"], env["VSGT_ADVICE"]) == ("", "media_failure", "fail_over")
    assert (env["VSGT_VM"], env["VSGT_UNIT"], env["VSGT_REACHABLE"]) == ("db01", "0", "false")
    assert not pwned.exists()


def test_hook_failures_and_timeouts_are_reported(tmp_path):
    hook = write_hook(tmp_path)
    change = agent.Watch(initial=True).update(rows("degraded"))[0]
    os.environ["HOOK_EXIT"] = "3"
    try:
        assert agent.run_hook([str(hook), str(tmp_path / "o")], change).returncode == 3
    finally:
        del os.environ["HOOK_EXIT"]
    sleeper = [sys.executable, "-c", "import time; time.sleep(5)"]
    assert agent.run_hook(sleeper, change, timeout=0.2).returncode is None
    assert agent.run_hook([str(tmp_path / "missing")], change).returncode == 127


def test_check_hook(tmp_path):
    assert agent.check_hook([str(write_hook(tmp_path))]) is None
    assert "does not exist" in agent.check_hook([str(tmp_path / "nope")])
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert "not executable" in agent.check_hook([str(plain)])
    assert "not found on PATH" in agent.check_hook(["no-such-hook-anywhere"])


def test_printable_escapes_control_characters():
    assert agent.printable("a\x1b[31mb\nc\x00") == "a\\x1b[31mb\\nc\\x00"
    assert agent.env_safe("a\x00b\ud800") == "ab?"


# -- writing ------------------------------------------------------------------------------------

def test_policy_is_built_and_checked():
    value = agent.build_policy(refresh_interval=30, publish="interval", fields=["luns"], min_working_paths=2,
                               min_reachable_devices=3)
    assert json.loads(value) == {"schema": 1, "refresh_interval": 30, "publish": "interval", "fields": ["luns"],
                                 "min_working_paths": 2, "min_reachable_devices": 3}
    schema_validator("policy").validate(json.loads(value))
    with pytest.raises(ValueError, match="min_working_paths: 33 is above the maximum 32"):
        agent.build_policy(min_working_paths=33)
    with pytest.raises(ValueError, match="items repeat"):
        agent.build_policy(fields=["luns", "luns"])
    with pytest.raises(ValueError, match="refresh_interval: 0 is below"):
        agent.build_policy(refresh_interval=0)


def test_request_is_built_and_checked():
    rid, value = agent.build_request("migrate", "paths to gold01 lost")
    assert json.loads(value) == {"id": rid, "action": "migrate", "reason": "paths to gold01 lost"}
    schema_validator("request").validate(json.loads(value))
    assert rid != agent.new_request_id()
    with pytest.raises(ValueError, match="longer than 256"):
        agent.build_request("migrate", "x" * 257)
    with pytest.raises(ValueError, match="is not one of"):
        agent.build_request("reboot")
    with pytest.raises(ValueError, match="does not match"):
        agent.build_request("refresh", request_id="bad id")
    with pytest.raises(guestinfo.DocumentError, match="limit is 1024"):  # 256 characters, but 4 bytes each
        agent.build_request("refresh", "\U0001f600" * 256)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 100000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6,
)
POLICY_KEYS = st.sampled_from(["schema", "refresh_interval", "publish", "fields", "min_working_paths", "min_reachable_devices", "other"])
POLICY_VALUES = st.one_of(
    st.integers(-2, 90000), st.sampled_from(["on_change", "interval", "x"]), st.just(1),
    st.lists(st.sampled_from(["luns", "explanation", "datastores", "capacity", "uuid", "nope"]), max_size=4), JSONISH,
)


@given(st.dictionaries(POLICY_KEYS, POLICY_VALUES, max_size=5))
def test_our_validator_agrees_with_jsonschema_on_policies(value):
    expected = schema_validator("policy").is_valid(value)
    try:
        validate.check("policy", value)
        ours = True
    except validate.Invalid:
        ours = False
    assert ours == expected


@given(st.dictionaries(st.sampled_from(["id", "action", "reason", "x"]),
                       st.one_of(st.text(max_size=70), st.sampled_from(["refresh", "migrate"]), JSONISH), max_size=4))
def test_our_validator_agrees_with_jsonschema_on_requests(value):
    expected = schema_validator("request").is_valid(value)
    try:
        validate.check("request", value)
        ours = True
    except validate.Invalid:
        ours = False
    assert ours == expected


# -- answers ------------------------------------------------------------------------------------

def test_wait_response_for_an_id():
    answers = iter([None, json.dumps(response("other", "refused")), json.dumps(response("g1", "accepted", action="migrate")),
                    json.dumps(response("g1", "done", action="migrate"))])
    rpc = FakeRpc({guestinfo.RESPONSE: lambda: next(answers)})
    seen = []
    answer = agent.wait_response(rpc, lambda a: a["id"] == "g1", 5, 0, until_final=True, on_answer=seen.append, sleep=lambda s: None)
    assert answer["status"] == "done" and [a["status"] for a in seen] == ["accepted"]


def test_wait_response_times_out():
    rpc = FakeRpc({guestinfo.RESPONSE: json.dumps(response("g1", "accepted"))})
    with pytest.raises(WaitTimeout, match="accepted but not finished"):
        agent.wait_response(rpc, lambda a: a["id"] == "g1", 0.05, 0.01, until_final=True)
    with pytest.raises(WaitTimeout, match="no answer within"):
        agent.wait_response(rpc, lambda a: a["id"] == "g2", 0.05, 0.01)


def test_responses_are_read_strictly():
    assert agent.load_response(json.dumps(response("g1", "refused")))["status"] == "refused"
    with pytest.raises(BadDocument):
        agent.load_response('{"id": "g1", "id": "g2"}')
    with pytest.raises(BadDocument, match="status"):
        agent.load_response(json.dumps({**response("g1", "refused"), "status": "maybe"}))
    with pytest.raises(NewerSchema):
        agent.load_response(json.dumps({**response("g1", "refused"), "schema": 2}))
