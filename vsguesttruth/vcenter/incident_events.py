"""Incidents recorded in vCenter: the service posts an incident's opening and its resolution as user events on
the vCenter root folder (vCenter > Monitor > Events), in one line with its id, what failed and since when, so
the record outlives the service and ``vsguesttruth incidents`` lists the resolved ones too.

    vsguesttruth: incident target-7e55a9aae3 opened [since 2026-12-05T00:53:56.424107+00:00]: target
    52:4a:..:10 (A-ctl0-p0) dead on 6 hosts (33 paths); 27 disks of 15 VMs hit
    vsguesttruth: incident target-7e55a9aae3 resolved after 12 min [since ... until ...]: ...

Posting needs ``Global.LogEvent`` on the root folder (the ``advise`` feature's privilege).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pyVmomi import vim

from . import events
from .connect import Connection

_RECORD = re.compile(r"^vsguesttruth: incident (?P<id>[a-z]+-[0-9a-f]+) (?P<change>opened|resolved)(?: after [^\[]*)? "
                     r"\[since (?P<since>[^\]\s]+)(?: until (?P<until>[^\]\s]+))?\]: (?P<line>.*)$")


@dataclass(frozen=True, slots=True)
class Recorded:
    """An incident as its events recorded it: opened, and resolved when that event came."""

    id: str
    line: str
    since: datetime
    resolved_at: datetime | None
    opened_event: int  # event keys
    resolved_event: int = 0

    @property
    def kind(self) -> str:
        return self.id.split("-", 1)[0]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "line": self.line, "since": self.since.isoformat(),
                "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
                "state": "resolved" if self.resolved_at else "open"}


def post(conn: Connection, message: str) -> None:
    """One incident event on the vCenter root folder."""
    events.post(conn, conn.content.rootFolder._moId, message, kind=vim.Folder)


def recorded(conn: Connection, lookback: timedelta) -> list[Recorded]:
    """The incidents recorded in the last ``lookback``, by opening (a resolution without its opening in the window
    counts too), oldest first."""
    now = conn.run(conn.si.CurrentTime, "read vCenter's time")
    now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    found: dict[str, Recorded] = {}
    for e in events.query(conn, since=now - lookback, max_count=0):
        match = _RECORD.match(e.message)
        if match is None:
            continue
        since = datetime.fromisoformat(match["since"])
        incident = found.get(match["id"])
        if match["change"] == "opened":
            if incident is None:
                found[match["id"]] = Recorded(match["id"], match["line"], since, None, e.key)
        else:
            until = datetime.fromisoformat(match["until"]) if match["until"] else e.time
            found[match["id"]] = Recorded(match["id"], incident.line if incident else match["line"], since, until,
                                          incident.opened_event if incident else 0, e.key)
    return sorted(found.values(), key=lambda r: (r.since, r.id))
