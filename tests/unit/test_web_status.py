"""``GET /api/v1/status`` (what `status` asks a running service): every disk row encoded once and kept while the
row is the same, the incidents behind each disk, the filters; the answer equals its records encoded afresh."""

from __future__ import annotations

import json
import threading
import time

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from vsguesttruth.config import GuestConfig, RemediationConfig
from vsguesttruth.incidents import IncidentController
from vsguesttruth.web import Auth, IncidentSource, StaticSource, TokenStore, create_app
from vsguesttruth.web.pages import Pages
from vsguesttruth.web.status_body import StatusRows, Warmer, body

from fakes import inventory as f
from fakes.inventory import FAULTS, apply
from fakes.web import READ, READ_H


def records(views, behind) -> list[dict]:
    """What /status said of each disk before its rows were kept: the record, with its incidents when any."""
    return [{**d, "incidents": list(behind[d["vm_moref"], d["key"]])} if (d["vm_moref"], d["key"]) in behind else d
            for d in views.disks]


def test_rows_are_encoded_once_and_only_changed_rows_again():
    source = StaticSource(f.lab_inventory())
    pages = Pages(source, GuestConfig())
    rows = StatusRows()
    views = pages.get()[2]
    first = rows.build(views, {}, 0, 0.0).rows
    assert [json.loads(r) for r in first] == views.disks
    assert rows.build(views, {}, 0, 0.0).rows is first  # the same views and incidents: the same answer
    source.set(f.set_hba(source.latest(), "esx-a01", "vmhba2", "dead"))
    views = pages.get()[2]
    behind = {(d["vm_moref"], d["key"]): ("hba-1",) for d in views.disks if d["vm"] == "web01"}
    second = rows.build(views, behind, 0, 0.0).rows
    assert [json.loads(r) for r in second] == records(views, behind)
    on_a01 = [i for i, d in enumerate(views.disks) if d["host"] == "esx-a01"]
    assert on_a01 and all(second[i] is first[i] for i in range(len(first)) if i not in on_a01)
    assert all(second[i] is not first[i] for i in on_a01)
    web01 = [i for i, d in enumerate(views.disks) if d["vm"] == "web01"]
    assert web01 and all(json.loads(second[i])["incidents"] == ["hba-1"] for i in web01)
    third = rows.build(views, {}, 0, 0.0).rows  # the incident resolved: its disks' rows lose it, nothing else changes
    assert all("incidents" not in json.loads(third[i]) for i in web01)
    assert all(third[i] is second[i] for i, d in enumerate(views.disks) if (d["vm_moref"], d["key"]) not in behind)


def test_the_body_is_one_json_object_in_the_schema_order():
    head = {"version": 3, "updated_at": 1.5, "error": "", "role": None, "counts": {"healthy": 1}, "total": 1,
            "disks": [], "hosts": []}
    out = json.loads(body(head, [b'{"vm":"w\xc3\xa9b"}'], b'[{"name":"esx"}]'))
    assert list(out) == list(head) and out["disks"] == [{"vm": "wéb"}] and out["hosts"] == [{"name": "esx"}]
    assert json.loads(body(head, [], b"[]"))["disks"] == []


@settings(max_examples=30)
@given(st.lists(FAULTS, min_size=1, max_size=5), st.lists(st.booleans(), min_size=5, max_size=5))
def test_kept_rows_equal_the_records_encoded_afresh(steps, asked):
    source = StaticSource(f.lab_inventory())
    pages = Pages(source, GuestConfig())
    rows = StatusRows()
    rows.build(pages.get()[2], {}, 0, 0.0)
    inv = source.latest()
    for faults, ask in zip(steps, asked):
        for fault in faults:
            inv = apply(inv, fault)
        source.set(inv)
        if ask:  # answers nobody asked for are never encoded: the next one starts from the last one
            views = pages.get()[2]
            assert [json.loads(r) for r in rows.build(views, {}, 0, 0.0).rows] == views.disks


