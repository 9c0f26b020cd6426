"""Check a value against the published JSON Schemas (``schema/`` beside this module) without a dependency.

Guests do not have ``jsonschema``; this implements the subset of draft 2020-12 our schemas use:
``type``, ``const``, ``enum``, ``minimum``, ``maximum``, ``maxLength``, ``pattern``, ``required``,
``properties``, ``additionalProperties: false``, ``items``, ``maxItems``, ``uniqueItems``, ``oneOf`` and
local ``$ref``. ``lenient=True`` accepts unknown object keys (reading a document from a newer service of
the same schema version); writing is always strict.
"""

from __future__ import annotations

import re
from typing import Any

from vsguesttruth_guest import guestinfo

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class Invalid(ValueError):
    """The first problem found, with the path to it (``disks[2].verdict: ...``)."""


def check(name: str, value: Any, lenient: bool = False, definition: str = "") -> None:
    """Raise Invalid unless ``value`` conforms to ``schema/<name>.schema.json``
    (or to its ``$defs/<definition>``)."""
    schema = guestinfo.load_schema(name)
    _check(schema["$defs"][definition] if definition else schema, value, schema, "", lenient)


def _check(schema: dict, value: Any, root: dict, where: str, lenient: bool) -> None:
    here = where or name_of(root)
    if "$ref" in schema:
        _check(_resolve(root, schema["$ref"]), value, root, where, lenient)
    if "oneOf" in schema:
        passed, problems = 0, []
        for option in schema["oneOf"]:
            try:
                _check(option, value, root, where, lenient)
                passed += 1
            except Invalid as err:
                problems.append(str(err))
        if passed != 1:
            raise Invalid(problems[-1] if passed == 0 and problems else f"{here}: matches {passed} alternatives, not one")
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_TYPES[k](value) for k in kinds):
            raise Invalid(f"{here}: expected {' or '.join(kinds)}, got {_type_name(value)}")
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        raise Invalid(f"{here}: must be {schema['const']!r}")
    if "enum" in schema and not any(value == e and type(value) is type(e) for e in schema["enum"]):
        raise Invalid(f"{here}: {_short(value)} is not one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise Invalid(f"{here}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise Invalid(f"{here}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise Invalid(f"{here}: longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise Invalid(f"{here}: {_short(value)} does not match {schema['pattern']}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise Invalid(f"{here}: more than {schema['maxItems']} items")
        if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
            raise Invalid(f"{here}: items repeat")
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                _check(schema["items"], item, root, f"{where}[{i}]", lenient)
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                raise Invalid(f"{here}: {key!r} is missing")
        props = schema.get("properties", {})
        for key, item in value.items():
            path = f"{where}.{key}" if where else key
            if key in props:
                _check(props[key], item, root, path, lenient)
            elif schema.get("additionalProperties") is False and not lenient:
                raise Invalid(f"{here}: unknown key {_short(key)}")


def name_of(schema: dict) -> str:
    return str(schema.get("title", "value")).rsplit(".", 1)[-1]


def _resolve(root: dict, ref: str) -> dict:
    if not ref.startswith("#/"):
        raise Invalid(f"unsupported $ref {ref}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
