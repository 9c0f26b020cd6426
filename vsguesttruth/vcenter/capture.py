"""Recording vCenter's replies for a bug report, and replaying them offline: ``vsguesttruth capture`` and
``vsguesttruth replay``.

A capture is what the collector reads, as vCenter sent it: the SOAP bodies of the PropertyCollector's
replies for the storage view (hosts, clusters, datastores, VMs, with exactly the properties the collector
asks for) and of the event history collector's pages of the hosts' storage events, in one gzip-compressed
JSON file. A replay runs the same decoding (:mod:`.fastdecode`), the same conversion into the model and the
same event folding on those bodies, so what ``replay`` prints is what ``status`` printed against that vCenter.

``hashed``: names and identifiers are replaced by stable hashes in the bodies' text (host, cluster, datastore
and VM names, file paths, datastore URLs and NFS servers, VM and disk uuids, LUN identifiers inside every id
that embeds them, FC WWNs), and what would still identify the site or say what the guests were told
(SCSI inquiry data and serial numbers, our guestinfo documents; a guest's policy stays: it sets its service
level) is left out. Morefs stay: they say nothing about the site and link the objects.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping
from xml.sax.saxutils import escape

from pyVmomi import vim, vmodl

from ..model import Inventory
from ..truth.events import EVENT_TYPES, fold
from . import fastdecode
from .connect import Connection
from .convert import CLUSTER, Record, assemble_inventory, compact_record, properties_for
from .errors import VsgtError
from .eventfeed import host_event
from .properties import api_version, create_views, destroy_views, filter_spec, record_of, retrieve

FORMAT = "vsguesttruth-capture"
VERSION = 1
_RESULT = vmodl.query.PropertyCollector.RetrieveResult
_EVENTS = vim.event.Event.Array
_DROPPED = ("durableName", "alternateName", "standardInquiry", "serialNumber", "descriptor")


def capture(conn: Connection, path: str | Path, *, hashed: bool = False, event_seconds: float = 24 * 3600,
            max_event_pages: int = 20, port_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Record the storage view (and the last ``event_seconds`` of storage events) into ``path``; returns the
    file's summary (objects, replies, events, hashed)."""

    def read() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
        content = conn.content
        views = create_views(content)
        try:
            spec = filter_spec(views, properties_for(api_version(content)))
            with fastdecode.recording() as replies:
                for _ in retrieve(content.propertyCollector, [spec], prefetch=False):
                    pass
        finally:
            destroy_views(views)
        now = conn.si.CurrentTime()
        begin = (now if now.tzinfo else now.replace(tzinfo=timezone.utc)) - timedelta(seconds=event_seconds)
        collector = content.eventManager.CreateCollectorForEvents(vim.event.EventFilterSpec(
            eventTypeId=list(EVENT_TYPES), time=vim.event.EventFilterSpec.ByTime(beginTime=begin)))
        try:
            collector.RewindCollector()
            with fastdecode.recording() as pages:
                for _ in range(max_event_pages):
                    if not fastdecode.invoke(None, collector, "ReadNextEvents", maxCount=1000):
                        break
        finally:
            try:
                collector.DestroyCollector()
            except Exception:  # noqa: BLE001 - it goes with the session anyway
                pass
        return replies, pages

    replies, pages = conn.run(read, "record the storage view")
    bodies = [b.decode("utf-8") for _, b in replies]
    events = [b.decode("utf-8") for _, b in pages]
    if hashed:
        names = _sensitive(_records(bodies), _events(events))
        bodies = [_hide(b, names) for b in bodies]
        events = [_hide(b, names) for b in events]
    about = conn.content.about
    doc = {
        "format": FORMAT, "version": VERSION, "captured_at": datetime.now(timezone.utc).isoformat(),
        "vcenter": {"full_name": "" if hashed else str(about.fullName or ""), "api_version": str(about.apiVersion or ""),
                    "session_version": api_version(conn.content) or ""},
        "hashed": hashed, "port_names": {} if hashed else dict(port_names or {}),
        "replies": bodies, "events": events,
    }
    data = json.dumps(doc).encode()
    Path(path).write_bytes(gzip.compress(data))
    records = _records(bodies)
    return {"path": str(path), "objects": len(records), "replies": len(bodies), "event_pages": len(events),
            "events": sum(1 for _ in _events(events)), "hashed": hashed, "bytes": len(data)}


