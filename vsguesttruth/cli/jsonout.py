"""``--json`` output of many rows: the text ``json.dumps(doc, indent=2)`` prints, written in a fraction of its time.

The standard library encodes in C only without ``indent``; with it, the 40,000 disk rows of `status --json` (or an
incident's thousands of hits) took about a second in pure Python. Here strings go through the C string encoder and
dicts, lists, integers, booleans and null are laid out as ``json.dumps`` lays them out; anything else (floats, dicts
with keys that are not strings) goes through ``json.dumps`` itself, its text indented by prefixing its lines (a JSON
string never holds a raw newline).
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _string
from typing import Any

INDENT = "  "
#: per depth: a key as it is written there (indent, the encoded key, ": "), for the keys every row repeats
_KEYS: list[dict[str, str]] = [{} for _ in range(8)]


def dumps(doc: Any) -> str:
    """``json.dumps(doc, indent=2)``, faster (see the module docstring)."""
    return _value(doc, 0)


def _value(value: Any, depth: int) -> str:
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is dict:
        if not value or not all(type(k) is str for k in value):
            return _nested(value, depth)
        keys = _KEYS[depth + 1] if depth + 1 < len(_KEYS) else {}
        fields = []
        for k, v in value.items():
            key = keys.get(k)
            if key is None:
                key = f"{INDENT * (depth + 1)}{_string(k)}: "
                if len(keys) < 1000:
                    keys[k] = key
            fields.append(key + (_string(v) if type(v) is str else _value(v, depth + 1)))
        return "{\n" + ",\n".join(fields) + "\n" + INDENT * depth + "}"
    if kind is list:
        if not value:
            return "[]"
        pad = INDENT * (depth + 1)
        return "[\n" + ",\n".join(pad + _value(v, depth + 1) for v in value) + "\n" + INDENT * depth + "]"
    if kind is bool or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if kind is int:
        return int.__repr__(value)
    return _nested(value, depth)


def _nested(value: Any, depth: int) -> str:
    return json.dumps(value, indent=2).replace("\n", "\n" + INDENT * depth)
