"""The in-guest agent's logic: read the keys (guestinfo or data sets: :mod:`.channel`), join the document with this guest's devices, write policy
and requests, notice verdict changes and tell hooks about them. The CLI (``cli.py``) only parses and prints.

Stdlib, the guestinfo contract (``guestinfo``) and the sibling modules only: this runs in guests without pyVmomi.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsguesttruth_guest import devices, guestinfo, validate
from vsguesttruth_guest.errors import BadDocument, NewerSchema, NoDocument, WaitTimeout
from vsguesttruth_guest.channel import Channel
from vsguesttruth_guest.rpc import Rpc

Values = Channel | Rpc  # where the four values are read and written

HEALTHY = "healthy"
FINAL = ("done", "refused", "failed", "policy_applied", "policy_invalid")
NOT_OK = ("refused", "failed", "policy_invalid")
HOOK_FIELDS = (  # change field -> environment variable
    ("device", "VSGT_DEVICE"), ("label", "VSGT_LABEL"), ("old_verdict", "VSGT_OLD_VERDICT"),
    ("new_verdict", "VSGT_NEW_VERDICT"), ("advice", "VSGT_ADVICE"), ("explanation", "VSGT_EXPLANATION"),
    ("reachable", "VSGT_REACHABLE"), ("match", "VSGT_MATCH"), ("vm", "VSGT_VM"), ("host", "VSGT_HOST"),
    ("controller", "VSGT_CONTROLLER"), ("bus", "VSGT_BUS"), ("unit", "VSGT_UNIT"),
    ("generation", "VSGT_GENERATION"), ("changed", "VSGT_CHANGED"), ("incidents", "VSGT_INCIDENTS"),
)


# -- the state document -------------------------------------------------------------------------

def read_state(rpc: Values) -> dict:
    """The state document from guestinfo; NoDocument / NewerSchema / BadDocument otherwise."""
    raw = rpc.get(guestinfo.STATE)
    if raw is None or not raw.strip():
        raise NoDocument(f"no storage document yet: vsguesttruth has not published {guestinfo.STATE} to this VM since "
                         "it was powered on (--wait waits for it)")
    return load_state(raw)


def load_state(raw: bytes | str) -> dict:
    """Decode and check a state value; a newer schema is told apart from garbage."""
    try:
        doc = guestinfo.decode_state(raw)
    except guestinfo.DocumentError as err:
        newer = _schema_of(raw)
        if newer is not None and newer > guestinfo.SCHEMA_VERSION:
            raise _newer(newer) from None
        raise BadDocument(f"the storage document cannot be decoded: {err}") from None
    schema = doc.get("schema")
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > guestinfo.SCHEMA_VERSION:
        raise _newer(schema)
    try:
        validate.check("state", doc, lenient=True, definition="document")
    except validate.Invalid as err:
        raise BadDocument(f"the storage document is not valid: {err}") from None
    return doc


def _newer(version: int) -> NewerSchema:
    return NewerSchema(
        f"the storage document has schema {version}, newer than this agent's {guestinfo.SCHEMA_VERSION}: "
        "upgrade vsguesttruth-guest"
    )


def _schema_of(raw: bytes | str) -> int | None:
    """The ``schema`` of a document this agent cannot decode (a newer one may be shaped differently)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if len(text) > guestinfo.RPC_LIMIT or guestinfo.nesting(text, guestinfo.STATE_DEPTH) > guestinfo.STATE_DEPTH:
            return None
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    schema = doc.get("schema") if isinstance(doc, dict) else None
    return schema if isinstance(schema, int) and not isinstance(schema, bool) else None


def disk_key(disk: Mapping) -> str:
    """A disk's identity across documents: its place on the virtual hardware (its label when vCenter
    did not give the place)."""
    bus, unit = disk.get("bus"), disk.get("unit")
    if isinstance(bus, int) and isinstance(unit, int) and bus >= 0 and unit >= 0:
        return f"{disk.get('controller')}:{bus}:{unit}"
    return f"label:{disk.get('label')}"


