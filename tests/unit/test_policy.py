"""Service levels: strict parsing of untrusted plain data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vsguesttruth.errors import VsgtError
from vsguesttruth.policy import MAX_PATHS_PER_LUN, PolicyError, ServiceLevel


def test_defaults_ask_for_one_working_path_and_no_device_count():
    assert ServiceLevel() == ServiceLevel.from_dict({}) == ServiceLevel(1, None)


def test_from_dict_reads_both_keys():
    level = ServiceLevel.from_dict({"min_working_paths": 2, "min_reachable_devices": 3})
    assert (level.min_working_paths, level.min_reachable_devices) == (2, 3)
    assert ServiceLevel.from_dict({"min_reachable_devices": None}).min_reachable_devices is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"min_working_path": 2}, "unknown service level key(s): min_working_path (known: min_reachable_devices, "
                                  "min_working_paths)"),
        ({"min_working_paths": "2"}, "min_working_paths must be an integer, not a string"),
        ({"min_working_paths": True}, "min_working_paths must be an integer, not a boolean"),
        ({"min_working_paths": 2.0}, "min_working_paths must be an integer, not a number"),
        ({"min_working_paths": None}, "min_working_paths must be an integer, not null"),
        ({"min_working_paths": 0}, "min_working_paths must be between 1 and 32, not 0"),
        ({"min_working_paths": 33}, "min_working_paths must be between 1 and 32, not 33"),
        ({"min_reachable_devices": 0}, "min_reachable_devices must be at least 1, not 0"),
        ({"min_reachable_devices": [1]}, "min_reachable_devices must be an integer, not a list"),
        ([("min_working_paths", 2)], "service level must be an object, not a list"),
        ("min_working_paths=2", "service level must be an object, not a string"),
    ],
)
def test_from_dict_rejects_with_a_message_that_says_what_to_fix(data, message):
    with pytest.raises(PolicyError) as error:
        ServiceLevel.from_dict(data)
    assert str(error.value) == message


def test_constructor_checks_as_strictly_as_parsing():
    with pytest.raises(PolicyError):
        ServiceLevel(min_working_paths=0)
    assert isinstance(PolicyError("x"), ValueError) and isinstance(PolicyError("x"), VsgtError)


@given(st.integers(1, MAX_PATHS_PER_LUN), st.none() | st.integers(1, 10_000))
def test_as_dict_round_trips(paths, devices):
    level = ServiceLevel(paths, devices)
    assert ServiceLevel.from_dict(level.as_dict()) == level


scalars = st.none() | st.booleans() | st.integers(-5, 40) | st.floats(allow_nan=False) | st.text(max_size=3)
json_values = scalars | st.lists(scalars, max_size=2) | st.dictionaries(st.text(max_size=3), scalars, max_size=2)


@settings(max_examples=50)
@given(st.dictionaries(st.sampled_from(["min_working_paths", "min_reachable_devices", "x"]), json_values)
       | json_values)
def test_any_json_either_parses_into_valid_limits_or_raises_policy_error(data):
    try:
        level = ServiceLevel.from_dict(data)
    except PolicyError:
        return
    assert 1 <= level.min_working_paths <= MAX_PATHS_PER_LUN
    assert level.min_reachable_devices is None or level.min_reachable_devices >= 1
