"""Incidents: the truth grouped by the smallest failed component that explains it, the audit of single points of
failure, and what-if. Pure: plain data in, plain data out, no I/O, no pyVmomi.

- :mod:`.san`: target ports, controllers and fabrics, inferred from the paths;
- :mod:`.grouping`: the evidence (:class:`Symptom`) and the failed components that explain it (:class:`Failure`);
- :mod:`.footprint`, :mod:`.hits`: which disks a failure hits, by the truth's own mapping;
- :mod:`.history`: when a failure started, from the hosts' storage events;
- :mod:`.lifecycle`: incidents open and resolve over successive groupings (:class:`Incident`), with stable ids;
- :mod:`.controller`: the lifecycle kept current with the live inventory (the service, its pages, ``watch``).

    found = failures(inventory)                       # a healthy inventory: ()
    for f in found:
        print(f.line())                               # target 52:4a:..:10 (A-ctl0-p0) dead on 6 hosts (42 paths)
"""

from __future__ import annotations

from .controller import IncidentController, IncidentState
from .failure import KINDS, Failure, Kind, Symptom
from .footprint import Footprints, VmPrint, footprints
from .grouping import failures, symptoms
from .history import TYPES as EVENT_TYPES, History
from .hits import Hit, disk_failures, hits
from .lifecycle import OPEN, RESOLVED, Incident, Lifecycle, Transition, incident_id
from .san import Controller, Fabric, Port, SanMap, san_map

__all__ = [
    "EVENT_TYPES", "KINDS", "OPEN", "RESOLVED", "Controller", "Fabric", "Failure", "Footprints", "History", "Hit",
    "Incident", "IncidentController", "IncidentState", "Kind", "Lifecycle", "Port", "SanMap", "Symptom",
    "Transition", "VmPrint", "disk_failures", "failures", "footprints", "hits", "incident_id", "san_map", "symptoms",
]
