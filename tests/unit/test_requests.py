"""Guest requests: strict parsing, answered once per id, rate-limited per VM, hostile input answered."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vsguesttruth.guestinfo import REQUEST_LIMIT, load_schema
from vsguesttruth.guestinfo.request import (
    REFUSAL_GAP,
    Request,
    RequestBook,
    RequestError,
    answered_request,
    parse_request,
    read_response,
    response,
)

AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
RESPONSE = jsonschema.Draft202012Validator(load_schema("response"))
REQUEST = jsonschema.Draft202012Validator(load_schema("request"))


def req(id="r1", action="refresh", **extra) -> str:
    return json.dumps({"id": id, "action": action, **extra})


def test_parse_a_request():
    assert parse_request(req(reason="paths flapping")) == Request("r1", "refresh", "paths flapping")
    assert parse_request(b'{"id": "a.b:c-1_2", "action": "migrate"}') == Request("a.b:c-1_2", "migrate")


@pytest.mark.parametrize("value, message, id", [
    ('{"action": "refresh"}', "no id", ""),
    ('{"id": "", "action": "refresh"}', "id must be", ""),
    ('{"id": "a b", "action": "refresh"}', "id must be", ""),
    ('{"id": "' + "x" * 65 + '", "action": "refresh"}', "id must be", ""),
    ('{"id": 7, "action": "refresh"}', "id must be", ""),
    ('{"id": "r1"}', "no action", "r1"),
    ('{"id": "r1", "action": "reboot"}', "action must be one of refresh, migrate", "r1"),
    ('{"id": "r1", "action": ["refresh"]}', "action must be one of", "r1"),
    ('{"id": "r1", "action": "refresh", "reason": 3}', "reason must be a string", "r1"),
    ('{"id": "r1", "action": "refresh", "reason": "' + "x" * 257 + '"}', "longer than 256", "r1"),
    ('{"id": "r1", "action": "refresh", "vm": "other-vm"}', "unknown request key 'vm'", "r1"),
    ('{"id": "r1", "id": "r2", "action": "refresh"}', "duplicate keys", ""),
    ("x" * (REQUEST_LIMIT + 1), "the limit is 1024", ""),
    (b'{"id": "r1", "action": "\xff"}', "not valid UTF-8", ""),
    ('"refresh"', "must be a JSON object", ""),
    ('{"id": "r1", "action": "refresh"; rm -rf /}', "not valid JSON", ""),
])
def test_bad_requests_are_refused_with_a_reason(value, message, id):
    with pytest.raises(RequestError) as err:
        parse_request(value)
    assert message in str(err.value)
    assert err.value.id == id


def test_responses_validate():
    for value in [response("r1", "accepted", "re-probing", AT, "refresh"), response("", "refused", "bad", AT),
                  response("policy", "policy_invalid", "x", AT, last_request="r1")]:
        RESPONSE.validate(json.loads(value))
    assert json.loads(response("r1", "done", "ok", AT))["at"] == "2025-01-02T03:04:05Z"


def test_read_response_is_lenient_and_answered_request_follows_policy_answers():
    assert read_response(None) == {} and read_response("garbage") == {} and read_response("[1]") == {}
    assert answered_request(read_response(response("r1", "done", "", AT))) == "r1"
    assert answered_request(read_response(response("policy", "policy_applied", "", AT, last_request="r1"))) == "r1"
    assert answered_request(read_response(response("policy", "policy_applied", "", AT))) == ""


# ---------------------------------------------------------------------------------------------------
# Triage


def test_a_request_is_answered_once_per_id():
    book = RequestBook(per_hour=6)
    d = book.triage("vm-1", req("r1"), None, 0.0)
    assert d.kind == "accept" and d.request == Request("r1", "refresh")
    assert book.triage("vm-1", req("r1"), None, 1.0).kind == "none"  # same value
    assert book.triage("vm-1", req("r1", reason="again"), None, 2.0).kind == "none"  # same id, new value
    assert book.triage("vm-1", req("r2"), None, 3.0).kind == "accept"
    assert book.triage("vm-1", "", None, 4.0).kind == "none"
    assert book.triage("vm-1", None, None, 4.0).kind == "none"


def test_after_a_restart_the_response_key_says_what_was_answered():
    answered = response("r1", "done", "ok", AT, "refresh")
    assert RequestBook(6).triage("vm-1", req("r1"), answered, 0.0).kind == "none"
    policy_answer = response("policy", "policy_applied", "ok", AT, last_request="r1")
    assert RequestBook(6).triage("vm-1", req("r1"), policy_answer, 0.0).kind == "none"
    # a refresh accepted but not done before the restart is finished, not answered again
    accepted = response("r1", "accepted", "re-probing", AT, "refresh")
    d = RequestBook(6).triage("vm-1", req("r1"), accepted, 0.0)
    assert d.kind == "resume" and d.request.id == "r1"
    # an invalid request refused before the restart is not refused again
    refused = response("", "refused", "not JSON", AT)
    assert RequestBook(6).triage("vm-1", "garbage", refused, 0.0).kind == "none"
    assert RequestBook(6).triage("vm-1", req("r2"), answered, 0.0).kind == "accept"


def test_a_response_the_guest_forged_does_not_silence_its_request():
    """The guest can write the response key too. Once the service has looked at a VM, only its own record
    says what was answered: a forged "r2 answered" leaves r2 to be answered (found by the fuzz test)."""
    book = RequestBook(6)
    assert book.triage("vm-1", req("r1"), None, 0.0).kind == "accept"
    forged = response("r2", "done", "ok", AT, "refresh")
    assert book.triage("vm-1", req("r2"), forged, 1.0).kind == "accept"
    forged_policy = response("policy", "policy_applied", "ok", AT, last_request="r3")
    assert book.triage("vm-1", req("r3"), forged_policy, 2.0).kind == "accept"


def test_rate_limit_per_vm():
    book = RequestBook(per_hour=3)
    kinds = [book.triage("vm-1", req(f"r{i}"), None, float(i)).kind for i in range(5)]
    assert kinds == ["accept", "accept", "accept", "refuse", "wait"]  # every request is answered; one refusal
    waiting = book.triage("vm-1", req("r5"), None, 5.0)                # per REFUSAL_GAP, the latest then
    assert waiting.kind == "wait" and waiting.at == 3.0 + REFUSAL_GAP
    d = book.triage("vm-1", req("r5"), None, waiting.at)
    assert d.kind == "refuse" and d.id == "r5" and "try again in" in d.message
    assert book.triage("vm-1", req("r5"), None, 20.0).kind == "none"  # answered once
    assert book.triage("vm-2", req("r1"), None, 10.0).kind == "accept"  # another VM is not affected
    assert book.triage("vm-1", req("r10"), None, 1300.0).kind == "accept"  # one token back after 20 minutes


@given(st.lists(st.integers(0, 30), max_size=30))
def test_every_request_is_answered_exactly_once(gaps):
    """However fast a guest writes requests, each one is answered once (refused over the limit, saying when
    to try again), never ignored; a refusal may wait for the REFUSAL_GAP."""
    book = RequestBook(per_hour=3)
    now, refusals = 0.0, []
    for i, gap in enumerate(gaps):
        now += gap
        value = req(f"q{i}")
        d = book.triage("vm-1", value, None, now)
        while d.kind == "wait":
            assert d.at > now
            now = d.at
            d = book.triage("vm-1", value, None, now)
        assert d.kind in ("accept", "refuse") and d.id == f"q{i}"
        if d.kind == "refuse":
            refusals.append(now)
        assert book.triage("vm-1", value, None, now).kind == "none"
    assert all(b - a >= REFUSAL_GAP for a, b in zip(refusals, refusals[1:]))


def test_ids_read_back_from_vcenter_are_never_acted_on_again():
    book = RequestBook(per_hour=6)
    book.remember("vm-1", ["r1", "x1"])
    assert book.triage("vm-1", req("r1"), None, 0.0).kind == "none"  # no response key after a power cycle
    assert book.triage("vm-1", '{"id": "x1", "action": "reboot"}', None, 1.0).kind == "none"
    assert book.triage("vm-1", req("r2"), None, 2.0).kind == "accept"
    assert not book.record("vm-1", "r1") and book.record("vm-1", "r2") and not book.record("vm-1", "r2")
    # a refresh accepted before the restart is still finished (the response key says so)
    book = RequestBook(per_hour=6)
    book.remember("vm-1", ["r1"])
    accepted = response("r1", "accepted", "re-probing", AT, "refresh")
    assert book.triage("vm-1", req("r1"), accepted, 0.0).kind == "resume"


def test_rate_limit_refusal_says_why():
    book = RequestBook(per_hour=1)
    assert book.triage("vm-1", req("a"), None, 0.0).kind == "accept"
    d = book.triage("vm-1", req("b"), None, 1.0)
    assert d.kind == "refuse" and d.id == "b" and "at most 1 requests per hour" in d.message


def test_requests_disabled():
    book = RequestBook(per_hour=0)
    d = book.triage("vm-1", req("a"), None, 0.0)
    assert d.kind == "refuse" and "does not accept requests" in d.message
    assert book.triage("vm-1", req("b"), None, 1.0).kind == "wait"
    assert book.triage("vm-1", req("b"), None, REFUSAL_GAP).kind == "refuse"


def test_invalid_requests_are_refused_and_count_against_the_limit():
    book = RequestBook(per_hour=2)
    d = book.triage("vm-1", '{"id": "x1", "action": "reboot"}', None, 0.0)
    assert d.kind == "refuse" and d.id == "x1" and d.action == ""
    d = book.triage("vm-1", "\x00\x01", None, 1.0)
    assert d.kind == "refuse" and d.id == ""
    assert book.triage("vm-1", req("ok"), None, 2.0).kind == "refuse"  # bucket empty: rate limit
    assert book.triage("vm-1", '{"id": "x1", "action": "migrate"}', None, 9999.0).kind == "none"  # x1 answered


def test_unanswer_makes_a_request_due_again():
    book = RequestBook(per_hour=6)
    assert book.triage("vm-1", req("r1"), None, 0.0).kind == "accept"
    book.unanswer("vm-1", "r1")
    assert book.triage("vm-1", req("r1"), None, 1.0).kind == "accept"


# ---------------------------------------------------------------------------------------------------
# Hostile input


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
PLAUSIBLE = st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True), JSON),
    "action": st.one_of(st.sampled_from(["refresh", "migrate"]), JSON),
    "reason": st.one_of(st.text(max_size=300), JSON),
})


def check(value) -> None:
    try:
        request = parse_request(value)
    except RequestError as err:
        assert err.id == "" or (len(err.id) <= 64 and err.id.isprintable())
        assert len(str(err)) < 300
        response_value = response(err.id, "refused", str(err), AT, err.action)
        RESPONSE.validate(json.loads(response_value))
        return
    REQUEST.validate(json.loads(value))  # what we accept, the published schema accepts
    assert request.action in ("refresh", "migrate")


@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(value):
    check(value)


@given(st.text(max_size=3000))
def test_arbitrary_text_never_raises(value):
    check(value)


@given(JSON)
def test_arbitrary_json_never_raises(value):
    check(json.dumps(value))


@given(PLAUSIBLE)
def test_plausible_requests(value):
    check(json.dumps(value))


@given(st.lists(st.one_of(st.binary(max_size=200).map(lambda b: b.decode("latin-1")), PLAUSIBLE.map(json.dumps)),
                max_size=20))
def test_triage_never_raises_and_answers_at_most_once_per_value(values):
    book = RequestBook(per_hour=6)
    answers = 0
    for i, value in enumerate(values):
        d = book.triage("vm-1", value, None, float(i))
        assert d.kind in ("none", "refuse", "accept", "wait")
        answers += d.kind in ("refuse", "accept")
    assert answers <= len(values)
    assert answers <= 6 + len(values) // REFUSAL_GAP + 1  # the bucket, plus one rate-limit refusal per gap
