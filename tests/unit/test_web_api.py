"""The plugin's JSON API on hand-made inventories: server-side lists (paging, sorting, filters, search),
host badges, the storage views, the change feed, names and vSphere Client object ids, the move action's
outcomes and metrics, and the OpenAPI description (security schemes, error shape, operation ids)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from vsguesttruth.config import RemediationConfig
from vsguesttruth.errors import MoveRefused, VsgtError
from vsguesttruth.plan import plan_for
from vsguesttruth.web import Auth, StaticSource, TokenStore, create_app
from vsguesttruth.web.feed import ChangeFeed

from fakes.inventory import (ds_moref, host_moref, lab_inventory, naa, set_hba, set_lun, set_target, vm_moref)
from fakes.web import READ, READ_H, WRITE, WRITE_H

VC = {"instance_uuid": "0f1e2d3c-aaaa-bbbb-cccc-111122223333", "name": "vc01.lab", "full_name": "VMware vCenter",
      "api_version": "8.0.3.0", "api_type": "VirtualCenter"}
EVENTS = [
    {"key": 1, "time": "2026-01-01T10:00:00+00:00", "vm": vm_moref("web01"), "vm_name": "web01", "user": "svc",
     "message": "vsguesttruth: advice: vmotion web01 from esx-a01 to esx-a02 (connectivity_lost): ..."},
    {"key": 2, "time": "2026-01-01T10:01:00+00:00", "vm": vm_moref("web01"), "vm_name": "web01", "user": "svc",
     "message": "vsguesttruth: moved web01 from esx-a01 to esx-a02 in 3.1 s (vmotion, manual)"},
    {"key": 3, "time": "2026-01-01T10:02:00+00:00", "vm": vm_moref("db01"), "vm_name": "db01", "user": "svc",
     "message": "vsguesttruth: not moving db01 (all_paths_down): ..."},
]


@pytest.fixture
def source() -> StaticSource:
    return StaticSource(lab_inventory(), vcenter=VC, events=EVENTS)


@pytest.fixture
def client(source) -> TestClient:
    return TestClient(create_app(source, Auth(TokenStore({READ: ("grafana", "read"), WRITE: ("ops", "write")}))))


def get(client, path, **params):
    answer = client.get(path, headers=READ_H, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def error(answer, status):
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) >= {"error"} and "detail" not in body  # the documented shape, never FastAPI's
    return body


# -- the disk table ---------------------------------------------------------------------------------

def test_disks_are_paged_sorted_and_counted_on_the_server(client):
    everything = get(client, "/api/v1/disks", limit=500)
    total = everything["total"]
    assert total == everything["matched"] == len(everything["items"]) > 10
    assert everything["counts"]["healthy"] == total and everything["sort"] == "-verdict"
    first = get(client, "/api/v1/disks", limit=4, sort="vm")
    second = get(client, "/api/v1/disks", limit=4, offset=4, sort="vm")
    names = [d["vm"] for d in first["items"] + second["items"]]
    assert names == sorted(names) and len(first["items"]) == 4 and first["matched"] == total
    descending = get(client, "/api/v1/disks", limit=500, sort="-vm")["items"]
    assert [d["vm"] for d in descending] == sorted((d["vm"] for d in descending), reverse=True)
    assert get(client, "/api/v1/disks", offset=total + 10)["items"] == []


def test_disks_worst_first_and_filters(client, source):
    source.set(set_lun(set_hba(source.latest(), "esx-a01", "vmhba2", "dead"), "silver01", "apd"))
    page = get(client, "/api/v1/disks", unhealthy="true", limit=500)
    severities = [d["verdict"] for d in page["items"]]
    assert severities[0] == "all_paths_down" and "healthy" not in severities and "degraded" in severities
    assert page["counts"]["all_paths_down"] == sum(v == "all_paths_down" for v in severities)
    apd = get(client, "/api/v1/disks", verdict="all_paths_down", limit=500)["items"]
    assert apd and all(naa("silver01") in d["luns"] for d in apd)
    on_host = get(client, "/api/v1/disks", host="esx-a01", limit=500)["items"]
    assert on_host and {d["host"] for d in on_host} == {"esx-a01"}
    assert {d["vm"] for d in get(client, "/api/v1/disks", datastore="ds-silver", limit=500)["items"]} >= {"web01", "snap01"}
    assert get(client, "/api/v1/disks", datastore=ds_moref("ds-silver"), limit=500)["matched"] == \
        get(client, "/api/v1/disks", datastore="ds-silver", limit=500)["matched"]
    assert {d["vm"] for d in get(client, "/api/v1/disks", lun=naa("rdm01"))["items"]} == {"db01"}
    through = get(client, "/api/v1/disks", target="A-ctl0-p0", limit=500)["items"]
    assert through and all("A-ctl0-p0" in d["targets"] for d in through)
    found = get(client, "/api/v1/disks", q="DB01")["items"]  # case-insensitive, anywhere in the row
    assert {d["vm"] for d in found} == {"db01"}
    assert get(client, "/api/v1/disks", vm="web02")["matched"] == 1


@pytest.mark.parametrize("params,field", [
    ({"sort": "color"}, "sort"), ({"limit": 501}, "limit"), ({"offset": -1}, "offset"),
    ({"verdict": "purple"}, "verdict"), ({"colour": "red"}, "colour"),
])
def test_bad_list_parameters_answer_422_in_the_api_shape(client, params, field):
    body = error(client.get("/api/v1/disks", headers=READ_H, params=params), 422)
    assert body["field"] == field and field in body["error"]


# -- hosts and the storage views -------------------------------------------------------------------

def test_host_badges_name_what_is_wrong(client, source):
    source.set(set_hba(set_lun(source.latest(), "silver01", "apd"), "esx-a02", "vmhba3", "dead"))
    rows = {h["name"]: h for h in get(client, "/api/v1/hosts")["hosts"]}
    a01 = [b["text"] for b in rows["esx-a01"]["badges"]]
    assert a01 == [f"1 of {rows['esx-a01']['luns_total']} LUNs in APD"]  # one LUN, not "the host is red"
    assert "vmhba3 offline" in [b["text"] for b in rows["esx-a02"]["badges"]]
    assert [h["name"] for h in get(client, "/api/v1/hosts", problems="true", sort="-problems")["hosts"]][0] == "esx-a02"
    paged = get(client, "/api/v1/hosts", limit=2, offset=2, sort="name")
    assert [h["name"] for h in paged["hosts"]] == ["esx-a03", "esx-b01"] and paged["total"] == 6


def test_host_detail_is_vsphere_storage_adapters_devices_paths_and_vms(client):
    h = get(client, "/api/v1/hosts/esx-a01")
    fc = next(a for a in h["adapters"] if a["device"] == "vmhba2")
    assert fc["targets"] == 4 and fc["devices"] == 6 and fc["paths_total"] == 12 and fc["wwpn"]
    gold = next(d for d in h["devices"] if d["canonical_name"] == naa("gold01"))
    assert gold["vendor"] == "DGC" and gold["capacity_bytes"] == 2**40 and gold["paths_total"] == 4
    assert gold["path_selection_policy"] == "VMW_PSP_RR"
    path = next(p for p in h["paths"] if p["lun"] == naa("gold01") and p["hba"] == "vmhba2")
    assert path["runtime_name"].startswith("vmhba2:C0:T") and path["target"].startswith("A-ctl")
    assert {v["name"] for v in h["vms"]} == {"web01", "db01", "local01"}
    assert get(client, f"/api/v1/hosts/{host_moref('esx-a01')}")["name"] == "esx-a01"
    error(client.get("/api/v1/hosts/nope", headers=READ_H), 404)


def test_lun_datastore_and_target_views(client, source):
    source.set(set_target(source.latest(), "A-ctl0-p0", "dead"))
    targets = get(client, "/api/v1/targets")["items"]
    assert targets[0]["target"] == "A-ctl0-p0" and targets[0]["paths_dead"] > 0  # most dead paths first
    port = get(client, "/api/v1/targets/A-ctl0-p0")
    assert port["paths_dead"] == port["paths_total"] and len(port["host_list"]) == 6
    assert {v["name"] for v in port["vms"]} >= {"web01", "db01"} and port["port_name"] == "A-ctl0-p0"
    lun = get(client, f"/api/v1/luns/{naa('gold01')}")
    assert len(lun["per_host"]) == 6 and "A-ctl0-p0" in lun["targets"] and lun["vendor"] == "DGC"
    assert {v["name"] for v in lun["vms"]} >= {"web01", "web02", "snap01"}
    ds = get(client, "/api/v1/datastores/ds-gold")
    assert ds["extents"] == [naa("gold01")] and len(ds["mounts"]) == 6 and ds["vms"]
    assert get(client, "/api/v1/luns", q="silver")["matched"] == 1
    assert get(client, "/api/v1/datastores", sort="name", limit=2)["items"][0]["name"] == "ds-bronze"
    error(client.get("/api/v1/targets/nope", headers=READ_H), 404)
    error(client.get("/api/v1/luns/naa.0", headers=READ_H), 404)


# -- names, object ids, linked vCenters -------------------------------------------------------------

def test_a_vm_name_several_vms_share_is_refused_with_the_candidates(client, source):
    inv = source.latest()
    twin = replace(inv.vms[vm_moref("web02")], moref="vm-999", name="web01")
    source.set(inv.with_vm(twin))
    body = error(client.get("/api/v1/vms/web01/map", headers=READ_H), 409)
    assert {c["moref"] for c in body["candidates"]} == {vm_moref("web01"), "vm-999"}
    assert "vm-999 (on esx-a02)" in body["error"] and "moref" in body["error"]
    assert get(client, "/api/v1/vms/vm-999/map")["name"] == "web01"
    error(client.post("/api/v1/vms/web01/migrate", headers=WRITE_H), 409)


def test_vsphere_client_object_ids_and_other_vcenters(client):
    mine = f"urn:vmomi:VirtualMachine:{vm_moref('web01')}:{VC['instance_uuid'].upper()}"
    assert get(client, f"/api/v1/vms/{mine}/map")["name"] == "web01"
    other = f"urn:vmomi:VirtualMachine:{vm_moref('web01')}:11111111-2222-3333-4444-555555555555"
    body = error(client.get(f"/api/v1/vms/{other}/map", headers=READ_H), 404)
    assert "does not watch" in body["error"] and body["other_vcenter"].startswith("1111")
    about = get(client, "/api/v1/about")
    assert about["vcenter"]["instance_uuid"] == VC["instance_uuid"] and about["features"]["incidents"] is False


def test_the_vm_is_judged_by_its_guests_service_level(client, source):
    inv = source.latest()
    vm = inv.vms[vm_moref("web02")]
    source.set(inv.with_vm(replace(vm, guestinfo={"guestinfo.vsguesttruth.policy": '{"min_working_paths": 8}'})))
    answer = get(client, "/api/v1/vms/web02/map")
    assert answer["level"] == {"min_working_paths": 8, "min_reachable_devices": None, "source": "applied", "message": "",
                               "met": False, "fewest_paths": 4, "usable_disks": 1, "disks": 1,
                               "shortfall": "4 paths short on naa.600601600a0b0a000000000000000001 (4 of 8)"}
    assert answer["verdict"] == "below_sla" and answer["disks"][0]["advice"] == "move"
    row = get(client, "/api/v1/disks", vm="web02")["items"][0]
    assert row["verdict"] == "below_sla" and row["sla_met"] is False  # the table agrees
    text = client.get("/metrics?name[]=vsguesttruth_vm_service_level", headers=READ_H).text
    levels = {s.labels["vm_name"]: s for f in text_string_to_metric_families(text) for s in f.samples}
    assert (levels["web02"].value, levels["web02"].labels["min_working_paths"], levels["web02"].labels["fewest_paths"]) \
        == (0, "8", "4")  # and so does /metrics
    assert levels["web01"].value == 1 and levels["web01"].labels["min_working_paths"] == "1"  # the service's default


# -- live updates -----------------------------------------------------------------------------------

def test_changes_carry_only_what_changed(client, source):
    v0 = get(client, "/api/v1/changes", after=0)["version"]
    quiet = get(client, "/api/v1/changes", after=v0)
    assert quiet["version"] == v0 and not quiet["reset"] and quiet["counts"]["healthy"] > 0
    assert [quiet[k] for k in ("disks", "removed_disks", "hosts", "removed_hosts", "vms")] == [[]] * 5
    source.set(set_hba(source.latest(), "esx-a01", "vmhba2", "dead"))
    delta = get(client, "/api/v1/changes", after=v0, wait=1)
    assert delta["version"] == v0 + 1 and not delta["reset"]
    assert {d["vm"] for d in delta["disks"]} == {"web01", "db01"}  # local01's local disk did not change
    assert all(d["verdict"] == "degraded" for d in delta["disks"])
    assert [h["name"] for h in delta["hosts"]] == ["esx-a01"] and delta["counts"]["degraded"] == len(delta["disks"])
    assert set(delta["vms"]) == {vm_moref("web01"), vm_moref("db01")}


def test_changes_cut_to_a_limit_say_so(client, source):
    """A page asks for a few changed objects: a failed array port changes thousands of disks, and the page only
    needs to know that it must fetch its one page again."""
    v0 = get(client, "/api/v1/changes", after=0)["version"]
    source.set(set_hba(source.latest(), "esx-a01", "vmhba2", "dead"))
    whole = get(client, "/api/v1/changes", after=v0, wait=1)
    cut = get(client, "/api/v1/changes", after=v0, limit=1)
    assert whole["changed_disks"] == len(whole["disks"]) == 4 and not whole["truncated"]  # web01's two, db01's two
    assert cut["truncated"] and cut["changed_disks"] == 4 and cut["changed_hosts"] == 1
    assert cut["disks"] == whole["disks"][:1] and len(cut["vms"]) == 1 and cut["hosts"] == whole["hosts"]
    roomy = get(client, "/api/v1/changes", after=v0, limit=50)
    assert not roomy["truncated"] and roomy["disks"] == whole["disks"]


def test_a_page_reads_the_version_the_change_feed_told_it_of(client, source):
    """A change is computed from one inventory; a newer one may come before the page fetches its rows. The page
    asks for the version it was told of and gets those views (already built), then hears of the newer one."""
    v0 = get(client, "/api/v1/changes", after=0)["version"]
    source.set(set_hba(source.latest(), "esx-a01", "vmhba2", "dead"))
    told = get(client, "/api/v1/changes", after=v0, wait=1)
    source.set(set_target(source.latest(), "A-ctl0-p0", "dead"))  # newer, before the page fetched anything
    pinned = get(client, "/api/v1/disks", limit=500, version=told["version"])
    latest = get(client, "/api/v1/disks", limit=500)
    assert pinned["version"] == told["version"] < latest["version"]
    assert pinned["counts"] == told["counts"] != latest["counts"]
    assert get(client, "/api/v1/hosts", version=told["version"])["version"] == told["version"]
    assert get(client, "/api/v1/disks", limit=500, version=10**6)["version"] == latest["version"]  # not kept: the latest
    after = get(client, "/api/v1/changes", after=told["version"], wait=1)
    assert after["version"] == latest["version"] and after["disks"]


def test_the_feed_merges_steps_and_resets_when_too_old():
    feed = ChangeFeed(keep=2)
    base = lab_inventory()
    from vsguesttruth.web.pages import Pages
    from vsguesttruth.config import GuestConfig

    def views(inv):
        pages = Pages(StaticSource(inv), GuestConfig())
        return pages.get()[2]

    steps = [base, set_hba(base, "esx-a01", "vmhba2", "dead"), set_hba(base, "esx-a01", "vmhba3", "dead"),
             set_lun(base, "rdm01", "apd")]
    for version, inv in enumerate(steps, 1):
        feed.advance(version, views(inv))
    merged = feed.since(2, 4, None)
    assert not merged["reset"] and {d["vm"] for d in merged["disks"]} >= {"db01", "web01"}
    assert feed.since(1, 4, None)["reset"]  # the step 1 -> 2 fell out of the feed
    assert feed.since(4, 4, None)["disks"] == []


# -- what the service did ---------------------------------------------------------------------------

def test_events_say_what_the_service_did(client):
    answer = get(client, "/api/v1/events")
    assert answer["available"] and [e["kind"] for e in answer["events"]] == ["advice", "moved", "refused"]
    assert [e["key"] for e in get(client, "/api/v1/events", vm="web01")["events"]] == [1, 2]


# -- the move action -----------------------------------------------------------------------------------

def migrations(client) -> dict[str, float]:
    text = client.get("/metrics?name[]=vsguesttruth_migrations_total", headers=READ_H).text
    return {s.labels["outcome"]: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "vsguesttruth_migrations_total"}


def test_the_move_action_plans_like_the_planner_and_counts_what_happened(source):
    config = RemediationConfig()
    calls = []

    def plan(inv, vm):
        d = plan_for(inv, vm, config)
        return {"mode": "advise", "moves": [d.as_dict()] if d.moves else [], "refusals": [] if d.moves else [d.as_dict()]}

    def migrate(vm, *, to_host, dry_run, requested_by):
        calls.append((vm, to_host, dry_run))
        if vm == vm_moref("web02"):
            raise VsgtError("task failed: the host went away")
        d = plan_for(source.latest(), vm, config)
        if not d.moves:
            raise MoveRefused(f"not moving {d.vm_name}: {d.why}")
        return {"moved": not dry_run, "dry_run": dry_run, "message": f"moved {d.vm_name} {d.target_words()}"}

    client = TestClient(create_app(source, Auth(TokenStore({READ: ("r", "read"), WRITE: ("ops", "write")})),
                                   plan=plan, migrate=migrate))
    before = migrations(client)
    healthy = get(client, "/api/v1/plan", vm="web01")
    assert healthy["moves"] == [] and "healthy: nothing to move" in healthy["refusals"][0]["why"]
    body = error(client.post("/api/v1/vms/web01/migrate", headers=WRITE_H, json={}), 409)
    assert body["outcome"] == "refused" and "healthy" in body["error"]
    source.set(set_hba(set_hba(source.latest(), "esx-a01", "vmhba2", "dead"), "esx-a01", "vmhba3", "dead"))
    offered = get(client, "/api/v1/plan", vm="web01")["moves"][0]
    assert offered["action"] == "vmotion" and offered["to_host_name"] in ("esx-a02", "esx-a03")
    done = client.post("/api/v1/vms/web01/migrate", headers=WRITE_H, json={})
    assert done.status_code == 200 and done.json()["message"].endswith(f"to {offered['to_host_name']}")
    assert client.post("/api/v1/vms/web01/migrate", headers=WRITE_H, json={"dry_run": True}).status_code == 200
    error(client.post("/api/v1/vms/web02/migrate", headers=WRITE_H, json={}), 502)
    error(client.post("/api/v1/vms/web01/migrate", headers=WRITE_H, json={"to_host": "esx-zz"}), 404)
    error(client.post("/api/v1/vms/web01/migrate", headers=WRITE_H, json={"dryRun": True}), 422)
    after = migrations(client)
    grew = {k: after.get(k, 0) - before.get(k, 0) for k in ("done", "failed", "refused")}
    assert grew == {"done": 1, "failed": 1, "refused": 1}  # dry run, unknown host, invalid body: not counted
    assert (vm_moref("web01"), None, False) in calls and all(c[1] != "esx-zz" for c in calls)


# -- the API's description -----------------------------------------------------------------------------

def test_openapi_needs_auth_and_documents_what_the_api_answers(client):
    assert client.get("/openapi.json").status_code == 401
    doc = get(client, "/openapi.json")
    schemes = doc["components"]["securitySchemes"]
    assert schemes["token"] == {"type": "http", "scheme": "bearer", "description": schemes["token"]["description"]}
    assert schemes["vsphereSession"]["in"] == "header" and schemes["vsphereSession"]["name"] == "vmware-api-session-id"
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    operations = {op["operationId"]: (path, method, op) for path, item in doc["paths"].items() for method, op in item.items()}
    assert {"listDisks", "getChanges", "getVmMap", "getHost", "listTargets", "getPlan", "migrateVm", "getAbout",
            "listEvents", "getStatus", "listHosts", "listVms"} <= set(operations)
    path, _, migrate = operations["migrateVm"]
    assert path == "/api/v1/vms/{vm}/migrate"
    assert migrate["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/FieldError")
    assert migrate["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/Ambiguous")
    assert {"token": []} in migrate["security"] and {"vsphereSession": []} in migrate["security"]
    disks = operations["listDisks"][2]["responses"]["200"]["content"]["application/json"]["schema"]
    assert disks["$ref"].endswith("/DiskPage")
    assert client.get("/docs", follow_redirects=False).headers["location"] == "ui/docs.html"
    page = client.get("/ui/docs.html")
    assert page.status_code == 200 and "swagger/swagger-ui-bundle.js" in page.text and "https://" not in page.text
