"""The plugin UI in a real browser (Debian's chromium, headless, driven by Playwright) against the app on
the lab: the global view turns a disk `degraded` after a fault, the VM and host views show the chain, the
move action asks for confirmation and its POST is authorised (by a token, or as the vSphere Client user whose
session the page hands over: a clone ticket from the lab and CloneSession), and nothing is served without
credentials. Screenshots go to test-artifacts/ (kept by CI as artifacts)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from vsguesttruth.config import RemediationConfig  # noqa: E402
from vsguesttruth.remediation import RemediationLoop  # noqa: E402
from fakes.automation import rest, rest_login  # noqa: E402
from vsguesttruth.vcenter import ClientSessionExchange, ConnectionSettings, connect, snapshot  # noqa: E402
from vsguesttruth.web import (  # noqa: E402
    Auth,
    ClientSessions,
    TokenStore,
    WatcherSource,
    WebServer,
    create_app,
    self_signed,
)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WRITE = "e2e-write-token-0123456789"
READ = "e2e-read-token-0123456789"
TIMEOUT = 15_000  # ms: the lab publishes a fault within a second, the page long-polls

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make setup)")
expect = playwright_api.expect


@pytest.fixture(scope="module")
def web(lab, tmp_path_factory):
    settings = ConnectionSettings(url=lab.url, username=lab.username, password=lab.password, ca_file=lab.cert)
    source = WatcherSource(lambda: connect(settings)).start()
    assert source.wait_version(0, 30), "no inventory from the lab"
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    sessions = ClientSessions(ClientSessionExchange(settings), ttl=60)
    auth = Auth(TokenStore({WRITE: ("e2e", "write"), READ: ("viewer", "read")}), sessions)
    conn = connect(settings)
    remedy = RemediationLoop(conn, RemediationConfig(mode="advise"))  # the plugin's move action is manual
    app = create_app(source, auth, plan=remedy.manual.plan, migrate=remedy.manual.migrate)
    server = WebServer(app, "127.0.0.1", 0, cert_file=cert, key_file=key, on_stop=auth.close).start()
    server.sessions = sessions
    try:
        yield server
    finally:
        server.stop()
        source.stop()
        remedy.stop()
        conn.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT)
    try:
        yield context.new_page()
    finally:
        context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def get(web, path: str, headers: dict | None = None) -> tuple[int, str]:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(web.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def vm_moref(web, name: str) -> str:
    status, body = get(web, "/api/v1/vms", {"Authorization": f"Bearer {READ}"})
    assert status == 200
    return next(v["moref"] for v in json.loads(body)["vms"] if v["name"] == name)


def test_global_view_shows_a_fault_live(lab, web, page):
    page.goto(f"{web.url}/ui/global.html#token={WRITE}")
    expect(page.locator("#all-good")).to_be_visible()
    assert "token=" not in page.url  # the token left the address bar
    expect(page.locator('.tile[data-verdict="healthy"] .n')).not_to_have_text("0")
    shot(page, "global-healthy")

    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")  # a cable pull: half the paths of esx-a01
    group = page.locator('section[data-group="degraded"]')
    expect(group).to_be_visible()
    expect(group.locator('tr[data-vm="web01"]').first).to_have_attribute("data-verdict", "degraded")
    expect(page.locator('#hosts tr[data-host="esx-a01"] .badge')).to_have_text("degraded")
    expect(page.locator('.tile[data-verdict="degraded"] .n')).not_to_have_text("0")
    shot(page, "global-degraded")

    lab.restore()
    expect(page.locator("#all-good")).to_be_visible()


def test_vm_views_show_the_chain(lab, web, page):
    moref = vm_moref(web, "web01")
    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    # the vSphere Client passes its own object id form; the page takes the moref out of it
    page.goto(f"{web.url}/ui/vm-summary.html?objectId=urn:vmomi:VirtualMachine:{moref}:vc-guid#token={READ}")
    card = page.locator("#vm-card")
    expect(card).to_have_attribute("data-verdict", "degraded")
    shot(page, "vm-summary-degraded")

    page.goto(f"{web.url}/ui/vm-monitor.html?objectId={moref}")  # the token stays for the tab's session
    disk = page.locator(".disk").first
    expect(disk).to_have_attribute("data-verdict", "degraded")
    here = disk.locator('.lun tr[data-host="esx-a01"]').first
    expect(here).to_contain_text("VM here")
    expect(here.locator(".badge.s-dead").first).to_be_visible()
    expect(disk.locator('.lun tr[data-host="esx-a02"] .badge.s-dead')).to_have_count(0)
    shot(page, "vm-monitor-degraded")


def test_host_view(lab, web, page):
    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    status, body = get(web, "/api/v1/hosts/esx-a01", {"Authorization": f"Bearer {READ}"})
    moref = json.loads(body)["moref"]
    page.goto(f"{web.url}/ui/host-monitor.html?objectId={moref}#token={READ}")
    expect(page.locator("#host-head")).to_have_attribute("data-verdict", "degraded")
    expect(page.locator('#hbas tr[data-hba="vmhba2"]')).to_contain_text("offline")
    expect(page.locator('#luns tr[data-verdict="degraded"]').first).to_be_visible()
    shot(page, "host-monitor-degraded")


def test_move_action_shows_the_plan_asks_then_moves(lab, conn, placement, web, page):
    moref = vm_moref(web, "web01")
    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    page.goto(f"{web.url}/ui/move.html?objectId={moref}#token={WRITE}")
    expect(page.locator("#vm-head")).to_be_visible()
    expect(page.locator("#plan-text")).to_contain_text("web01 \u2192 esx-a0")  # the planner's healthy host
    page.click("#move")
    expect(page.locator("#confirm")).to_contain_text("Move web01 from esx-a01 to esx-a0")
    shot(page, "move-confirm")
    with page.expect_response(lambda r: r.url.endswith(f"/api/v1/vms/{moref}/migrate"), timeout=60000) as answer:
        page.click("#confirm-yes")
    response = answer.value
    assert response.request.method == "POST"
    assert response.request.headers["authorization"] == f"Bearer {WRITE}"
    assert response.status == 200, response.text()
    expect(page.locator("#answer-ok")).to_be_visible()
    shot(page, "move-answer")
    moved = snapshot(conn).vm_by_name("web01")
    assert snapshot(conn).hosts[moved.host].name in ("esx-a02", "esx-a03")  # vMotioned, within its cluster


def test_unauthenticated_is_refused(lab, web, page):
    for path in ("/api/v1/status", "/api/v1/vms/web01/map", "/api/v1/hosts", "/api/v1/plan", "/metrics"):
        status, body = get(web, path)
        assert status == 401 and "authentication required" in json.loads(body)["error"], path
    status, _ = get(web, "/api/v1/status", {"Authorization": "Bearer not-the-token-at-all"})
    assert status == 401
    page.goto(f"{web.url}/ui/global.html")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#login-token")).to_be_visible()
    shot(page, "global-login")
    page.fill("#login-token", READ)
    page.click("#login-form button")
    expect(page.locator("#counts")).to_be_visible()


def vsphere_client_session(lab, user: str | None = None, password: str | None = None):
    """What the vSphere Client hands a plugin page: the user's Automation API session id (logged in over REST)."""
    client = rest(lab)
    return client, rest_login(client, lab, user, password)


