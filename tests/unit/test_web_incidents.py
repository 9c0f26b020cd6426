"""The incident routes of the plugin's API and their /metrics, on hand-made inventories: the list (paging,
filters, sort, search), one incident with its hits and what the service did, the timeline, the audit, what-if;
metrics with vmware_exporter's labels, computed once per version."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from vsguesttruth.config import AuditConfig, RemediationConfig
from vsguesttruth.incidents import IncidentController
from vsguesttruth.plan import plan_for
from vsguesttruth.web import Auth, IncidentSource, StaticSource, TokenStore, create_app

from fakes.inventory import drop_paths, host_moref, lab_inventory, set_hba, set_host, set_path, set_target, vm_moref
from fakes.web import READ, READ_H

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def event(key: int, minutes: float, vm: str, message: str) -> dict:
    return {"key": key, "time": (T0 + timedelta(minutes=minutes)).isoformat(), "vm": vm_moref(vm), "vm_name": vm,
            "user": "svc", "message": "vsguesttruth: " + message}


class World:
    """A static inventory source, the incident controller the service would run on it, and the app."""

    def __init__(self, audit: AuditConfig | None = None) -> None:
        self.clock = Clock()
        self.controller = IncidentController(clock=self.clock)
        self.source = StaticSource(lab_inventory(), events=[
            event(1, 1, "web01", "advice: vmotion web01 from esx-a01 to esx-a02 (connectivity_lost): ..."),
            event(2, 2, "web01", "moved web01 from esx-a01 to esx-a02 in 3.1 s (vmotion, connectivity_lost)"),
            event(3, -90, "db01", "not moving db01 (all_paths_down): ..."),
        ])
        config = RemediationConfig(mode="auto")
        self.incidents = IncidentSource(self.controller.state, config, audit or AuditConfig())
        plan = lambda inv, vm: plan_for(inv, vm, config) if vm else None  # noqa: E731
        self.client = TestClient(create_app(self.source, Auth(TokenStore({READ: ("grafana", "read")})),
                                            plan=plan, incidents=self.incidents))
        self.controller.observe(self.source.latest())

    def set(self, inv, minutes: float = 0) -> None:
        self.clock.now = T0 + timedelta(minutes=minutes)
        self.source.set(inv)
        self.controller.observe(inv)

    def get(self, path: str, status: int = 200, **params) -> dict:
        answer = self.client.get(path, headers=READ_H, params=params)
        assert answer.status_code == status, answer.text
        return answer.json()


@pytest.fixture
def world() -> World:
    return World()


def test_a_dead_port_is_one_incident_with_its_hosts_and_vms(world):
    assert world.get("/api/v1/incidents")["items"] == []
    assert world.get("/api/v1/about")["features"]["incidents"] is True
    dead = set_target(world.source.latest(), "A-ctl0-p0", "dead")
    world.set(dead, 0)
    world.set(dead, 3)
    page = world.get("/api/v1/incidents")
    [row] = page["items"]
    assert row["kind"] == "target" and row["state"] == "open" and row["host_count"] == 6 and row["disk_count"] == 9
    assert row["component"] == "target A-ctl0-p0" and row["detail"]["port_name"] == "A-ctl0-p0"
    assert page["counts"] == {"open": 1, "resolved": 0, "open_by_kind": {**{k: 0 for k in page["counts"]["open_by_kind"]},
                                                                          "target": 1}}
    assert set(row["vms"]) >= {"web01", "db01", "web03"} and row["worst"] == "degraded"
    detail = world.get(f"/api/v1/incidents/{row['id']}")
    web01 = next(h for h in detail["hits"] if h["vm"] == "web01" and h["disk"] == "Hard disk 1")
    assert web01["verdict"] == web01["verdict_when_hit"] == "degraded" and web01["host"] == "esx-a01"
    views = world.client.app.state.pages.newest()[2]
    assert "_per_vm" not in views.__dict__  # the hits' VMs were judged alone, not every VM's disk table
    assert [h["name"] for h in detail["host_list"]] == ["esx-a01", "esx-a02", "esx-a03", "esx-b01", "esx-b02", "esx-b03"]
    assert detail["evidence_total"] == len(detail["evidence_items"]) == row["paths"]
    assert [a["kind"] for a in detail["actions"]] == ["advice", "moved"]  # db01's refusal came before it
    assert detail["advice"] and all(a["moves"] is False for a in detail["advice"])  # degraded: keep using


def test_resolved_incidents_the_timeline_filters_and_sorting(world):
    inv = world.source.latest()
    world.set(set_hba(inv, "esx-a01", "vmhba2", "dead"), 0)
    world.set(set_host(set_hba(inv, "esx-a01", "vmhba2", "dead"), "esx-b02", "disconnected"), 1)
    world.set(set_host(inv, "esx-b02", "disconnected"), 5)
    page = world.get("/api/v1/incidents")
    assert [(r["kind"], r["state"]) for r in page["items"]] == [("host", "open"), ("hba", "resolved")]
    assert page["counts"]["open"] == 1 and page["counts"]["resolved"] == 1
    assert [r["kind"] for r in world.get("/api/v1/incidents", state="resolved")["items"]] == ["hba"]
    assert [r["kind"] for r in world.get("/api/v1/incidents", kind="host")["items"]] == ["host"]
    assert [r["kind"] for r in world.get("/api/v1/incidents", vm="web01")["items"]] == ["hba"]
    assert [r["kind"] for r in world.get("/api/v1/incidents", host="esx-b02")["items"]] == ["host"]
    assert [r["kind"] for r in world.get("/api/v1/incidents", q="vmhba2")["items"]] == ["hba"]
    assert [r["kind"] for r in world.get("/api/v1/incidents", sort="-disks")["items"]] == ["hba", "host"]
    assert world.get("/api/v1/incidents", limit=1, offset=1)["items"][0]["kind"] == "hba"
    resolved = world.get("/api/v1/incidents", state="resolved")["items"][0]
    assert resolved["duration_s"] == 300.0 and resolved["resolved_at"].startswith("2026-01-01T10:05")
    items = world.get("/api/v1/incidents/timeline")["items"]
    assert [(i["kind"], i["incident_kind"]) for i in items] == [
        ("opened", "hba"), ("opened", "host"), ("advice", "hba"), ("moved", "hba"), ("resolved", "hba")]
    world.get("/api/v1/incidents", 422, state="closed")
    world.get("/api/v1/incidents", 422, sort="color")
    world.get("/api/v1/incidents", 422, colour="red")
    world.get("/api/v1/incidents/hba-0000000000", 404)


def test_the_timeline_tells_a_port_once_not_each_path_seen_dead_before_it(world):
    """The watch may bring a port's failure host by host: the paths seen dead first open incidents of their own,
    which the port's incident then takes over. The timeline says so on the port's line instead of opening and
    resolving each path (a port on 30 hosts flooded it with 60 lines)."""
    w = world
    inv = w.source.latest()
    w.set(set_path(set_path(inv, "esx-a01", "vmhba2:C0:T0:L1", "dead"), "esx-a02", "vmhba2:C0:T0:L1", "dead"), 0)
    w.set(set_target(inv, "A-ctl0-p0", "dead"), 1)
    rows = w.get("/api/v1/incidents")["items"]
    merged = [r for r in rows if r.get("merged_into")]
    [target] = [r for r in rows if r["kind"] == "target"]
    assert len(merged) == 2 and {r["merged_into"] for r in merged} == {target["id"]}
    items = w.get("/api/v1/incidents/timeline")["items"]
    assert not [t for t in items if t["incident"] in {r["id"] for r in merged}]
    [opened] = [t for t in items if t["incident"] == target["id"] and t["kind"] == "opened"]
    assert opened["message"].endswith("(took over 2 smaller incidents it explains)")


def test_the_audit_is_paged_and_ranked():
    world = World(AuditConfig(replicas_wanted=("ds-*",)))
    world.set(drop_paths(world.source.latest(), "esx-a01", "vmhba2"))
    page = world.get("/api/v1/audit")
    kinds = [r["kind"] for r in page["items"]]
    assert {"single_hba", "single_fabric", "path_drift", "no_replica"} <= set(kinds)
    counts = [r["disk_count"] for r in page["items"]]
    assert counts == sorted(counts, reverse=True) and page["counts"]["single_hba"] == 1
    assert world.get("/api/v1/audit", kind="path_drift")["items"][0]["component"] == "esx-a01 in cl-a"
    world.get("/api/v1/audit", 422, kind="weak")


def test_what_if_answers_like_the_planner(world):
    inv = set_hba(world.source.latest(), "esx-a01", "vmhba3", "dead")
    world.set(inv)
    answer = world.get("/api/v1/what-if", failure="hba", ref="esx-a01", hba="vmhba2")
    assert answer["counts"] == {"connectivity_lost": 4} and answer["disk_count"] == 4  # web01, db01 (local01: local)
    assert {m["vm_name"] for m in answer["moves"]} == {"web01", "db01"}
    assert answer["rails"]["max_per_hour"] == 10 and answer["incidents"][0]["kind"] == "hba"
    page = world.get("/api/v1/what-if", failure="fabric", ref="B", limit=2, offset=1)
    assert len(page["disks"]) == 2 and page["disk_count"] > 2 and page["offset"] == 1
    lun = world.get("/api/v1/what-if", failure="lun", ref="gold01", lun_state="apd")
    assert set(lun["counts"]) == {"all_paths_down"} and lun["refusals"]
    world.get("/api/v1/what-if", 404, failure="target", ref="nowhere")
    world.get("/api/v1/what-if", 422, failure="lun", ref="gold01", lun_state="sick")
    world.get("/api/v1/what-if", 422, failure="switch", ref="A")


def test_without_an_incident_source_the_routes_say_so():
    client = TestClient(create_app(StaticSource(lab_inventory()), Auth(TokenStore({READ: ("grafana", "read")}))))
    answer = client.get("/api/v1/incidents", headers=READ_H)
    assert answer.status_code == 501 and "not available" in answer.json()["error"]
    assert client.get("/api/v1/about", headers=READ_H).json()["features"]["incidents"] is False
    assert client.get("/api/v1/incidents").status_code == 401


def test_metrics_join_with_vmware_exporter_and_are_computed_once_per_version(world):
    world.set(set_target(world.source.latest(), "A-ctl0-p0", "dead"))
    text = world.client.get("/metrics", headers=READ_H).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    opened = {s.labels["kind"]: s.value for s in families["vsguesttruth_incidents_open"].samples}
    assert opened["target"] == 1 and opened["hba"] == 0
    [incident] = families["vsguesttruth_incident_open"].samples
    assert incident.labels["component"] == "target A-ctl0-p0" and incident.labels["cause"] == "dead"
    hosts = {s.labels["host_name"]: (s.labels["cluster_name"], s.value) for s in families["vsguesttruth_incident_host"].samples}
    assert set(hosts) == {"esx-a01", "esx-a02", "esx-a03", "esx-b01", "esx-b02", "esx-b03"} and hosts["esx-a01"] == ("cl-a", 4)
    vms = {s.labels["vm_name"]: s.value for s in families["vsguesttruth_incident_vm"].samples}
    assert vms["web01"] == 2 and vms["db01"] == 2
    assert {s.labels["ds_name"] for s in families["vsguesttruth_incident_datastore"].samples} >= {"ds-gold", "ds-silver"}
    assert [s.value for s in families["vsguesttruth_incident_disks"].samples] == [9]
    assert {s.labels["kind"] for s in families["vsguesttruth_spof_findings"].samples} >= {"single_hba", "single_fabric"}
    pages = world.client.app.state.pages
    first = pages.incident_views()
    world.client.get("/metrics", headers=READ_H)
    assert pages.incident_views() is first and "findings" in first.__dict__  # not judged again per scrape
    only = world.client.get("/metrics", headers=READ_H, params={"name[]": "vsguesttruth_incidents_open"}).text
    assert "vsguesttruth_incidents_open{" in only and "vsguesttruth_incident_vm" not in only
    assert "vsguesttruth_disk_verdict" not in only


def test_spof_metrics_name_the_cluster_and_datastores():
    world = World()
    world.set(drop_paths(world.source.latest(), "esx-b01", "vmhba3"))
    text = world.client.get("/metrics", headers=READ_H).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    disks = [s for s in families["vsguesttruth_spof_disks"].samples if s.labels["kind"] == "single_hba"]
    assert disks and disks[0].labels["cluster_name"] == "cl-b" and disks[0].labels["key"] == f"hba:{host_moref('esx-b01')}/vmhba2"
    assert {s.labels["ds_name"] for s in families["vsguesttruth_spof_datastore"].samples} >= {"ds-gold"}


def test_each_disk_names_the_incident_behind_its_verdict_and_the_feed_answers_for_incidents(world):
    before = world.get("/api/v1/changes", after=0)
    dead = set_target(world.source.latest(), "A-ctl0-p0", "dead")
    world.set(dead, 0)
    world.set(dead, 3)
    [row] = world.get("/api/v1/incidents")["items"]
    assert row["done"] == "moved web01; advice web01"  # its vCenter events on the VMs it hit, in a few words
    [short] = world.get("/api/v1/incidents", compact=True)["items"]  # what a page asks: lists cut, counts whole
    assert short["vms"] == row["vms"][:5] and len(row["vms"]) > 5 and short["vm_count"] == row["vm_count"]
    disks = world.get("/api/v1/disks", vm="web01")["items"]
    assert {d["verdict"]: d["incidents"] for d in disks}["degraded"] == [row["id"]]
    assert all(d["incidents"] == [] for d in world.get("/api/v1/disks", verdict=["healthy"], limit=500)["items"])
    mapped = {d["disk"]["key"]: d["incidents"] for d in world.get("/api/v1/vms/web01/map")["disks"]}
    assert mapped == {d["key"]: [{"id": row["id"], "kind": "target", "component": "target A-ctl0-p0", "cause": "dead",
                                  "since": T0.isoformat()}] if d["incidents"] else [] for d in disks}
    # the page showing this inventory but the incidents before it: the long poll answers at once
    now = world.get("/api/v1/changes", after=world.source.version, wait=0)
    assert now["incidents_version"] > before["incidents_version"]
    started = time.monotonic()
    answer = world.get("/api/v1/changes", after=world.source.version, wait=10,
                       incidents_after=before["incidents_version"])
    assert time.monotonic() - started < 5 and answer["incidents_version"] == now["incidents_version"]
    assert answer["disks"] == []  # nothing else changed


def test_the_list_with_hits_gives_each_open_incident_as_its_detail_does(world):
    inv = world.source.latest()
    world.set(set_hba(inv, "esx-a01", "vmhba2", "dead"), 0)
    world.set(set_host(set_hba(inv, "esx-a01", "vmhba2", "dead"), "esx-b02", "disconnected"), 1)
    world.set(set_host(inv, "esx-b02", "disconnected"), 5)  # the HBA's incident resolves
    page = world.get("/api/v1/incidents", hits="true")
    [open_row] = [r for r in page["items"] if r["state"] == "open"]
    detail = world.get(f"/api/v1/incidents/{open_row['id']}")
    assert open_row["hits"] == detail["hits"] and open_row["actions"] == detail["actions"] and open_row["hits"]
    assert "advice" not in open_row  # the planner is not asked for every VM of every incident
    assert all("hits" not in r for r in page["items"] if r["state"] == "resolved")
    assert "hits" not in world.get("/api/v1/incidents")["items"][0]


def test_an_incident_change_redoes_only_the_incidents_that_changed(world):
    """A new incident state (a second failure opens) makes new views, but the incidents that did not change keep
    what was made of them: their rows, their lines on the timeline, what the service did by the same reading of
    its events; the timeline reads each event's VM once, not every hit of every incident."""
    inv = world.source.latest()
    world.set(set_hba(inv, "esx-a01", "vmhba2", "dead"), 0)
    world.set(set_host(set_hba(inv, "esx-a01", "vmhba2", "dead"), "esx-b02", "disconnected"), 1)
    pages = world.client.app.state.pages
    before = pages.incident_views()
    said = pages.incident_events()  # one reading of the service's events (the live source keeps it a few seconds)
    before.warm(said, (20,))
    hba = next(i for i in before.state.incidents if i.kind.value == "hba")
    old_row = next(r for r in before.rows if r["id"] == hba.id)
    old_done = before.done(hba, said)
    old_timeline = before.timeline(said, 20)

    world.set(set_target(set_host(set_hba(inv, "esx-a01", "vmhba2", "dead"), "esx-b02", "disconnected"),
                         "B-ctl0-p0", "dead"), 2)  # a target port of the other array fails too
    after = pages.incident_views()
    assert after is not before and after.state.version > before.state.version
    assert after.find(hba.id) is hba  # the lifecycle kept it as it was
    assert next(r for r in after.rows if r["id"] == hba.id) is not old_row  # open: its duration goes on ...
    assert after._worked(hba) is before._worked(hba)  # ... but nothing else of it was made again
    assert after.done(hba, said) == old_done and after._worked(hba).done[0] is said
    new = [i for i in after.state.incidents if i.kind.value == "target"]
    assert new and all(after._worked(i).marks[0]["kind"] == "opened" for i in new)
    timeline = after.timeline(said, 20)
    assert [t for t in timeline if t["incident"] == hba.id] == [t for t in old_timeline if t["incident"] == hba.id]
    assert {t["incident"] for t in timeline if t["kind"] == "opened"} == {
        i.id for i in after.state.incidents if not i.merged_into}
    assert after.timeline(said, 20) is timeline  # once per state and reading
    assert after.hit(hba.id) == {h.vm for h in hba.hits} and after.hit("hba-0000000000") == frozenset()


def test_an_incident_change_is_told_before_the_newer_inventory_is_judged(world):
    """The lifecycle takes in an inventory after the inventory's version is out, and judging an inventory takes
    seconds at scale: a live page waiting on both hears of the incident at once, from the views already judged,
    and of the newer inventory in the next answer."""
    start = world.get("/api/v1/changes", after=0)
    version, incidents = start["version"], start["incidents_version"]
    world.set(set_target(world.source.latest(), "A-ctl0-p0", "dead"))  # not judged by the pages yet
    told = world.get("/api/v1/changes", after=version, incidents_after=incidents, wait=5)
    assert told["incidents_version"] > incidents and told["version"] == version and told["disks"] == []
    [row] = world.get("/api/v1/incidents", version=version)["items"]  # the page's fetch: the views it was told of
    assert row["kind"] == "target"
    then = world.get("/api/v1/changes", after=version, incidents_after=told["incidents_version"], wait=5)
    assert then["version"] > version and then["changed_disks"] == 9
    assert {d["verdict"] for d in then["disks"]} == {"degraded"}
