"""The guest's policy: strict parsing, the admin's bounds, never an exception, never out of bounds."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vsguesttruth import config
from vsguesttruth.config import GuestConfig
from vsguesttruth.errors import ConfigError
from vsguesttruth.guestinfo import FIELDS, POLICY_LIMIT, load_schema
from vsguesttruth.guestinfo.policy import GuestPolicy, default_policy, effective_policy, parse_policy
from vsguesttruth.policy import PolicyError, ServiceLevel

BOUNDS = GuestConfig()
SCHEMA = jsonschema.Draft202012Validator(load_schema("policy"))


def test_no_policy_gives_the_defaults():
    assert effective_policy(None, BOUNDS) == effective_policy("", BOUNDS) == default_policy(BOUNDS)
    p = effective_policy(None, GuestConfig(default_refresh_interval=60, allowed_fields=("uuid",)), ServiceLevel(2))
    assert (p.status, p.refresh_interval, p.fields, p.level) == ("default", 60, frozenset({"uuid"}), ServiceLevel(2))


def test_a_full_policy_is_applied():
    value = json.dumps({"schema": 1, "refresh_interval": 30, "publish": "interval", "fields": ["luns", "uuid"],
                        "min_working_paths": 4, "min_reachable_devices": 2})
    SCHEMA.validate(json.loads(value))
    p = effective_policy(value, BOUNDS, ServiceLevel(2))
    assert p == GuestPolicy(status="applied", refresh_interval=30, publish="interval",
                            fields=frozenset({"luns", "uuid"}), level=ServiceLevel(4, 2))


def test_unset_values_come_from_the_admin():
    p = effective_policy('{"min_reachable_devices": 1}', GuestConfig(default_refresh_interval=120), ServiceLevel(3))
    assert p.level == ServiceLevel(3, 1) and p.refresh_interval == 120 and p.fields == frozenset(FIELDS)


@pytest.mark.parametrize("value, message", [
    ('{"refresh_interval": 5}', "refresh_interval must be between 10 and 86400, not 5"),
    ('{"refresh_interval": 10.5}', "refresh_interval must be an integer, not a number"),
    ('{"refresh_interval": true}', "refresh_interval must be an integer, not a boolean"),
    ('{"refresh_interval": "30"}', "refresh_interval must be an integer, not a string"),
    ('{"refresh_interval": 86401}', "between 10 and 86400"),
    ('{"publish": "always"}', "publish must be one of on_change, interval, not 'always'"),
    ('{"publish": "interval"}', "needs a refresh_interval"),
    ('{"fields": "luns"}', "fields must be a list"),
    ('{"fields": ["luns", "luns"]}', "luns is named twice"),
    ('{"fields": ["paths"]}', "unknown field 'paths'"),
    ('{"fields": [1]}', "unknown field 1"),
    ('{"min_working_paths": 0}', "min_working_paths must be between 1 and 32, not 0"),
    ('{"min_working_paths": 33}', "between 1 and 32"),
    ('{"min_reachable_devices": 257}', "between 1 and 256"),
    ('{"min_reachable_devices": null}', "must be an integer, not null"),
    ('{"schema": 2}', "policy schema must be 1, not 2"),
    ('{"refresh": 30}', "unknown policy key 'refresh'"),
    ('{"a": 1, "a": 2}', "duplicate keys"),
    ('[1, 2]', "must be a JSON object"),
    ('{"refresh_interval": NaN}', "not JSON"),
    ('{"x": ' * 10 + "1" + "}" * 10, "nested too deeply"),
    ("x" * (POLICY_LIMIT + 1), "the limit is 4096"),
    (b'{"publish": "\xff"}', "not valid UTF-8"),
    ('{"publish": "on_change"', "not valid JSON"),
    ('{"' + "k" * 100 + '": 1}', "unknown policy key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...'"),
])
def test_invalid_policies_are_refused_with_a_reason(value, message):
    with pytest.raises(PolicyError) as err:
        parse_policy(value, BOUNDS)
    assert message in str(err.value)
    p = effective_policy(value, BOUNDS, ServiceLevel(2))
    assert p.status == "invalid" and message in p.message
    assert p == GuestPolicy(status="invalid", message=p.message, fields=frozenset(FIELDS), level=ServiceLevel(2))


def test_the_admins_bounds_apply():
    strict = GuestConfig(min_refresh_interval=60, allowed_fields=("uuid", "luns"))
    assert "between 60 and 86400, not 30" in effective_policy('{"refresh_interval": 30}', strict).message
    assert "explanation is not allowed by the administrator" in effective_policy('{"fields": ["explanation"]}', strict).message
    assert effective_policy("{}", strict).fields == frozenset({"uuid", "luns"})
    off = GuestConfig(allow_policy=False)
    p = effective_policy('{"min_working_paths": 2}', off)
    assert p.status == "invalid" and "does not allow guest policies" in p.message and p.level == ServiceLevel()


def test_config_guest_section_is_strict(tmp_path):
    def load(text):
        path = tmp_path / "c.toml"
        path.write_text(text)
        return config.load(path)

    cfg = load('[guest]\nmin_refresh_interval = 30\nallowed_fields = ["uuid"]\nrequests_per_hour = 2\n'
               '[scope]\nclusters = ["cl-a"]\nattribute = "vsgt = on"\n[publish]\nconcurrency = 4\n')
    assert cfg.guest.min_refresh_interval == 30 and cfg.guest.allowed_fields == ("uuid",)
    assert cfg.scope.clusters == ("cl-a",) and cfg.scope.attribute == ("vsgt", "on")
    assert cfg.publish.concurrency == 4
    for text, message in [
        ("[guest]\nmin_refresh_interval = 0\n", "guest.min_refresh_interval must be between 1 and 86400"),
        ("[guest]\nmin_refresh_interval = true\n", "guest.min_refresh_interval must be an integer"),
        ("[guest]\nallowed_fields = ['paths']\n", "unknown field 'paths'"),
        ("[guest]\ndefault_refresh_interval = 5\n", "below min_refresh_interval"),
        ("[guest]\nrefresh = 5\n", "unknown key guest.refresh"),
        ("[scope]\nattribute = 'novalue'\n", "must be \"name=value\""),
        ("[scope]\nvms = 'web01'\n", "scope.vms must be a list"),
        ("[publish]\nconcurrency = 0\n", "publish.concurrency must be between 1 and 256"),
    ]:
        with pytest.raises(ConfigError) as err:
            load(text)
        assert message in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------------------------------------------
# Hostile input: anything at all is answered, never raised, never out of bounds


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
PLAUSIBLE = st.fixed_dictionaries({}, optional={
    "schema": st.one_of(st.just(1), JSON), "refresh_interval": st.one_of(st.integers(-10, 100000), JSON),
    "publish": st.one_of(st.sampled_from(["on_change", "interval"]), JSON),
    "fields": st.one_of(st.lists(st.sampled_from(list(FIELDS) + ["x"]), max_size=6), JSON),
    "min_working_paths": st.one_of(st.integers(-2, 40), JSON), "min_reachable_devices": st.one_of(st.integers(-2, 300), JSON),
})
BOUND_CONFIGS = st.builds(
    GuestConfig, allow_policy=st.booleans(), min_refresh_interval=st.integers(1, 600),
    default_refresh_interval=st.just(0), allowed_fields=st.lists(st.sampled_from(FIELDS), unique=True).map(tuple),
)


def check(p: GuestPolicy, bounds: GuestConfig) -> None:
    assert p.status in ("default", "applied", "invalid")
    assert p.fields <= frozenset(bounds.allowed_fields)
    assert p.publish in ("on_change", "interval")
    assert 1 <= p.level.min_working_paths <= 32
    assert p.level.min_reachable_devices is None or 1 <= p.level.min_reachable_devices <= 256
    if p.status == "applied":
        assert bounds.allow_policy
        assert p.refresh_interval == bounds.default_refresh_interval or \
            bounds.min_refresh_interval <= p.refresh_interval <= 86400
        assert p.publish == "on_change" or p.refresh_interval > 0
    else:
        assert p.refresh_interval == bounds.default_refresh_interval and p.fields == frozenset(bounds.allowed_fields)
    assert len(p.message) < 300


@given(st.binary(max_size=5000), BOUND_CONFIGS)
def test_arbitrary_bytes(value, bounds):
    check(effective_policy(value, bounds), bounds)


@given(st.text(max_size=5000), BOUND_CONFIGS)
def test_arbitrary_text(value, bounds):
    check(effective_policy(value, bounds), bounds)


@given(JSON, BOUND_CONFIGS)
def test_arbitrary_json(value, bounds):
    check(effective_policy(json.dumps(value), bounds), bounds)


@given(PLAUSIBLE, BOUND_CONFIGS)
def test_plausible_policies_stay_within_bounds(value, bounds):
    p = effective_policy(json.dumps(value), bounds)
    check(p, bounds)
    if p.status == "applied" and bounds.min_refresh_interval >= 1:
        # what we accept, the published schema accepts too (the admin's bounds are only narrower)
        SCHEMA.validate(value)


def test_huge_and_deep_values_are_refused_cheaply():
    for value in ["[" * 100000 + "]" * 100000, '{"a":' * 5000 + "1" + "}" * 5000, " " * 10**7,
                  '{"refresh_interval": ' + "9" * 4000 + "}", "\udcff\udcfe"]:
        p = effective_policy(value, BOUNDS)
        assert p.status == "invalid", value[:20]


def test_poll_interval_says_how_often_the_service_reads_a_guest_on_data_sets():
    applied = parse_policy(json.dumps({"poll_interval": 60}), GuestConfig())
    assert applied.poll_interval == 60 and applied.as_doc()["poll_interval"] == 60
    assert "poll_interval" not in effective_policy(None, GuestConfig()).as_doc()  # unchanged documents without it
    refused = effective_policy(json.dumps({"poll_interval": 5}), GuestConfig(min_refresh_interval=10))
    assert refused.status == "invalid" and "poll_interval must be between 10 and 86400" in refused.message
    jsonschema.validate({"poll_interval": 60}, load_schema("policy"))
