"""What the service did about an incident: its own vCenter events (``vsguesttruth: ...``, posted by remediation on
the VMs: advice, moves started, done or failed, holds, refusals with their reasons) on the VMs the incident hit,
from a minute before it started to a minute after it resolved. Events are plain dicts as the vCenter edge and
the web source give them (``time`` ISO 8601 or datetime, ``vm``, ``vm_name``, ``message``, ``key``). Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import AbstractSet, Any, Iterable, Mapping

from .lifecycle import Incident

SLACK = timedelta(minutes=1)
KINDS = ("moved", "moving", "failed", "advice", "held", "refused", "incident", "answered", "note")


def event_kind(message: str) -> str:
    """What one of the service's vCenter events says it did: moved, moving, failed, advice, held, refused,
    incident (an incident recorded), answered (a guest's request answered: the service's record), note."""
    text = message.removeprefix("vsguesttruth: ")
    for prefix, kind in (("moved ", "moved"), ("moving", "moving"), ("manual move of", "moving"),
                         ("advice", "advice"), ("holding ", "held"), ("not moving", "refused"), ("incident ", "incident"),
                         ("answered request ", "answered")):
        if text.startswith(prefix):
            return "failed" if " failed" in text and kind == "moving" else kind
    return "failed" if "failed" in text else "note"


def _when(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def actions(incident: Incident, events: Iterable[Mapping[str, Any]], now: datetime,
            vms: AbstractSet[str] | None = None) -> list[dict[str, Any]]:
    """The service's events about the VMs ``incident`` hit while it was open (oldest first), each with its kind;
    ``vms``: the morefs of the VMs it hit, when the caller keeps them (a port of a big array hits thousands)."""
    if vms is None:
        vms = {h.vm for h in incident.hits}
    start, end = incident.since - SLACK, (incident.resolved_at or now) + SLACK
    out = []
    for e in events:
        if e.get("vm") not in vms:
            continue
        at = _when(e["time"])
        kind = event_kind(str(e.get("message", "")))
        if start <= at <= end and kind != "answered":  # a guest's answer is bookkeeping, not about the incident
            out.append({**e, "time": at.isoformat(), "kind": kind})
    out.sort(key=lambda e: (e["time"], e.get("key", 0)))
    return out


def summary(found: list[Mapping[str, Any]]) -> str:
    """``advice on 3 VMs; moved web01; refused db02`` (empty: nothing done)."""
    by_kind: dict[str, list[str]] = {}
    for e in found:
        by_kind.setdefault(e["kind"], [])
        name = str(e.get("vm_name") or e.get("vm") or "?")
        if name not in by_kind[e["kind"]]:
            by_kind[e["kind"]].append(name)
    parts = []
    for kind in ("moved", "moving", "failed", "refused", "held", "advice"):
        names = by_kind.get(kind, [])
        if names:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            parts.append(f"{kind} {shown}")
    return "; ".join(parts)
