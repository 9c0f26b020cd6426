"""The state document a guest reads (``guestinfo.vsguesttruth.state``), built from a VM's truth.

Pure: a :class:`~vsguesttruth.truth.VmTruth` and the VM's :class:`~vsguesttruth.guestinfo.policy.GuestPolicy` in,
a JSON-ready dict out (``schema/state.schema.json``). Publishing is level-triggered: :func:`next_document`
compares what the VM has with what it should have, ignoring ``generation`` and ``changed``, and returns a
new value only when the content differs, so a restart rewrites nothing that is already right.

A document that would not fit the guest RPC limit even compressed (an extreme VM) is trimmed: first the
per-disk explanations go, then the LUN details, and ``policy.message`` says so.

``incidents`` (disk key -> incident ids, from the service's incident controller) names, on each disk they hit,
the open incidents behind its verdict; a disk no incident hits carries none, so a healthy VM's document does
not change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from vsguesttruth_guest.guestinfo import (
    PLAIN_LIMIT,
    SCHEMA_VERSION,
    DocumentError,
    decode_state,
    dumps,
    encode_state,
    timestamp,
)
from vsguesttruth.guestinfo.policy import GuestPolicy, policy_section
from vsguesttruth.truth import DiskTruth, HostPaths, LunTruth, Verdict, VmTruth, of_host

CONTROLLERS = frozenset({"pvscsi", "lsilogic", "lsilogic-sas", "buslogic", "nvme", "sata", "ide"})
BACKINGS = frozenset({"vmdk", "rdm_physical", "rdm_virtual"})
MEDIA = frozenset({"ssd", "hdd"})
VAAI = {"vStorageSupported": "supported", "vStorageUnsupported": "unsupported"}
VOLATILE = ("generation", "changed")  # what changes without the content changing
MAX_INCIDENTS = 16  # incident ids a disk names (the schema's maxItems)
_TRIMS = (("explanation",), ("explanation", "luns"), ("explanation", "luns", "datastores"))


class Memo:
    """Per-pass cache of rendered LUNs: many VMs share a (LUN, host) judgement; render it once.

    Holds the judged objects it keys by ``id()``, so a key is never reused while the memo lives. Make a
    new one with every new :class:`~vsguesttruth.truth.TruthContext`.
    """

    __slots__ = ("_luns",)

    def __init__(self) -> None:
        self._luns: dict[tuple[int, str], tuple[LunTruth, dict[str, Any]]] = {}

    def lun(self, lun: LunTruth, host_moref: str) -> dict[str, Any]:
        key = (id(lun), host_moref)
        found = self._luns.get(key)
        if found is None:
            here = of_host(lun.hosts, lun.host, host_moref)
            found = self._luns[key] = (lun, _lun(lun, here[0] if here else None))
        return found[1]


Incidents = Mapping[int, Sequence[str]]  # disk key -> ids of the open incidents hitting it


def desired(truth: VmTruth, policy: GuestPolicy, memo: Memo | None = None,
            incidents: Incidents | None = None) -> dict[str, Any]:
    """The document's content (no ``generation``/``changed``), trimmed if it would not fit."""
    memo = memo or Memo()
    doc = _content(truth, policy, policy.fields, memo, incidents)
    return doc if _fits(doc) else _trimmed(truth, policy, memo, incidents)