def view(doc: Mapping, storage: devices.GuestStorage) -> dict:
    """What ``status --json`` prints: the document's VM and, per disk, the guest device it is."""
    vm = doc.get("vm") or {}
    matches = devices.map_disks(doc["disks"], storage)
    disks = []
    for disk, match in zip(doc["disks"], matches):
        disks.append({
            "device": match.device, "label": disk.get("label", ""), "verdict": disk.get("verdict"),
            "reachable": disk.get("reachable"), "explanation": disk.get("explanation", ""),
            "advice": disk.get("advice"), "match": match.method, "match_note": match.note,
            "controller": disk.get("controller"), "bus": disk.get("bus"), "unit": disk.get("unit"),
            "uuid": disk.get("uuid", ""), "backing": disk.get("backing", ""), "datastore": disk.get("datastore", ""),
            "capacity": disk.get("capacity"), "luns": disk.get("luns", []),
            "incidents": [i for i in disk.get("incidents", []) if isinstance(i, str)],
        })
    return {
        "vm": vm.get("name", ""), "vm_uuid": vm.get("uuid", ""), "host": vm.get("host", ""),
        "cluster": vm.get("cluster", ""), "host_evacuation": vm.get("host_evacuation", ""),
        "generation": doc.get("generation"), "changed": doc.get("changed", ""),
        "verdict": doc.get("verdict"), "explanation": doc.get("explanation", ""), "advice": doc.get("advice", "none"),
        "policy": doc.get("policy", {}), "disks": disks,
    }


def healthy(status: Mapping) -> bool:
    return status.get("verdict") == HEALTHY and all(d.get("verdict") == HEALTHY for d in status["disks"])


def policy_interval(doc: Mapping) -> int | None:
    """The refresh interval of the policy the service applied to this VM, if any."""
    policy = doc.get("policy") or {}
    interval = policy.get("refresh_interval")
    if policy.get("status") == "applied" and isinstance(interval, int) and not isinstance(interval, bool) and interval > 0:
        return interval
    return None


# -- what the guest writes ----------------------------------------------------------------------

def build_policy(
    refresh_interval: int | None = None, publish: str | None = None, fields: Iterable[str] = (),
    min_working_paths: int | None = None, min_reachable_devices: int | None = None, poll_interval: int | None = None,
) -> str:
    """The policy value, checked against policy.schema.json and the size limit; ValueError says why."""
    policy: dict[str, Any] = {"schema": guestinfo.SCHEMA_VERSION}
    if refresh_interval is not None:
        policy["refresh_interval"] = refresh_interval
    if publish is not None:
        policy["publish"] = publish
    fields = list(fields)
    if fields:
        policy["fields"] = fields
    if min_working_paths is not None:
        policy["min_working_paths"] = min_working_paths
    if min_reachable_devices is not None:
        policy["min_reachable_devices"] = min_reachable_devices
    if poll_interval is not None:
        policy["poll_interval"] = poll_interval
    return _checked("policy", policy, guestinfo.POLICY_LIMIT)


def new_request_id() -> str:
    """A fresh id for a request: time, then randomness (matches the schema's id pattern)."""
    return f"g{int(time.time())}-{secrets.token_hex(4)}"


def build_request(action: str, reason: str | None = None, request_id: str | None = None) -> tuple[str, str]:
    """(id, value) of a request, checked against request.schema.json and the size limit."""
    request: dict[str, Any] = {"id": request_id or new_request_id(), "action": action}
    if reason:
        request["reason"] = reason
    return request["id"], _checked("request", request, guestinfo.REQUEST_LIMIT)


def _checked(name: str, value: dict, limit: int) -> str:
    try:
        validate.check(name, value)
    except validate.Invalid as err:
        raise ValueError(str(err)) from None
    text = guestinfo.dumps(value)
    guestinfo.parse_guest_json(text, limit, name)  # what the service will do with it (raises DocumentError)
    return text


# -- what the service answers -------------------------------------------------------------------

def read_response(rpc: Values) -> dict | None:
    raw = rpc.get(guestinfo.RESPONSE)
    if raw is None or not raw.strip():
        return None
    return load_response(raw)


def load_response(raw: bytes | str) -> dict:
    try:
        doc = guestinfo.parse_guest_json(raw, guestinfo.RPC_LIMIT, "response")
    except guestinfo.DocumentError as err:
        raise BadDocument(f"the response cannot be decoded: {err}") from None
    schema = doc.get("schema")
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > guestinfo.SCHEMA_VERSION:
        raise NewerSchema(f"the response has schema {schema}, newer than this agent's {guestinfo.SCHEMA_VERSION}: upgrade vsguesttruth-guest")
    try:
        validate.check("response", doc, lenient=True)
    except validate.Invalid as err:
        raise BadDocument(f"the response is not valid: {err}") from None
    return doc


def read_policy(rpc: Values) -> dict | None:
    raw = rpc.get(guestinfo.POLICY)
    if raw is None or not raw.strip():
        return None
    try:
        return guestinfo.parse_guest_json(raw, guestinfo.RPC_LIMIT, "policy")
    except guestinfo.DocumentError as err:
        raise BadDocument(f"the policy key holds no readable policy: {err}") from None


