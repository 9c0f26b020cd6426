"""The `--json` writer of `status` and `incidents` prints exactly what ``json.dumps(doc, indent=2)`` prints."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from vsguesttruth.cli.jsonout import dumps

scalars = st.one_of(st.text(), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=8)
rows = st.lists(st.one_of(st.dictionaries(st.text(max_size=8), st.one_of(scalars, st.lists(st.text(), max_size=3),
                                                                         values), max_size=8),
                          values), max_size=5)


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=8), values, max_size=3), rows)
def test_the_same_text_as_json_dumps_indent_2(doc, disks):
    doc = {**doc, "disks": disks}
    assert dumps(doc) == json.dumps(doc, indent=2)
    assert dumps(disks) == json.dumps(disks, indent=2)


def test_a_status_document():
    row = {"vm": "wéb01", "vm_moref": "vm-1", "key": 2000, "datastores": ["ds-a", "ds \"b\""], "luns": [],
           "sla_met": False, "level": None, "incidents": ["hba-1"], "capacity": 1.5, "nested": {"a": [1, {}]}}
    doc = {"incidents": [{"id": "hba-1", "hosts": ["esx-a01"]}], "disks": [row, {}, row], "counts": {"healthy": 2}}
    assert dumps(doc) == json.dumps(doc, indent=2)
    assert dumps({}) == "{}" and dumps({"disks": []}) == json.dumps({"disks": []}, indent=2)
    assert dumps({1: "x"}) == json.dumps({1: "x"}, indent=2)
