"""The plugin server's app on hand-made inventories: API, auth rules, pages, manifest, metrics."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from vsguesttruth.web import Auth, StaticSource, TokenStore, create_app, metrics

from vsguesttruth.config import RemediationConfig
from vsguesttruth.plan import plan_move

from fakes.inventory import host_moref, lab_inventory, set_hba, vm_moref
from fakes.web import READ, READ_H, WRITE, WRITE_H, FakeSessions

@pytest.fixture
def source() -> StaticSource:
    return StaticSource(lab_inventory())


@pytest.fixture
def sessions() -> FakeSessions:
    return FakeSessions()


@pytest.fixture
def auth(sessions) -> Auth:
    return Auth(TokenStore({READ: ("grafana", "read"), WRITE: ("ops", "write")}), sessions)


@pytest.fixture
def client(source, auth) -> TestClient:
    return TestClient(create_app(source, auth))


# -- auth ---------------------------------------------------------------------------------------------

API_GETS = ["/api/v1/status", "/api/v1/vms", "/api/v1/vms/web01/map", "/api/v1/hosts", "/api/v1/hosts/esx-a01",
            "/api/v1/plan", "/api/v1/whoami", "/metrics"]


@pytest.mark.parametrize("path", API_GETS)
def test_reads_need_credentials(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert "authentication required" in response.json()["error"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": f"Basic {READ}"},
    {"Authorization": "Bearer "}, {"vmware-api-session-id": "sess-unknown-1"},
    {"Cookie": f"token={READ}; vmware_soap_session=sess-0001-good"},
])
def test_bad_or_cookie_credentials_are_refused(client, headers):
    assert client.get("/api/v1/status", headers=headers).status_code == 401


def test_token_and_session_principals(client):
    assert client.get("/api/v1/whoami", headers=READ_H).json()["name"] == "grafana"
    who = client.get("/api/v1/whoami", headers={"vmware-api-session-id": "sess-0001-good"}).json()
    assert who == {"name": "VSPHERE.LOCAL\\alice", "kind": "session", "scope": "read", "remediation": False,
                   "migrate": False}


def test_migrate_authorisation(client):
    url = "/api/v1/vms/web01/migrate"
    assert client.post(url).status_code == 401
    assert client.post(url, headers=READ_H).status_code == 403  # a read token may not act
    answer = client.post(url, headers=WRITE_H)
    assert answer.status_code == 501 and answer.json() == {
        "error": "remediation not available", "available": False, "authorized": True}
    session = {"vmware-api-session-id": "sess-0001-good"}
    assert client.post(url, headers=session).status_code == 501  # holds Resource.HotMigrate on web01
    assert client.post("/api/v1/vms/web02/migrate", headers=session).status_code == 403


def test_migrate_and_plan_callables(source, auth):
    calls = []

    def plan(inv, vm):
        decision = plan_move(inv, vm, RemediationConfig(), to_host=host_moref("esx-a02"))
        return {"moves": [{**decision.as_dict(), "reason": decision.why}], "refusals": []}

    def migrate(vm, *, to_host, dry_run, requested_by):
        calls.append((vm, to_host, dry_run, requested_by))
        return {"ok": True, "message": f"moved {vm} to {to_host}"}

    client = TestClient(create_app(source, auth, plan=plan, migrate=migrate))
    assert client.get("/api/v1/plan?vm=web01", headers=READ_H).json()["moves"][0]["vm"] == vm_moref("web01")
    answer = client.post("/api/v1/vms/web01/migrate", headers=WRITE_H, json={"to_host": "esx-a02"})
    assert answer.status_code == 200 and answer.json()["message"] == f"moved {vm_moref('web01')} to {host_moref('esx-a02')}"
    assert calls == [(vm_moref("web01"), host_moref("esx-a02"), False, "ops")]  # the host resolved to its moref
    assert client.get("/api/v1/plan?vm=nope", headers=READ_H).status_code == 404


def test_tokens_file(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(f"# name scope token\ngrafana read {READ}\n\nops write {WRITE}  # the on-call\n")
    path.chmod(0o600)
    store = TokenStore.from_file(path)
    assert store.check(READ).scope == "read" and store.check(WRITE).name == "ops"
    assert store.check("x" * 24) is None
    path.chmod(0o644)
    with pytest.raises(Exception, match="readable by others"):
        TokenStore.from_file(path)
    path.chmod(0o600)
    path.write_text("ops admin " + "a" * 20 + "\n")
    with pytest.raises(Exception, match="scope must be read or write"):
        TokenStore.from_file(path)
    path.write_text("ops write short\n")
    with pytest.raises(Exception, match="shorter"):
        TokenStore.from_file(path)


# -- the API ------------------------------------------------------------------------------------------

def test_status_counts_and_filters(client, source):
    healthy = client.get("/api/v1/status", headers=READ_H).json()
    assert healthy["counts"]["healthy"] == healthy["total"] > 0
    assert client.get("/api/v1/status?unhealthy=true", headers=READ_H).json()["disks"] == []
    source.set(set_hba(source.latest(), "esx-a01", "vmhba2", "dead"))
    status = client.get("/api/v1/status?unhealthy=true", headers=READ_H).json()
    assert status["version"] == 2
    assert status["counts"]["degraded"] == len(status["disks"]) > 0
    assert {d["vm"] for d in status["disks"]} >= {"web01", "db01"}
    assert all(d["host"] == "esx-a01" for d in status["disks"])
    assert any(h["name"] == "esx-a01" and h["verdict"] == "degraded" for h in status["hosts"])
    bare = client.get("/api/v1/status?unhealthy=true&hosts=false", headers=READ_H).json()
    assert bare["hosts"] == [] and bare["disks"] == status["disks"] and bare["counts"] == status["counts"]
    only = client.get("/api/v1/status?vm=web02", headers=READ_H).json()
    assert {d["vm"] for d in only["disks"]} == {"web02"}
    assert client.get("/api/v1/status?verdict=bogus", headers=READ_H).status_code == 422


def test_the_unhealthy_disks_come_from_the_loops_verdicts_when_it_has_every_vm(client, source):
    """`status` on a running service: with ``unhealthy`` alone and no hosts, the answer is built from what the
    reconcile loop judged (a VM judged whenever it changes), the same rows and counts as the views give."""
    from vsguesttruth.reconcile.verdicts import Verdicts
    from vsguesttruth.truth import TruthContext

    source.set(set_hba(source.latest(), "esx-a01", "vmhba2", "dead"))
    views = client.get("/api/v1/status?unhealthy=true", headers=READ_H).json()
    book, asked = Verdicts(), []
    ctx = TruthContext(source.latest())
    for moref in source.latest().vms:
        book.put(ctx.vm_truth(moref, source.level))
    source.judged = lambda: asked.append(1) or book.read()
    loop = client.get("/api/v1/status?unhealthy=true&hosts=false", headers=READ_H).json()
    assert asked and loop["disks"] and loop["disks"] == views["disks"] and loop["counts"] == views["counts"]
    assert loop["total"] == views["total"] and loop["hosts"] == []
    source.judged = lambda: asked.append(2)  # not every VM judged yet: the views answer
    assert client.get("/api/v1/status?unhealthy=true&hosts=false", headers=READ_H).json()["disks"] == views["disks"]
    assert asked[-1] == 2


def test_map_by_name_or_moref(client):
    by_name = client.get("/api/v1/vms/db01/map", headers=READ_H).json()
    by_moref = client.get(f"/api/v1/vms/{vm_moref('db01')}/map", headers=READ_H).json()
    assert by_name == by_moref
    assert [d["disk"]["label"] for d in by_name["disks"]] == ["Hard disk 1", "Hard disk 2"]
    assert by_name["disks"][0]["luns"][0]["hosts"][0]["paths"]  # the whole chain down to the paths
    missing = client.get("/api/v1/vms/nope/map", headers=READ_H)
    assert missing.status_code == 404 and missing.json() == {"error": "no VM named 'nope'"}


def test_hosts(client):
    hosts = client.get("/api/v1/hosts", headers=READ_H).json()["hosts"]
    assert [h["name"] for h in hosts][:2] == ["esx-a01", "esx-a02"]
    assert "luns" not in hosts[0] and hosts[0]["hbas"]
    one = client.get("/api/v1/hosts/esx-a01", headers=READ_H).json()
    assert one["luns"] and "HBAs online" in one["line"]
    assert client.get("/api/v1/hosts/nope", headers=READ_H).status_code == 404


def test_plan_not_available(client):
    answer = client.get("/api/v1/plan", headers=READ_H)
    assert answer.status_code == 501 and answer.json()["error"] == "remediation not available"


def test_not_ready_before_first_inventory(auth):
    client = TestClient(create_app(StaticSource(), auth))
    assert client.get("/healthz").json()["ok"] is True
    assert client.get("/readyz").status_code == 503
    assert client.get("/api/v1/status", headers=READ_H).status_code == 503
    families = {f.name for f in text_string_to_metric_families(client.get("/metrics", headers=READ_H).text)}
    assert "vsguesttruth_inventory_ready" in families


def test_openapi_lists_the_api(client):
    paths = client.get("/openapi.json", headers=READ_H).json()["paths"]
    for path in ("/api/v1/status", "/api/v1/vms/{vm}/map", "/api/v1/hosts", "/api/v1/hosts/{host}",
                 "/api/v1/plan", "/api/v1/vms/{vm}/migrate", "/metrics", "/healthz", "/readyz"):
        assert path in paths


# -- metrics --------------------------------------------------------------------------------------------

def test_metrics_parse_and_count(client, source):
    source.set(set_hba(source.latest(), "esx-a01", "vmhba2", "dead"))
    metrics.publish_done("ok", 3)
    metrics.migration_done("failed")
    with pytest.raises(ValueError, match="done, failed, refused"):
        metrics.migration_done("ok")
    metrics.vcenter_error("session_lost")
    metrics.watch_heard()
    text = client.get("/metrics", headers=READ_H).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    verdicts = [s for s in families["vsguesttruth_disk_verdict"].samples]
    assert any(s.labels["vm_name"] == "web01" and s.labels["verdict"] == "degraded" for s in verdicts)
    disks = {s.labels["verdict"]: s.value for s in families["vsguesttruth_disks"].samples}
    assert disks["degraded"] > 0 and sum(disks.values()) == len(verdicts)
    dead = [s for s in families["vsguesttruth_host_paths"].samples
            if s.labels == {"host": "esx-a01", "state": "dead"}]
    assert dead and dead[0].value > 0
    assert any(s.labels["state"] == "dead" and s.value > 0 for s in families["vsguesttruth_lun_paths"].samples)
    assert any(s.labels == {"outcome": "ok"} and s.value >= 3 for s in families["vsguesttruth_publishes"].samples)
    assert "vsguesttruth_migrations" in families and "vsguesttruth_vcenter_errors" in families
    assert families["vsguesttruth_watch_lag_seconds"].samples[0].value < 60


def test_metrics_restricted_to_names(client, source):
    metrics.publish_done("ok", 2)
    text = client.get("/metrics?name[]=vsguesttruth_publishes_total&name[]=vsguesttruth_disks", headers=READ_H).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) == {"vsguesttruth_publishes", "vsguesttruth_disks"}
    assert sum(s.value for s in families["vsguesttruth_disks"].samples) > 0
    only_counters = client.get("/metrics?name[]=vsguesttruth_migrations_in_flight", headers=READ_H).text
    assert "vsguesttruth_disk_verdict" not in only_counters and "vsguesttruth_migrations_in_flight" in only_counters


def test_metrics_anonymous_option(source, auth):
    client = TestClient(create_app(source, auth, metrics_anonymous=True))
    assert client.get("/metrics").status_code == 200
    assert client.get("/api/v1/status").status_code == 401


# -- pages and the manifest -------------------------------------------------------------------------------

def test_a_checkout_serves_the_manifest_at_the_top_of_the_repository():
    """The one copy in the tree is plugin-manifest/ (the wheel carries it: tests/e2e/test_packaging.py)."""
    from pathlib import Path

    from vsguesttruth.web.app import manifest_dir

    folder = manifest_dir()
    assert folder == Path(__file__).resolve().parents[2] / "plugin-manifest"
    assert (folder / "plugin.json").is_file() and (folder / "images" / "sprites.png").is_file()


def test_manifest_names_pages_that_exist(client):
    manifest = client.get("/plugin.json").json()
    assert manifest["manifestVersion"] == "1.0.0" and "plugin.api.version" in manifest["requirements"]
    vm = manifest["objects"]["VirtualMachine"]
    uris = [manifest["global"]["view"]["uri"], vm["summary"]["view"]["uri"], vm["monitor"]["views"][0]["uri"],
            vm["menu"]["actions"][0]["trigger"]["uri"],
            manifest["objects"]["HostSystem"]["monitor"]["views"][0]["uri"],
            manifest["definitions"]["iconSpriteSheet"]["uri"]]
    assert vm["menu"]["actions"][0]["trigger"]["type"] == "modal"
    for uri in uris:
        page = client.get("/" + uri)
        assert page.status_code == 200, uri
    keys = json.dumps(manifest)
    for key in manifest["definitions"]["i18n"]["definitions"]:
        assert f'"{key}"' in keys
    for used in ("nameKey", "labelKey", "titleKey"):
        for value in _values(manifest, used):
            assert value in manifest["definitions"]["i18n"]["definitions"], value


def _values(obj, key):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield v
            yield from _values(v, key)
    elif isinstance(obj, list):
        for item in obj:
            yield from _values(item, key)


def test_pages_are_offline_and_safe(client):
    from pathlib import Path

    for page in ("global", "vm-summary", "vm-monitor", "host-monitor", "move", "datastore-monitor", "docs"):
        response = client.get(f"/ui/{page}.html")
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "http://" not in response.text and "https://" not in response.text  # no CDN
    css = client.get("/ui/vsgt.css")
    assert css.status_code == 200 and "@font-face" not in css.text and "clr-" in css.text  # Clarity, no font loaded
    assert client.get("/ui/vsgt.js", headers={"Accept-Encoding": "gzip"}).headers["content-encoding"] == "gzip"
    sources = Path(__file__).resolve().parents[2] / "vsguesttruth" / "web" / "ui" / "src"
    for js in sources.rglob("*.js"):
        assert "innerHTML" not in js.read_text(), js  # data goes in as text only
    assert client.get("/api/ui/htmlClientSdk.js").text.count("isStub") == 1
    assert client.get("/", follow_redirects=False).headers["location"] == "ui/global.html"