def wait_response(
    rpc: Values, wanted: Callable[[dict], bool], timeout: float, interval: float = 0.5, until_final: bool = False,
    on_answer: Callable[[dict], None] | None = None, sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Poll the response key until an answer that ``wanted`` accepts (and, with ``until_final``, one
    that is final: done / refused / failed). Raises WaitTimeout, saying what was seen last."""
    deadline = time.monotonic() + timeout
    seen: dict | None = None
    while True:
        try:
            answer = read_response(rpc)
        except BadDocument:
            answer = None  # the service may be mid-write of a newer answer; keep polling
        if answer is not None and wanted(answer) and answer != seen:
            seen = answer
            if not until_final or answer.get("status") in FINAL:
                return answer
            if on_answer:
                on_answer(answer)
        if time.monotonic() >= deadline:
            if seen is not None:
                raise WaitTimeout(f"request {seen.get('id')} was {seen.get('status')} but not finished within {timeout:g} s")
            raise WaitTimeout(f"no answer within {timeout:g} s (is the vsguesttruth service running?)")
        sleep(min(interval, max(0.0, deadline - time.monotonic())))


# -- watching -----------------------------------------------------------------------------------

@dataclass
class Watch:
    """Remembers each disk's verdict and tells what changed between two polls."""

    initial: bool = False  # report every disk at the first poll (old verdict "")
    last: dict[str, dict] | None = None

    def update(self, status: Mapping) -> list[dict]:
        rows = {disk_key(d): d for d in status["disks"]}
        previous = self.last
        self.last = rows
        if previous is None and not self.initial:
            return []
        previous = previous or {}
        changes = []
        for key, row in rows.items():
            old = previous.get(key, {}).get("verdict", "")
            if old != row["verdict"]:
                changes.append(_change(status, row, old, row["verdict"]))
        for key, row in previous.items():
            if key not in rows:  # the disk left the document (removed from the VM)
                changes.append(_change(status, row, row["verdict"], ""))
        return changes


def _change(status: Mapping, row: Mapping, old: str, new: str) -> dict:
    return {
        "device": row.get("device") or "", "label": row.get("label", ""), "old_verdict": old, "new_verdict": new,
        "advice": row.get("advice") or "", "explanation": row.get("explanation", ""), "reachable": row.get("reachable"),
        "match": row.get("match", ""), "vm": status.get("vm", ""), "host": status.get("host", ""),
        "controller": row.get("controller"), "bus": row.get("bus"), "unit": row.get("unit"),
        "generation": status.get("generation"), "changed": status.get("changed", ""),
        "incidents": list(row.get("incidents") or []),
    }


def hook_env(change: Mapping, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The hook's environment: ours plus one VSGT_* variable per field of the change."""
    env = dict(os.environ if base is None else base)
    for name, var in HOOK_FIELDS:
        value = change.get(name)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list):
            text = ",".join(str(v) for v in value)
        else:
            text = "" if value is None else str(value)
        env[var] = env_safe(text)
    return env


def env_safe(text: str) -> str:
    """A string an environment can hold: no NUL, valid UTF-8."""
    return text.replace("\x00", "").encode("utf-8", errors="replace").decode("utf-8")


@dataclass(frozen=True)
class HookResult:
    returncode: int | None  # None: it did not finish in time
    output: str


def run_hook(argv: list[str], change: Mapping, timeout: float = 60.0) -> HookResult:
    """Run one hook for one change: executed directly (no shell), the change as JSON on stdin and in env."""
    payload = json.dumps(change, ensure_ascii=True, sort_keys=True) + "\n"
    try:
        proc = subprocess.run(
            argv, input=payload.encode(), env=hook_env(change), capture_output=True,
            timeout=timeout, shell=False, check=False,
        )
    except subprocess.TimeoutExpired as err:
        return HookResult(None, _text(err.stdout) + _text(err.stderr))
    except OSError as err:
        return HookResult(127, f"cannot run {argv[0]}: {err.strerror or err}")
    return HookResult(proc.returncode, _text(proc.stdout) + _text(proc.stderr))


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def check_hook(argv: list[str]) -> str | None:
    """Why a hook cannot run (not found / not executable), or None."""
    path = argv[0]
    if os.sep not in path:
        from shutil import which
        return None if which(path) else f"hook {path!r} not found on PATH"
    if not Path(path).is_file():
        return f"hook {path!r} does not exist"
    if not os.access(path, os.X_OK):
        return f"hook {path!r} is not executable"
    return None


def printable(text: Any) -> str:
    """Text for a terminal: control characters (escape sequences, newlines) shown escaped, never sent."""
    text = "" if text is None else str(text)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
