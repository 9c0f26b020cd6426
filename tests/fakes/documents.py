"""State documents and responses as the service writes them (schema/*.schema.json), for guest tests."""

from __future__ import annotations

import copy

GB = 1024**3


def disk(label: str, controller: str, bus: int, unit: int, verdict: str = "healthy", *, uuid: str = "",
         capacity: int | None = None, advice: str | None = None, explanation: str | None = None,
         reachable: bool | None = None, backing: str = "vmdk", luns: list | None = None,
         incidents: list[str] | None = None) -> dict:
    d = {
        "label": label, "controller": controller, "bus": bus, "unit": unit, "verdict": verdict,
        "reachable": reachable if reachable is not None else verdict in ("healthy", "degraded", "below_sla"),
        "advice": advice or {"healthy": "none", "degraded": "keep_using", "connectivity_lost": "move_host",
                             "all_paths_down": "wait", "media_failure": "fail_over", "below_sla": "move"}.get(verdict, "none"),
        "explanation": explanation if explanation is not None else f"{label} is {verdict}",
        "backing": backing, "datastore": "ds-gold",
    }
    if uuid:
        d["uuid"] = uuid
    if capacity is not None:
        d["capacity"] = capacity
    if luns is not None:
        d["luns"] = luns
    if incidents:
        d["incidents"] = incidents
    return d


def document(disks: list[dict], generation: int = 1, vm: str = "db01", host: str = "esx-a02", **extra) -> dict:
    order = ["healthy", "unknown", "degraded", "below_sla", "all_paths_down", "connectivity_lost", "media_failure"]
    worst = max((d["verdict"] for d in disks), key=order.index, default="healthy")
    doc = {
        "schema": 1, "generation": generation, "changed": "2026-11-25T18:00:00Z",
        "vm": {"name": vm, "uuid": "e551ed14-3d90-5ebb-a747-d7a862cb2326", "host": host, "cluster": "cl-a"},
        "verdict": worst, "explanation": f"worst disk is {worst}", "advice": "none",
        "policy": {"status": "default", "refresh_interval": 0, "min_working_paths": 1, "min_reachable_devices": None},
        "disks": copy.deepcopy(disks),
    }
    doc.update(extra)
    return doc


def response(id: str, status: str, message: str = "", action: str = "") -> dict:
    doc = {"schema": 1, "id": id, "status": status, "message": message or status, "at": "2026-11-25T18:00:01Z"}
    if action:
        doc["action"] = action
    return doc