def test_move_action_as_the_vsphere_client_user(lab, conn, placement, web, page):
    """The page gets the user's session from htmlClientSdk.app.getSessionInfo() (the stub hands over a real one
    from the lab); the server exchanges it for a clone ticket and a SOAP session, and asks vCenter, as that user,
    for Resource.HotMigrate on the VM: the administrator may move it, the read-only user may not."""
    moref = vm_moref(web, "web01")
    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    http, admin = vsphere_client_session(lab)
    try:
        page.goto(f"{web.url}/ui/move.html?objectId={moref}#vsphere-session={admin}")
        expect(page.locator("#plan-text")).to_contain_text("web01 \u2192 esx-a0")
        assert "vsphere-session" not in page.url  # the session left the address bar
        page.click("#move")
        with page.expect_response(lambda r: r.url.endswith(f"/api/v1/vms/{moref}/migrate"), timeout=60000) as answer:
            page.click("#confirm-yes")
        response = answer.value
        assert response.request.headers["vmware-api-session-id"] == admin
        assert "authorization" not in response.request.headers
        assert response.status == 200, response.text()
        expect(page.locator("#answer-ok")).to_be_visible()
        shot(page, "move-as-vsphere-user")
    finally:
        http.close()
    moved = snapshot(conn).vm_by_name("web01")
    assert snapshot(conn).hosts[moved.host].name in ("esx-a02", "esx-a03")


def test_the_read_only_vsphere_user_may_look_but_not_move(lab, web, browser):
    moref = vm_moref(web, "web01")
    http, readonly = vsphere_client_session(lab, lab.info.readonly_username, lab.info.readonly_password)
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT)
    try:
        page = context.new_page()
        page.goto(f"{web.url}/ui/move.html?objectId={moref}#vsphere-session={readonly}")
        expect(page.locator("#vm-head")).to_be_visible()  # reading is allowed
        page.click("#move")
        with page.expect_response(lambda r: r.url.endswith(f"/api/v1/vms/{moref}/migrate"), timeout=60000) as answer:
            page.click("#confirm-yes")
        assert answer.value.status == 403
        expect(page.locator("#answer-error")).to_contain_text("may not migrate")
        shot(page, "move-refused-read-only-user")
    finally:
        context.close()
        http.close()


def test_vsphere_client_session_and_metrics(lab, web):
    http, token = vsphere_client_session(lab)
    try:
        status, body = get(web, "/api/v1/whoami", {"vmware-api-session-id": token})
        assert status == 200 and json.loads(body) == {
            "name": lab.username, "kind": "session", "scope": "read", "remediation": True, "migrate": True}
        moref = vm_moref(web, "web01")
        assert get(web, f"/api/v1/vms/{moref}/map", {"vmware-api-session-id": token})[0] == 200
        assert web.sessions.known(token)  # exchanged once, then cached by its hash
        assert get(web, "/api/v1/whoami", {"vmware-api-session-id": "forged-0000-token"})[0] == 401
    finally:
        http.close()
    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    status, body = get(web, "/api/v1/status?after=0&wait=0", {"Authorization": f"Bearer {READ}"})
    assert status == 200
    status, text = get(web, "/metrics", {"Authorization": f"Bearer {READ}"})
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["vsguesttruth_inventory_ready"].samples[0].value == 1
    assert families["vsguesttruth_disk_verdict"].samples
    assert any(s.labels["host"] == "esx-a01" for s in families["vsguesttruth_host_paths"].samples)
    for name in ("vsguesttruth_publishes", "vsguesttruth_migrations", "vsguesttruth_vcenter_errors",
                 "vsguesttruth_watch_lag_seconds", "vsguesttruth_lun_paths", "vsguesttruth_disks"):
        assert name in families, name
