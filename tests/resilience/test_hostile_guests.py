"""Hostile guests, fuzzed over SOAP: whatever a guest puts into its own guestinfo keys, the service answers it,
keeps serving, and changes nothing outside that VM.

A guest can only ``info-set`` its own VM's ``guestinfo.*`` keys; the lab's stand-in for that is a ReconfigVM
of one key. Values are what hypothesis makes of huge, nested, wrongly typed, injection-shaped and
other-VM-naming input (limited to characters SOAP's XML can carry: the raw-bytes cases, invalid UTF-8 included,
are fuzzed on the parsers in tests/unit/test_guest_policy.py and test_requests.py). After every value one
publish pass runs against the lab, and every other VM's keys are compared with what they were.
"""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vsguesttruth.config import Config
from vsguesttruth.guestinfo import KEYS, POLICY, REQUEST, RESPONSE, STATE, decode_state, load_schema
from vsguesttruth.reconcile import Write, publish_once
from vsguesttruth.vcenter import Publisher, read_guestinfo, snapshot

pytestmark = pytest.mark.lab

VICTIM = "web12"
STATE_SCHEMA = jsonschema.Draft202012Validator(load_schema("state"))
RESPONSE_SCHEMA = jsonschema.Draft202012Validator(load_schema("response"))


def xml_safe(text: str) -> str:
    """What a SOAP (XML 1.0) value can carry: no C0 controls but tab/LF/CR, no U+FFFE/FFFF."""
    return "".join(c for c in text if c in "\t\n\r" or (" " <= c and c not in "\ufffe\uffff"))


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                      st.text(max_size=40))
JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=5)),
                    max_leaves=25)
PLAUSIBLE = st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.text(max_size=80), st.integers(), st.none()),
    "action": st.sampled_from(["migrate", "refresh", "MIGRATE", "delete", "", "migrate;reboot"]),
    "reason": st.text(max_size=300),
    "vm": st.sampled_from(["web01", "db01", "vm-80", "*", "../web01"]),  # a request naming another VM
    "target": st.sampled_from(["esx-a02", "host-30", "ds-gold-replica"]),
    "schema": st.integers(-1, 3),
    "refresh_interval": st.one_of(st.integers(-10**12, 10**12), st.text(max_size=5)),
    "publish": st.sampled_from(["on_change", "interval", "always", 1]),
    "fields": st.lists(st.sampled_from(["luns", "uuid", "password", "../../etc", "explanation"]), max_size=8),
    "min_working_paths": st.integers(-5, 10**9),
})
INJECTION = st.sampled_from([
    "$(reboot)", "`id`", "; rm -rf /", "' OR '1'='1", "<xml>&lt;&#0;</xml>", "../../../etc/shadow",
    "guestinfo.vsguesttruth.state=x", '{"id":"r1","action":"migrate","vm":"db01"}',
    '{"__proto__":{"admin":true},"id":"p","action":"refresh"}', "\u202e\u200b\ufeff", "%s%s%n",
    "{" * 5000 + "}" * 5000, "[" * 100000,
    '{"id":"deep","action":"refresh","reason":' + "[" * 480 + "]" * 480 + "}",  # 1 KiB, past the recursion limit
])
HUGE = st.integers(1, 200_000).map(lambda n: "A" * n)
VALUES = st.one_of(st.text(max_size=2000), JSON.map(json.dumps), PLAUSIBLE.map(json.dumps), INJECTION, HUGE).map(xml_safe)


@pytest.fixture(scope="module")
def vms(conn) -> dict[str, str]:
    return {vm.name: vm.moref for vm in snapshot(conn).vms.values()}


@pytest.fixture(scope="module")
def published(lab, conn, vms):
    """Every VM published once (and our keys wiped again afterwards)."""
    with Publisher(conn) as pub:
        publish_once(conn, Config(), publisher=pub)
    yield {name: read_guestinfo(conn, moref) for name, moref in vms.items()}
    inv = snapshot(conn)
    with Publisher(conn) as pub:
        pub.write([Write(vm.moref, vm.name, {k: "" for k in KEYS})
                   for vm in inv.vms.values() if any(k.lower() in KEYS for k in vm.guestinfo)])


def guest_sets(conn, moref: str, key: str, value: str) -> None:
    with Publisher(conn, attempts=1) as pub:
        [result] = pub.write([Write(moref, VICTIM, {key: value})])
    assert result.ok, result.error


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from([REQUEST, POLICY, STATE]), value=VALUES)
def test_any_guest_value_is_answered_and_touches_nothing_outside_its_vm(conn, vms, published, key, value):
    victim = vms[VICTIM]
    before = {name: read_guestinfo(conn, moref) for name, moref in vms.items() if name != VICTIM}
    guest_sets(conn, victim, key, value)
    with Publisher(conn) as pub:
        result = publish_once(conn, Config(), publisher=pub)
    assert result.failed == 0
    assert {o.name for o in result.outcomes if o.state == "written" or o.response} <= {VICTIM}
    after = {name: read_guestinfo(conn, moref) for name, moref in vms.items() if name != VICTIM}
    assert after == before, "another VM's keys changed"
    mine = read_guestinfo(conn, victim)
    doc = decode_state(mine[STATE])  # our document is back in place, whatever the guest wrote there
    STATE_SCHEMA.validate(doc)
    assert doc["vm"]["name"] == VICTIM
    if key == REQUEST and value:
        answer = json.loads(mine[RESPONSE])
        RESPONSE_SCHEMA.validate(answer)
        assert answer["status"] in ("refused", "accepted", "done", "policy_invalid", "rate_limited", "invalid"), answer
    if key == POLICY and value:
        assert doc["policy"]["status"] in ("applied", "invalid"), doc["policy"]
