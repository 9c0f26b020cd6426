"""The guestinfo contract: key names, size limits, and the state document's wire encoding.

Shared by the service (which writes ``state`` and ``response`` and reads ``policy`` and ``request``)
and the in-guest agent (which does the opposite). Pure: no pyVmomi, no I/O. The JSON Schemas of every
value live in ``vsguesttruth/schema/``.

The state document is compact JSON. When it would not fit the guest RPC message limit (64 KB for the
whole ``info-get`` reply), it travels as an envelope ``{"schema": 1, "encoding": "gzip+base64",
"data": "..."}``, the convention cloud-init uses for guestinfo user data.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PREFIX = "guestinfo.vsguesttruth."
STATE = PREFIX + "state"
POLICY = PREFIX + "policy"
REQUEST = PREFIX + "request"
RESPONSE = PREFIX + "response"
KEYS = (STATE, POLICY, REQUEST, RESPONSE)

SCHEMA_VERSION = 1
RPC_LIMIT = 64 * 1024  # the guest RPC channel's message limit (bytes), reply framing included
STATE_LIMIT = RPC_LIMIT - 1024  # what a state value may use, leaving room for the RPC reply framing
PLAIN_LIMIT = 48 * 1024  # above this the state is sent gzip+base64
POLICY_LIMIT = 4096  # untrusted guest input: larger values are refused unread
REQUEST_LIMIT = 1024
GUEST_DEPTH = 4  # arrays/objects a policy, request or response may nest (they need 2)
STATE_DEPTH = 16  # the state document nests 6 deep (disks -> disk -> luns -> lun ...); room for later fields
ENCODING = "gzip+base64"
#: The optional parts of each disk a guest may ask for in its policy's ``fields`` (default: all the admin allows).
FIELDS = ("luns", "explanation", "datastores", "capacity", "uuid")
SCHEMA_DIR = Path(__file__).parent / "schema"
_INFLATED_LIMIT = 16 * RPC_LIMIT  # what a state envelope may decompress to


class DocumentError(ValueError):
    """A guestinfo value that cannot be decoded; the message says why."""


def timestamp(at: datetime) -> str:
    """The date-time format of every document (``changed``, a response's ``at``): UTC, to the second."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(doc: Any) -> str:
    """Compact, deterministic JSON (the same content always gives the same bytes)."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def encode_state(doc: dict) -> str:
    """The state document as it goes into guestinfo: plain JSON, or a gzip+base64 envelope if large."""
    text = dumps(doc)
    if len(text.encode()) <= PLAIN_LIMIT:
        return text
    data = base64.b64encode(gzip.compress(text.encode(), compresslevel=9, mtime=0)).decode("ascii")
    value = dumps({"schema": SCHEMA_VERSION, "encoding": ENCODING, "data": data})
    if len(value) > STATE_LIMIT:
        raise DocumentError(f"state document is {len(value)} bytes even compressed; the limit is {STATE_LIMIT}")
    return value


def decode_state(value: str | bytes) -> dict:
    """The state document from a guestinfo value (plain or enveloped). Raises DocumentError."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentError("state value is not UTF-8") from None
    if len(value) > RPC_LIMIT:
        raise DocumentError(f"state value is {len(value)} bytes, over the {RPC_LIMIT} byte limit")
    doc = _json_object(value, "state", STATE_DEPTH)
    if doc.get("encoding") is not None:
        if doc.get("encoding") != ENCODING or not isinstance(doc.get("data"), str):
            raise DocumentError(f"unknown state encoding {doc.get('encoding')!r}")
        try:
            inflate = zlib.decompressobj(wbits=31)  # gzip, at most 1 MiB out: a small bomb stays small
            raw = inflate.decompress(base64.b64decode(doc["data"], validate=True), _INFLATED_LIMIT + 1)
        except (binascii.Error, zlib.error) as err:
            raise DocumentError(f"state envelope does not decode: {err}") from None
        if len(raw) > _INFLATED_LIMIT:
            raise DocumentError("state envelope decompresses to more than 1 MiB")
        if not inflate.eof:
            raise DocumentError("state envelope does not decode: the gzip stream is truncated")
        try:
            text = raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise DocumentError("state envelope does not hold UTF-8") from None
        doc = _json_object(text, "state", STATE_DEPTH)
    return doc


def parse_guest_json(value: str | bytes, limit: int, what: str) -> dict:
    """A value a guest wrote (policy, request): size-limited, strict UTF-8, a JSON object, shallow.

    Everything a guest writes is untrusted: this refuses before parsing what is too large, and
    parsing refuses duplicate keys, NaN/Infinity and nesting deeper than :data:`GUEST_DEPTH` levels.
    """
    raw = value.encode("utf-8", errors="surrogateescape") if isinstance(value, str) else value
    if len(raw) > limit:
        raise DocumentError(f"{what} is {len(raw)} bytes; the limit is {limit}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DocumentError(f"{what} is not valid UTF-8") from None
    return _json_object(text, what, GUEST_DEPTH)


def load_schema(name: str) -> dict:
    """One of the published JSON Schemas: ``state``, ``policy``, ``request``, ``response``."""
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


def nesting(text: str, limit: int) -> int:
    """How deeply ``text`` nests JSON arrays and objects (strings skipped), counted without recursion and
    without parsing; counting stops at ``limit + 1``.

    Run before ``json.loads``, which recurses in C once per level: a few KiB of brackets would otherwise
    reach the interpreter's recursion limit. For text that is not JSON the count may be off, never lower
    than what ``json.loads`` would descend before it fails.
    """
    depth = deepest = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _json_object(text: str, what: str, max_depth: int) -> dict:
    if nesting(text, max_depth) > max_depth:
        raise DocumentError(f"{what} is nested too deeply (more than {max_depth} levels of arrays and objects)")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise DocumentError(f"{what} has duplicate keys")
        return dict(pairs)

    def no_constant(name):
        raise DocumentError(f"{what} contains {name}, which is not JSON")

    try:
        doc = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)
    except RecursionError:  # not reached after the count above; kept as the last line of defence
        raise DocumentError(f"{what} is nested too deeply") from None
    except json.JSONDecodeError as err:
        raise DocumentError(f"{what} is not valid JSON: {err.msg} at character {err.pos}") from None
    except DocumentError:
        raise
    except ValueError:  # e.g. an integer of more than 4300 digits (CPython's int conversion limit)
        raise DocumentError(f"{what} holds a number too large to read") from None
    if not isinstance(doc, dict):
        raise DocumentError(f"{what} must be a JSON object, not {type(doc).__name__}")
    return doc
