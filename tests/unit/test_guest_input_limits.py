"""Guest input at and past every limit: deep nesting, sizes, encodings, in the policy, request, response and
state keys. Each value is parsed without recursion, refused with an answer, logged once; no exception leaves
a pass and every request gets exactly one answer.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vsguesttruth.config import Config, GuestConfig
from vsguesttruth.guestinfo import (GUEST_DEPTH, POLICY, POLICY_LIMIT, REQUEST, REQUEST_LIMIT, RESPONSE, RPC_LIMIT,
                                    STATE, STATE_DEPTH, DocumentError, decode_state, load_schema, nesting,
                                    parse_guest_json)
from vsguesttruth.guestinfo import (RequestBook, RequestError, answered_request, effective_policy, parse_request,
                                    read_response)
from vsguesttruth.ratelog import RateLog
from vsguesttruth_guest.agent import load_response, load_state
from vsguesttruth_guest.errors import BadDocument

from fakes.reconcile import reconciler as setup

RESPONSE_SCHEMA = jsonschema.Draft202012Validator(load_schema("response"))


def deep(levels: int, opener: str = "[") -> str:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return opener * levels + "1" + closer * levels


# An 834-byte request: 417 levels of arrays, within the 1 KiB limit, past Python's recursion in a naive walk.
DEEP_REQUEST = '{"id":"r1","action":"refresh","reason":' + "[" * 396 + "]" * 396 + "}"


def test_a_deep_request_within_the_size_limit_is_refused_not_crashed():
    assert len(DEEP_REQUEST) <= REQUEST_LIMIT
    try:
        parse_request(DEEP_REQUEST)
    except RequestError as err:
        assert "nested too deeply" in str(err)
    else:
        raise AssertionError("a deep request was accepted")
    decision = RequestBook(per_hour=6).triage("vm-1", DEEP_REQUEST, None, 0.0)
    assert decision.kind == "refuse" and "nested too deeply" in decision.message


def test_deep_values_in_every_parser():
    for levels in (GUEST_DEPTH + 1, 330, 417, 5000, 100_000):
        for opener in ("[", '{"a":'):
            text = deep(levels, opener)
            policy = effective_policy('{"fields":' + text + "}", GuestConfig())
            assert policy.status == "invalid" and ("nested too deeply" in policy.message
                                                   or "bytes; the limit" in policy.message), policy.message
            assert read_response('{"id":' + text + "}") == {}
            for limit, what in ((REQUEST_LIMIT, "request"), (POLICY_LIMIT, "policy"), (RPC_LIMIT, "response")):
                try:
                    parse_guest_json('{"x":' + text + "}", limit, what)
                except DocumentError:
                    pass
                else:
                    raise AssertionError(f"{what}: {levels} levels accepted")
            for raw in ('{"schema":1,"x":' + text + "}", text):
                if levels <= STATE_DEPTH:
                    continue
                try:
                    decode_state(raw)
                except DocumentError:
                    pass
                else:
                    raise AssertionError("a deep state value decoded")
                try:
                    load_state(raw)
                except BadDocument:
                    pass
                try:
                    load_response(raw)
                except BadDocument:
                    pass


def test_nesting_is_counted_as_json_counts_it():
    assert nesting("{}", 9) == 1 and nesting('{"a":[1,{"b":"[[[["}]}', 9) == 3
    assert nesting('"\\"[["', 9) == 0 and nesting("[]" * 1000, 9) == 1
    assert nesting("[" * 100_000, 9) == 10  # stops counting past the limit
    assert nesting('{"a":"\\\\"}', 9) == 1  # an escaped backslash ends the string
    parse_guest_json('{"a":[[[1]]]}', REQUEST_LIMIT, "request")  # 4 levels: allowed
    assert nesting(json.dumps({"disks": [{"luns": [{"paths": [[{}]]}]}]}), STATE_DEPTH) == 8


def test_a_deep_request_is_answered_once_and_logged_in_one_line(caplog):
    vc, rec, clock = setup()
    rec.reconcile(vc.inv)
    vc.written()
    caplog.set_level(logging.DEBUG, logger="vsguesttruth")
    vc.guest("web01", REQUEST, DEEP_REQUEST)
    result = rec.reconcile(vc.inv)
    assert result.failed == 0 and vc.written() == ["web01"]
    answer = vc.response("web01")
    RESPONSE_SCHEMA.validate(answer)
    assert answer["status"] == "refused" and "nested too deeply" in answer["message"]
    lines = [r for r in caplog.records if "refused a request of web01" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert all(r.exc_info is None for r in caplog.records)
    assert len(caplog.text) < 2000
    rec.reconcile(vc.inv)
    assert vc.written() == []  # answered once


def test_a_deep_response_key_does_not_block_later_answers():
    vc, rec, clock = setup()
    rec.reconcile(vc.inv)
    vc.written()
    vc.guest("web01", RESPONSE, '{"id":' + "[" * 500 + "]" * 500 + "}")
    assert rec.reconcile(vc.inv).failed == 0
    vc.guest("web01", REQUEST, json.dumps({"id": "r2", "action": "refresh"}))
    result = rec.reconcile(vc.inv)
    assert result.failed == 0 and vc.response("web01")["id"] == "r2"
    assert vc.response("web01")["status"] == "accepted"


def test_a_bug_in_one_vms_pass_logs_one_line_per_period(caplog, monkeypatch):
    vc, rec, clock = setup()
    rec.reconcile(vc.inv)

    def broken(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(rec.sync, "plan", broken)  # a bug in the per-VM sync
    caplog.set_level(logging.DEBUG, logger="vsguesttruth")
    for i in range(5):
        vc.guest("web01", POLICY, json.dumps({"refresh_interval": 60 + i}))
        result = rec.reconcile(vc.inv)
        assert result.failed == 1 and [o.name for o in result.outcomes if o.state == "failed"] == ["web01"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "web01" in errors[0].getMessage() and errors[0].exc_info is None


def test_ratelog_says_how_many_it_dropped(caplog):
    now = [0.0]
    limited = RateLog(logging.getLogger("vsguesttruth.test"), 60.0, clock=lambda: now[0], max_keys=2)
    caplog.set_level(logging.INFO, logger="vsguesttruth.test")
    assert limited.log(logging.INFO, "a", "x %s", 1) and not limited.log(logging.INFO, "a", "x %s", 2)
    now[0] = 61.0
    assert limited.log(logging.INFO, "a", "x %s", 3)
    assert caplog.messages == ["x 1", "x 3 (1 more like it in the last 60 s not logged)"]
    for key in "bcdef":  # the memory stays bounded
        limited.log(logging.INFO, key, "y")
    assert len(limited._last) <= 2


# ---------------------------------------------------------------------------------------------------
# Fuzz: whatever the guest writes into its four keys, a pass answers each request once and raises nothing

LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                 st.text(max_size=20))
JSON = st.recursive(LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                 st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                    max_leaves=20)


@st.composite
def nested(draw) -> str:
    """Brackets around a value, up to and past every depth limit, opened and sometimes not closed."""
    levels = draw(st.one_of(st.integers(0, 8), st.integers(GUEST_DEPTH - 1, GUEST_DEPTH + 2),
                            st.integers(STATE_DEPTH - 1, STATE_DEPTH + 2), st.integers(300, 1200),
                            st.integers(1000, 40_000)))
    openers = draw(st.lists(st.sampled_from(["[", '{"k":', '{"id":"r","action":"refresh","reason":']),
                            min_size=1, max_size=3))
    text = "".join(openers[i % len(openers)] for i in range(levels))
    closers = "".join("]" if openers[i % len(openers)] == "[" else "}" for i in reversed(range(levels)))
    inner = draw(st.one_of(JSON.map(json.dumps), st.just("1")))
    return text + inner + (closers if draw(st.booleans()) else closers[: len(closers) // 2])


def envelope(inner: bytes) -> str:
    """A state value in the gzip+base64 envelope around ``inner``."""
    data = base64.b64encode(gzip.compress(inner, mtime=0)).decode()
    return json.dumps({"schema": 1, "encoding": "gzip+base64", "data": data})


def test_envelopes_are_bounded_too():
    for inner in (b"[" * 5000 + b"]" * 5000, b" " * (2**20 + 1) + b"{}"):
        try:
            decode_state(envelope(inner))
        except DocumentError as err:
            assert "nested too deeply" in str(err) or "more than 1 MiB" in str(err)
        else:
            raise AssertionError("decoded")
    assert decode_state(envelope(b'{"schema":1}')) == {"schema": 1}


def sized(limit: int) -> st.SearchStrategy[str]:
    """A request-shaped value of about ``limit`` bytes: just within, at, or past it."""
    return st.integers(limit - 40, limit + 40).map(
        lambda n: json.dumps({"id": "big", "action": "refresh", "reason": "x" * max(0, n - 50)}))


ENCODED = st.one_of(
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", errors="surrogateescape")),  # invalid UTF-8
    st.just("\ufeff" + json.dumps({"id": "bom", "action": "refresh"})),
    st.text(max_size=200).map(lambda t: json.dumps({"id": "u", "action": "refresh", "reason": t}, ensure_ascii=False)),
    st.text(max_size=60).map(lambda t: json.dumps({"id": "e", "action": "refresh", "reason": t}, ensure_ascii=True)),
    st.just('{"id":"d","id":"e","action":"refresh"}'), st.just('{"id":"n","action":"refresh","reason":NaN}'),
    st.just('{"id":"big","action":"refresh","reason":' + "9" * 5000 + "}"),
    st.just('{"schema":1,"encoding":"gzip+base64","data":"H4sI' + "A" * 200 + '"}'),
    st.integers(STATE_DEPTH - 1, 5000).map(lambda n: envelope(b"[" * n + b"]" * n)),  # deep inside the envelope
    st.integers(2**20 - 10, 2**20 + 10).map(lambda n: envelope(b" " * n + b"{}")),  # a small gzip bomb
)
# deep but small: past Python's recursion limit within the request (1 KiB) and response (4 KiB) limits
DEEP_SMALL = st.tuples(st.integers(300, 2000), st.sampled_from(["r9", "policy", ""])).map(
    lambda t: '{"id":"%s","action":"refresh","reason":%s}' % (t[1], "[" * t[0] + "]" * t[0]))
VALUE = st.one_of(nested(), DEEP_SMALL, sized(REQUEST_LIMIT), sized(POLICY_LIMIT), sized(RPC_LIMIT), ENCODED,
                  JSON.map(json.dumps), st.text(max_size=100))
REQUESTS = st.one_of(
    st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True).map(
        lambda i: json.dumps({"id": i, "action": "refresh"})), VALUE)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example,
                                                                  HealthCheck.data_too_large])
@given(steps=st.lists(st.tuples(st.sampled_from([POLICY, RESPONSE, STATE, "none"]), VALUE, REQUESTS),
                      min_size=1, max_size=6))
def test_fuzzed_keys_every_request_answered_once_nothing_escapes(steps):
    vc, rec, clock = setup(config=Config(guest=GuestConfig(requests_per_hour=3600)))
    rec.reconcile(vc.inv)
    vc.written()
    answers: dict[str, int] = {}  # request id -> answers written (accepted and done count as one)
    trusted: set[str] = set()  # ids the response key said were answered when the service first looked
    last_request = None
    first_look = True  # the first request the service sees: it trusts the response key (a restart's memory)
    for key, value, request in steps:
        clock.now += 3600.0  # a refill of the rate limit, and no backoff in the way
        if key != "none":
            vc.guest("web01", key, value)
        vc.guest("web01", REQUEST, request)
        try:
            rid, valid = parse_request(request).id, True
        except RequestError as err:
            rid, valid = err.id, False
        said_answered = False
        if request and first_look:  # answered before a restart, as far as the service can know
            first_look = False
            said = read_response(vc.info("web01", RESPONSE))
            said_answered = answered_request(said) == rid and (valid or said.get("status") == "refused")
            if said_answered and valid:
                trusted.add(rid)  # an id: never acted on again
        asked = (bool(request) and request != last_request and not said_answered
                 and not (rid and (rid in answers or rid in trusted)))
        last_request = request or last_request  # an emptied key does not make the same value new
        result = rec.reconcile(vc.inv)  # raises nothing
        assert result.failed == 0, result.outcomes
        rec.reconcile(vc.inv)  # the echo: nothing more to answer
        for write in vc.writes:
            assert write.name == "web01"
            if RESPONSE in write.values:
                doc = json.loads(write.values[RESPONSE])
                RESPONSE_SCHEMA.validate(doc)
                if doc["id"] and doc["id"] != "policy" and doc["status"] != "done":
                    answers[doc["id"]] = answers.get(doc["id"], 0) + 1
        vc.writes.clear()
        if asked:  # answered in this pass, with its id (or "" when none could be read)
            doc = json.loads(vc.info("web01", RESPONSE))
            assert doc["id"] == rid, (doc, request[:80])
    assert all(n == 1 for n in answers.values()), answers
