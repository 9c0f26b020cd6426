"""The hosts' events as evidence and as time: which problems a host reported about a device (or about its
own connection) and has not cleared yet, and since when.

ESXi posts an ``esx.problem.*`` event (an EventEx whose argument ``1`` is the device) when its view of a device
changes, and the matching ``esx.clear.*`` when it recovers; vCenter posts ``HostConnectionLostEvent`` /
``HostDisconnectedEvent`` and ``HostConnectedEvent`` for a host's connection. Folding them in key order gives
the open conditions (:class:`~vsguesttruth.model.DeviceEvent`) the truth reads: a permanent device loss
reported by the host (``esx.problem.scsi.device.state.permanentloss``) is evidence of PDL, which an
operational state alone is not; an APD that timed out (``esx.problem.storage.apd.timeout``) is still an APD.
Pure: plain events in, open conditions out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Mapping

from vsguesttruth.model import DeviceEvent

from .rules import APD_REASONS, PDL

#: eventTypeId (or event class) -> the condition it opens
OPENS = {
    "esx.problem.scsi.device.state.permanentloss": "pdl",
    "esx.problem.storage.apd.start": "apd",
    "esx.problem.storage.apd.timeout": "apd_timeout",
    "esx.problem.storage.connectivity.lost": "connectivity_lost",
    "esx.problem.storage.redundancy.lost": "redundancy_lost",
    "esx.problem.storage.redundancy.degraded": "redundancy_degraded",
    "HostConnectionLostEvent": "not_connected",
    "HostDisconnectedEvent": "not_connected",
}
#: eventTypeId (or event class) -> the conditions it closes
CLEARS = {
    "esx.clear.scsi.device.state.permanentloss.deviceonline": frozenset({"pdl"}),
    "esx.clear.storage.apd.exit": frozenset({"apd", "apd_timeout"}),
    "esx.clear.storage.connectivity.restored": frozenset({"connectivity_lost", "redundancy_lost", "redundancy_degraded"}),
    "esx.clear.storage.redundancy.restored": frozenset({"redundancy_lost", "redundancy_degraded"}),
    "HostConnectedEvent": frozenset({"not_connected"}),
}
#: a condition that opens ends these (the same problem, worse or better)
_REPLACES = {
    "apd_timeout": frozenset({"apd"}),
    "connectivity_lost": frozenset({"redundancy_lost", "redundancy_degraded"}),
    "redundancy_lost": frozenset({"redundancy_degraded"}),
    "redundancy_degraded": frozenset({"redundancy_lost"}),
}
#: what the event history collector is asked for: every type above
EVENT_TYPES = tuple(OPENS) + tuple(CLEARS)

Open = Mapping[tuple[str, str], tuple[DeviceEvent, ...]]


@dataclass(frozen=True, slots=True)
class HostEvent:
    """One event as the edge read it: plain data."""

    key: int
    time: datetime
    type: str  # eventTypeId of an EventEx, else the event's class name
    host: str  # host moref
    device: str = ""  # argument "1" of a storage event; "" for a host connection event
    path: str = ""  # argument "2" of a redundancy or connectivity problem event: the path that went down


def fold(current: Open, events: Iterable[HostEvent]) -> dict[tuple[str, str], tuple[DeviceEvent, ...]]:
    """The open conditions after ``events`` (applied in key order; events already folded are harmless)."""
    out = dict(current)
    for event in sorted(events, key=lambda e: e.key):
        if not event.host:
            continue
        where = (event.host, event.device)
        held = {d.kind: d for d in out.get(where, ())}
        kind = OPENS.get(event.type)
        if kind is not None:
            started = event.time
            if kind == "apd_timeout" and "apd" in held:
                started = held["apd"].since  # the APD began when it started, not when it timed out
            elif kind in held:
                started = held[kind].since  # repeated: the condition began with the first
            for gone in _REPLACES.get(kind, ()):
                held.pop(gone, None)
            held[kind] = DeviceEvent(host=event.host, device=event.device, kind=kind, since=started,
                                     event_type=event.type, key=event.key)
        for gone in CLEARS.get(event.type, ()):
            held.pop(gone, None)
        if held:
            out[where] = tuple(sorted(held.values(), key=lambda d: d.kind))
        else:
            out.pop(where, None)
    return out


def opened(events: tuple[DeviceEvent, ...], *kinds: str) -> DeviceEvent | None:
    """The first of ``events`` of one of ``kinds``; None when none is open."""
    return next((d for d in events if d.kind in kinds), None)


def loss_evidence(events: tuple, accessible: bool | None, reason: str) -> tuple[str, str, datetime | None, str]:
    """(PDL evidence, APD evidence, since, source) from a host's mount of the LUN's datastore and its open
    events about the LUN. PDL: the mount's PermanentDeviceLoss, or the host's permanentloss event."""
    pdl_event = opened(events, "pdl")
    apd_event = opened(events, "apd_timeout", "apd")
    lost = opened(events, "connectivity_lost", "redundancy_lost", "redundancy_degraded")
    pdl = apd = ""
    if accessible is False and reason == PDL:
        pdl = "its datastore mount says PermanentDeviceLoss"
    if pdl_event is not None:
        pdl = (pdl + " and " if pdl else "") + f"the host reported {pdl_event.event_type}"
    if apd_event is not None:
        apd = apd_event.event_type
    elif accessible is False and reason in APD_REASONS:
        apd = reason
    first = next((e for e in (pdl_event, apd_event, lost) if e is not None), None)
    return pdl, apd, (first.since if first else None), ("event" if first else "")