def content_equal(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether two documents say the same, ignoring ``generation`` and ``changed``."""
    return {k: v for k, v in old.items() if k not in VOLATILE} == {k: v for k, v in new.items() if k not in VOLATILE}


def next_document(old_value: str | None, truth: VmTruth, policy: GuestPolicy, now: datetime,
                  memo: Memo | None = None, incidents: Incidents | None = None) -> str | None:
    """The value to write into the VM's state key, or None when the one there already says it all.

    ``generation`` is the old one plus one (1 when there was none, or it did not decode) and ``changed``
    is ``now``; an old value that does not decode, or is of another schema, is replaced.
    """
    before = seen(old_value)
    found = compare(before, truth, policy, memo, incidents)
    if found is None:
        return None
    return encode_state(stamp(found[0], before.generation if before else 0, now))


@dataclass(frozen=True, slots=True)
class Seen:
    """A published document in a few bytes: what it says (a fingerprint), its generation and its policy
    section. Kept per VM by the service, so an unchanged VM costs no decoding."""

    value: str  # the state value it describes
    fingerprint: str
    generation: int
    policy: Any
    #: how bad the news it tells is: (the verdict's severity, the paths not available); a document that tells
    #: worse news than the one before goes first (a guest must learn of a failure before of a recovery)
    rank: tuple[int, int] = (0, 0)


def seen(value: str | None) -> Seen | None:
    """Decode a state value into a :class:`Seen`; None when empty or unreadable."""
    doc = read(value)
    return None if doc is None else _seen_doc(value or "", doc)


def read(value: str | None) -> dict[str, Any] | None:
    """The document in a state value; None when empty, unreadable, or of another schema."""
    if not value:
        return None
    try:
        doc = decode_state(value)
    except (DocumentError, ValueError, RecursionError):
        return None
    return doc if doc.get("schema") == SCHEMA_VERSION and "encoding" not in doc else None


def compare(before: Seen | None, truth: VmTruth, policy: GuestPolicy, memo: Memo | None = None,
            incidents: Incidents | None = None) -> tuple[dict[str, Any], Seen] | None:
    """The content to publish and its :class:`Seen` (value still ""), or None when ``before`` says the same.

    The content is trimmed when it would not fit even compressed (measured only when it is to be written).
    """
    memo = memo or Memo()
    content = _content(truth, policy, policy.fields, memo, incidents)
    text = dumps(content)
    mark = _fingerprint(text)
    if before is not None and mark == before.fingerprint:
        return None
    if len(text.encode()) + 64 > PLAIN_LIMIT and not _fits(content):
        content = _trimmed(truth, policy, memo, incidents)
        mark = _fingerprint(dumps(content))
        if before is not None and mark == before.fingerprint:
            return None
    generation = (before.generation if before else 0) + 1
    return content, Seen("", mark, generation, content.get("policy"), rank(content))


def stamp(content: Mapping[str, Any], generation_before: int, now: datetime) -> dict[str, Any]:
    """The whole document: ``content`` with the next generation and ``now``."""
    return {**content, "generation": generation_before + 1, "changed": timestamp(now)}


def _seen_doc(value: str, doc: Mapping[str, Any]) -> Seen:
    return Seen(value, _fingerprint(dumps({k: v for k, v in doc.items() if k not in VOLATILE})),
                _generation(doc), doc.get("policy"), rank(doc))


_SEVERITY = {v.value: v.severity for v in Verdict}


def rank(doc: Mapping[str, Any]) -> tuple[int, int]:
    """(the verdict's severity, the paths not available (dead, disabled, unknown) on the VM's host) a document
    tells; (0, 0) for one that tells nothing."""
    verdict = doc.get("verdict")
    severity = _SEVERITY.get(verdict, 0) if isinstance(verdict, str) else 0
    down = 0
    for disk in doc.get("disks") or ():
        for lun in (disk.get("luns") or ()) if isinstance(disk, dict) else ():
            paths = lun.get("paths") if isinstance(lun, dict) else None
            if isinstance(paths, dict):
                down += sum(n for state, n in paths.items() if state not in _UP and isinstance(n, int))
    return severity, down


_UP = frozenset({"active", "standby"})


def _generation(doc: Mapping[str, Any] | None) -> int:
    generation = doc.get("generation") if doc is not None else 0
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
        return 0
    return generation


def _fingerprint(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


# ---------------------------------------------------------------------------------------------------


def _content(truth: VmTruth, policy: GuestPolicy, fields: frozenset[str], memo: Memo,
             incidents: Incidents | None = None) -> dict[str, Any]:
    vm: dict[str, Any] = {"name": truth.name, "uuid": truth.uuid, "host": truth.host}
    if truth.cluster:
        vm["cluster"] = truth.cluster
    if truth.host_evacuation:
        vm["host_evacuation"] = truth.host_evacuation
    return {
        "schema": SCHEMA_VERSION,
        "vm": vm,
        "verdict": truth.verdict.value,
        "explanation": truth.explanation,
        "advice": truth.advice.value,
        "policy": policy_section(policy),  # shared: copied before a change (_trimmed)
        "service_level": _level(truth),
        "disks": [_disk(d, truth.host_moref, fields, memo, (incidents or {}).get(d.key, ())) for d in truth.disks],
    }


def _level(truth: VmTruth) -> dict[str, Any]:
    out: dict[str, Any] = {"met": truth.level.met, "fewest_paths": truth.level.fewest_paths}
    if truth.level.shortfall:
        out["shortfall"] = truth.level.shortfall
    return out


def _disk(d: DiskTruth, host_moref: str, fields: frozenset[str], memo: Memo, incidents: Sequence[str] = ()) -> dict[str, Any]:
    disk = d.disk
    out: dict[str, Any] = {
        "label": disk.label,
        "controller": disk.controller if disk.controller in CONTROLLERS else "other",
        "bus": disk.bus,
        "unit": disk.unit,
    }
    if "uuid" in fields and disk.uuid:
        out["uuid"] = disk.uuid
    if "capacity" in fields:
        out["capacity"] = max(0, disk.capacity_bytes)
    out["backing"] = disk.backing if disk.backing in BACKINGS else "other"
    if "datastores" in fields:
        names = _chain_datastores(d)
        if names:
            out["datastore"] = names[0]
        if len(names) > 1:
            out["datastores"] = names
    if "luns" in fields:
        out["luns"] = [memo.lun(lun, host_moref) for lun in d.luns]
    out["verdict"] = d.verdict.value
    out["reachable"] = d.verdict.usable
    if "explanation" in fields:
        out["explanation"] = d.explanation
    out["advice"] = d.advice.value
    if incidents:
        out["incidents"] = list(incidents)[:MAX_INCIDENTS]
    return out


def _chain_datastores(d: DiskTruth) -> list[str]:
    """Datastore names of the disk's files, current file first (an RDM: its mapping file's datastore)."""
    names = [f[1:f.index("]")] for f in d.disk.files if f.startswith("[") and "]" in f]
    names = [n for n in names if n] or [ds.name for ds in d.datastores]
    return list(dict.fromkeys(names))


def _lun(lun: LunTruth, here: HostPaths | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": lun.canonical_name,
        "media": lun.media if lun.media in MEDIA else "unknown",
    }
    if lun.lun_type:
        out["type"] = lun.lun_type
    out["vaai"] = VAAI.get(lun.vaai, "unknown")
    if here is not None:
        out["state"] = ",".join(here.operational_state) or "unknownState"
        if here.path_selection_policy:
            out["policy"] = here.path_selection_policy
        out["paths"] = {state: n for state, n in here.counts.items() if n}
        if here.io is not None:
            out["io"] = here.io
        if here.since is not None and here.since_source == "event":  # the watch's time changes with a restart
            out["since"] = timestamp(here.since)
    else:
        out["paths"] = {}
    return out


def _trimmed(truth: VmTruth, policy: GuestPolicy, memo: Memo, incidents: Incidents | None = None) -> dict[str, Any]:
    for dropped in _TRIMS:
        doc = _content(truth, policy, policy.fields - frozenset(dropped), memo, incidents)
        if _fits(doc):
            note = f"document trimmed to fit 64 KB: {', '.join(dropped)} left out"
            doc["policy"] = {**doc["policy"], "message": _join(doc["policy"].get("message", ""), note)}
            return doc
    raise DocumentError(f"the state document of {truth.name} does not fit 64 KB even trimmed")


def _fits(doc: dict[str, Any]) -> bool:
    if len(dumps(doc).encode()) + 64 <= PLAIN_LIMIT:
        return True
    try:
        encode_state({**doc, "generation": 2**53, "changed": "2000-01-01T00:00:00Z"})
    except DocumentError:
        return False
    return True


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