def test_status_through_the_app_names_the_incidents_and_filters():
    controller = IncidentController()
    source = StaticSource(f.lab_inventory())
    client = TestClient(create_app(source, Auth(TokenStore({READ: ("grafana", "read")})),
                                   incidents=IncidentSource(controller.state, RemediationConfig())))

    def get(**params) -> dict:
        answer = client.get("/api/v1/status", headers=READ_H, params=params)
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json", answer.text
        return answer.json()

    controller.observe(source.latest())
    healthy = get()
    assert healthy["total"] == len(healthy["disks"]) == healthy["counts"]["healthy"] > 0
    assert not any("incidents" in d for d in healthy["disks"]) and healthy["hosts"]
    dead = f.set_hba(source.latest(), "esx-a01", "vmhba2", "dead")
    source.set(dead)
    controller.observe(dead)
    status = get()
    hit = [d for d in status["disks"] if d["host"] == "esx-a01" and d["verdict"] == "degraded"]
    assert hit and all(len(d["incidents"]) == 1 and d["incidents"][0].startswith("hba-") for d in hit)
    assert not any("incidents" in d for d in status["disks"] if d["host"] != "esx-a01")
    unhealthy = get(unhealthy="true")
    assert unhealthy["disks"] == hit and unhealthy["total"] == status["total"]
    assert get(verdict="degraded")["disks"] == hit and get(verdict=["healthy", "degraded"])["disks"] == status["disks"]
    web02 = get(vm="web02")
    assert {d["vm"] for d in web02["disks"]} == {"web02"} and web02["total"] == len(web02["disks"])
    assert sum(web02["counts"].values()) == web02["total"]
    web01 = get(vm="web01", unhealthy="true")
    assert web01["disks"] == [d for d in hit if d["vm"] == "web01"] and web01["counts"]["degraded"] == len(web01["disks"])


def test_the_answer_is_kept_warm_for_a_while_after_a_status():
    source = StaticSource(f.lab_inventory())
    built: list[int] = []
    closing = threading.Event()
    warmer = Warmer(source, lambda: built.append(source.version), closing, keep=30, every=0)
    try:
        source.set(source.latest())
        time.sleep(1.5)
        assert built == []  # nobody asked: nothing is built
        warmer.ask()
        source.set(source.latest())
        deadline = time.monotonic() + 10
        while not built and time.monotonic() < deadline:
            time.sleep(0.05)
        assert built == [source.version]
        warmer.asked -= 60  # asked long ago: the thread ends
        source.set(source.latest())
        deadline = time.monotonic() + 10
        while warmer._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not warmer._thread.is_alive()
    finally:
        closing.set()


def test_keeping_the_answer_warm_takes_at_most_its_share_of_the_time():
    """Under a storm a new inventory comes every second: builds ahead run at most ``share`` of the time (the
    guests' documents come first)."""

    class Watched(StaticSource):  # like the informer: a wait for a newer version
        def wait_version(self, after: int, timeout: float) -> int:
            end = time.monotonic() + timeout
            while self.version <= after and time.monotonic() < end:
                time.sleep(0.005)
            return self.version

    source = Watched(f.lab_inventory())
    starts: list[float] = []
    closing = threading.Event()

    def build() -> None:
        starts.append(time.monotonic())
        time.sleep(0.1)

    warmer = Warmer(source, build, closing, keep=30, every=0, share=0.2)
    try:
        warmer.ask()
        end = time.monotonic() + 1.6
        while time.monotonic() < end:
            source.set(source.latest())  # a new inventory every 20 ms
            time.sleep(0.02)
    finally:
        closing.set()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(starts) >= 2 and min(gaps) >= 0.45, gaps  # 0.1 s building, then 0.4 s not


def test_while_a_newer_answer_is_built_the_last_one_is_answered_and_says_its_version():
    source = StaticSource(f.lab_inventory())
    pages = Pages(source, GuestConfig())
    rows = StatusRows()
    assert rows.while_building() is None  # nothing built yet
    built = rows.build(pages.get()[2], {}, 7, 123.0)
    assert rows.while_building() is None  # no build under way: an answer builds the latest itself
    with rows._lock:  # a build under way
        assert rows.while_building() is built and (built.version, built.updated_at) == (7, 123.0)
        assert rows.while_building(fresh=-1) is None  # too old: an answer waits for the new one