def replay(path: str | Path) -> Inventory:
    """The inventory (with the hosts' open storage conditions) a capture file records."""
    try:
        raw = Path(path).read_bytes()
        doc = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except (ValueError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise VsgtError(f"{path} is not a vsguesttruth capture: {err}") from None
    except OSError as err:
        raise VsgtError(f"cannot read capture {path}: {err.strerror or err}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise VsgtError(f"{path} is not a vsguesttruth capture (no \"format\": \"{FORMAT}\")")
    if doc.get("version") != VERSION:
        raise VsgtError(f"{path} is a capture of version {doc.get('version')!r}; this vsguesttruth reads {VERSION}")
    records = _records(doc.get("replies") or [])
    inv = assemble_inventory(records, doc.get("port_names") or {})
    return replace(inv, device_events=fold({}, _events(doc.get("events") or [])))


# ---------------------------------------------------------------------------------------------------


def _records(bodies: Iterable[str]) -> dict[str, Record]:
    records: dict[str, Record] = {}
    for body in bodies:
        result = fastdecode.decode(body.encode("utf-8"), _RESULT, None)
        if isinstance(result, Exception):
            raise VsgtError(f"a recorded reply is a fault: {type(result).__name__}")
        for item in getattr(result, "objects", None) or ():
            mo, record = record_of(item)
            records[mo] = compact_record(record.kind, record.props)
    return records


def _events(pages: Iterable[str]) -> Iterable[Any]:
    for page in pages:
        for raw in fastdecode.decode(page.encode("utf-8"), _EVENTS, None) or ():
            event = host_event(raw)
            if event is not None:
                yield event


def _token(kind: str, value: str) -> str:
    return f"{kind}-{hashlib.blake2b(value.encode(), digest_size=5).hexdigest()}"


def _sensitive(records: Mapping[str, Record], events: Iterable[Any]) -> dict[str, str]:
    """Every name and identifier to hide -> what replaces it (the same everywhere it appears)."""
    found: dict[str, str] = {}
    inv = assemble_inventory(records)
    for mo, record in records.items():
        if record.kind == CLUSTER and record.props.get("name"):
            found[record.props["name"]] = _token("cluster", record.props["name"])
    for host in inv.hosts.values():
        found[host.name] = _token("host", host.name)
        for hba in host.hbas:
            for wwn in (hba.wwpn, hba.wwnn):
                if wwn:
                    _wwn(found, wwn)
        for lun in host.luns:
            body = lun.canonical_name.split(".", 1)[-1]
            if len(body) >= 16:
                found[body] = hashlib.blake2b(body.encode(), digest_size=len(body) // 2 or 1).hexdigest()[:len(body)]
        for path in host.paths:
            for wwn in (path.target, path.target_node):
                if re.fullmatch(r"([0-9a-f]{2}:){7}[0-9a-f]{2}", wwn):
                    _wwn(found, wwn)
    for ds in inv.datastores.values():
        found[ds.name] = _token("ds", ds.name)
        for text in (ds.url, ds.remote):
            if text:
                found[text] = _token("url", text)
        if ":" in ds.remote:
            server, share = ds.remote.split(":", 1)
            found[server] = _token("server", server)
            found[share] = _token("share", share)
    for vm in inv.vms.values():
        found[vm.name] = _token("vm", vm.name)
        if vm.uuid:
            found[vm.uuid] = _token("uuid", vm.uuid)
        for disk in vm.disks:
            if disk.uuid:
                found[disk.uuid] = _token("uuid", disk.uuid)
    return {k: v for k, v in found.items() if k}


def _wwn(found: dict[str, str], wwn: str) -> None:
    """A WWN appears as vSphere sends it: a signed 64-bit long in text."""
    number = int(wwn.replace(":", ""), 16)
    signed = number - (1 << 64) if number >= 1 << 63 else number
    fake = int(hashlib.blake2b(wwn.encode(), digest_size=7).hexdigest(), 16) | (0x2 << 60)  # a positive NAA 2 WWN
    found[str(signed)] = str(fake)


def _hide(body: str, names: Mapping[str, str]) -> str:
    """``body`` with every sensitive text replaced (only in element text, longest first) and the dropped
    elements and our guestinfo documents left out."""
    for tag in _DROPPED:
        body = re.sub(rf"<{tag}(\s[^>]*)?>.*?</{tag}>", "", body, flags=re.S)
    body = re.sub(r"(<key>guestinfo\.vsguesttruth\.(?!policy<)[^<]*</key><value[^>]*>)[^<]*(</value>)", r"\1\2", body)
    ordered = sorted(((escape(k), escape(v)) for k, v in names.items()), key=lambda kv: -len(kv[0]))
    whole = {k: v for k, v in ordered if len(k) < 3}
    parts = [(k, v) for k, v in ordered if len(k) >= 3]
    pattern = re.compile("|".join(re.escape(k) for k, _ in parts)) if parts else None
    lookup = dict(parts)

    def text(match: re.Match) -> str:
        value = match.group(1)
        if value in whole:
            return ">" + whole[value] + "<"
        if pattern is not None:
            value = pattern.sub(lambda m: lookup[m.group(0)], value)
        return ">" + value + "<"

    return re.sub(r">([^<]+)<", text, body)


__all__ = ["FORMAT", "VERSION", "capture", "replay"]
