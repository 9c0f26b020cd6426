"""The plugin's pages in a real browser (Debian's chromium, headless, driven by Playwright) against the app
on the lab with faults: every view in the light and the dark theme, checked with axe-core (no serious or
critical WCAG 2.1 AA violation), a live update arriving without a reload, the incident flow under `serve` in
auto mode (fault -> incident opens -> the service moves the VMs it hits, shown as the incident's actions ->
fault restored -> incident resolves, all on the timeline), the move dialog's offers and refusals (the same
plan as GET /plan), the move authorised as the vSphere Client user whose session the page hands over (a clone
ticket from the lab, then CloneSession), a view of another vCenter's object, the API docs behind a token.
Screenshots of every view go to test-artifacts/ (kept by CI)."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from vsguesttruth.config import RemediationConfig  # noqa: E402
from vsguesttruth.guestinfo import POLICY  # noqa: E402
from vsguesttruth.incidents import IncidentController  # noqa: E402
from vsguesttruth.remediation import RemediationLoop  # noqa: E402
from fakes.automation import rest, rest_login  # noqa: E402
from vsguesttruth.vcenter import (  # noqa: E402
    ClientSessionExchange,
    ConnectionSettings,
    connect,
    set_extra_config,
    snapshot,
)
from vsguesttruth.web import (  # noqa: E402
    Auth,
    ClientSessions,
    IncidentSource,
    TokenStore,
    WatcherSource,
    WebServer,
    create_app,
    self_signed,
)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "vsguesttruth" / "web" / "ui" / "node_modules" / "axe-core" / "axe.min.js"
WRITE = "e2e-write-token-0123456789"
READ = "e2e-read-token-0123456789"
TIMEOUT = 20_000  # ms: the lab publishes a fault within a second, the page long-polls
ROLE = {"role": "active", "holder": ""}  # what serve's single-instance lease says (the pages' context line shows it)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make setup)")
expect = playwright_api.expect
expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def web(lab, tmp_path_factory):
    settings = ConnectionSettings(url=lab.url, username=lab.username, password=lab.password, ca_file=lab.cert)
    source = WatcherSource(lambda: connect(settings))
    incidents = IncidentController()  # the standalone server's own lifecycle, fed by its watch
    source.informer.listen(incidents.listen)
    source.start()
    assert source.wait_version(0, 30), "no inventory from the lab"
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    sessions = ClientSessions(ClientSessionExchange(settings), ttl=60)
    auth = Auth(TokenStore({WRITE: ("e2e", "write"), READ: ("viewer", "read")}), sessions)
    conn = connect(settings)
    remedy = RemediationLoop(conn, RemediationConfig(mode="advise"))  # the plugin's move action is manual
    app = create_app(source, auth, plan=remedy.manual.plan, migrate=remedy.manual.migrate, role=lambda: dict(ROLE),
                     incidents=IncidentSource(incidents.state, remedy.config))
    server = WebServer(app, "127.0.0.1", 0, cert_file=cert, key_file=key, on_stop=auth.close).start()
    server.source = source
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
    page = context.new_page()
    errors: list[str] = []
    page.expected_statuses = {401}  # a test that provokes another refusal adds its status
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and not any(
        str(code) in msg.text for code in page.expected_statuses) else None)
    try:
        yield page
        assert errors == [], errors  # no script error, no CSP refusal, on any page
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


def api(web, path: str) -> dict:
    status, body = get(web, "/api/v1/" + path, {"Authorization": f"Bearer {READ}"})
    assert status == 200, body
    return json.loads(body)


def vm_moref(web, name: str) -> str:
    return next(v["moref"] for v in api(web, "vms")["vms"] if v["name"] == name)


def host_moref(web, name: str) -> str:
    return api(web, f"hosts/{name}")["moref"]


def wait_version(web, after: int) -> None:
    """Until the plugin server's inventory is newer than ``after`` and no newer one follows for a second: faults
    made one after another may come in more than one inventory (a quiet vCenter's first change is read at once)."""
    version = web.source.wait_version(after, 30)
    assert version > after
    while (newer := web.source.wait_version(version, 1.0)) > version:
        version = newer


def axe(page, name: str) -> None:
    """axe-core's WCAG 2.1 A/AA rules on the page: no serious or critical violation."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())  # through the debugger, so the page's CSP does not apply
    result = page.evaluate("axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', "
                           "'wcag21aa']}, resultTypes: ['violations']})")
    bad = [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
           for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: {json.dumps(bad, indent=1)}"


# -- every view, light and dark, with axe -------------------------------------------------------------

@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_view_in_both_themes_passes_axe(lab, web, page, theme):
    version = web.source.version
    lab.fault("target", target="A-ctl0-p0", state="dead")  # one array port down: every host loses the paths through it
    wait_version(web, version)
    web01, host = vm_moref(web, "web01"), host_moref(web, "esx-a01")
    ds = next(d for d in api(web, "datastores")["items"] if d["name"] == "ds-gold")
    target = api(web, "targets")["items"][0]["target"]
    lun = api(web, "luns?sort=name")["items"][0]["canonical_name"]
    incident = wait_incident(web, "target")
    views = {
        "global": (f"global.html?theme={theme}#token={READ}", "#open-incidents-table tbody tr[data-incident]"),
        "global-incidents": (f"global.html?theme={theme}#incidents", "#incidents-table tbody tr[data-incident]"),
        "incident": (f"global.html?theme={theme}#incident/{incident}", "#incident-hits tbody tr[data-vm]"),
        "global-hosts": (f"global.html?theme={theme}#hosts", "#hosts-table tbody tr[data-host]"),
        "global-targets": (f"global.html?theme={theme}#targets", "#targets-table tbody tr[data-target]"),
        "target": (f"global.html?theme={theme}#target/{target}", "#target-view"),
        "lun": (f"global.html?theme={theme}#lun/{lun}", "#lun-view"),
        "activity": (f"global.html?theme={theme}#activity", "#panel h2"),
        "host-monitor": (f"host-monitor.html?objectId={host}&theme={theme}", "#host-vms-table tbody tr[data-vm]"),
        "vm-summary": (f"vm-summary.html?objectId={web01}&theme={theme}", "#vm-card"),
        "vm-monitor": (f"vm-monitor.html?objectId={web01}&theme={theme}", ".vsgt-disk"),
        "datastore-monitor": (f"datastore-monitor.html?objectId={ds['moref']}&theme={theme}", "#datastore-view"),
        "move": (f"move.html?objectId={web01}&theme={theme}", "#plan .alert"),
    }
    for name, (url, ready) in views.items():
        page.goto(f"{web.url}/ui/{url}")
        expect(page.locator(ready).first).to_be_visible()
        assert page.locator("body").get_attribute("cds-theme") == theme
        expect(page.locator("#context")).to_contain_text("vCenter")
        assert page.locator("header").count() == 0  # one header: the vSphere Client's own
        shot(page, f"{name}-{theme}")
        axe(page, f"{name} ({theme})")
        if name in ("vm-summary", "vm-monitor"):  # the incident behind each verdict, a link to its view
            expect(page.locator(f'.vsgt-incident[data-incident="{incident}"]').first).to_be_visible()


def wait_incident(web, kind: str, timeout: float = 20) -> str:
    """The id of the open incident of ``kind`` (the lifecycle takes in an inventory after its version is out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = api(web, f"incidents?state=open&kind={kind}")["items"]
        if found:
            return found[0]["id"]
        time.sleep(0.2)
    raise AssertionError(f"no open {kind} incident")


def test_global_view_is_incident_first(lab, web, page):
    version = web.source.version
    lab.fault("target", target="A-ctl0-p0", state="dead")
    wait_version(web, version)
    incident = wait_incident(web, "target")
    page.goto(f"{web.url}/ui/global.html#token={READ}")
    row = page.locator(f'#open-incidents-table tr[data-incident="{incident}"]')
    detail = api(web, f"incidents/{incident}")
    expect(row).to_contain_text(detail["component"])  # the failed component, named
    expect(row).to_contain_text("open: dead")
    expect(row).to_contain_text(f"{detail['host_count']} hosts, {detail['vm_count']} VMs, {detail['disk_count']} disks")
    expect(page.locator(f'#incident-timeline li[data-kind="opened"][data-incident="{incident}"]')).to_be_visible()
    expect(page.locator("#audit-table tbody tr[data-finding]").first).to_be_visible()  # ds-edge on fabric A only
    order = page.evaluate("['open-incidents', 'incident-timeline', 'audit', 'disks'].map(id => "
                          "document.getElementById(id).getBoundingClientRect().top)")
    assert order == sorted(order), order  # incidents, timeline, audit, then the disk table
    expect(page.locator('#disks-table tr[data-verdict="degraded"]').first).to_contain_text(incident)
    row.locator("a").first.click()
    expect(page.locator("#incident-view")).to_have_attribute("data-state", "open")
    hits = page.locator("#incident-hits tbody tr[data-vm]")
    expect(hits).to_have_count(len(detail["hits"]))
    expect(page.locator("#incident-evidence tbody tr").first).to_be_visible()
    expect(page.locator("#incident-advice")).to_be_visible()

    version = web.source.version
    lab.restore()  # the port is back: the incident resolves, the open view says so without a reload
    expect(page.locator("#incident-view")).to_have_attribute("data-state", "resolved")
    expect(page.locator("#incident-actions li[data-kind=resolved]")).to_be_visible()
    shot(page, "incident-resolved")


# -- the global view ----------------------------------------------------------------------------------

def test_global_view_updates_live_filters_sorts_and_follows_the_theme(lab, web, page):
    page.goto(f"{web.url}/ui/global.html#token={WRITE}")
    headline = page.locator("#headline")
    expect(headline).to_contain_text("virtual disks are healthy")
    assert "token=" not in page.url  # the token left the address bar
    page.evaluate("window.__stillHere = true")
    version = web.source.version

    lab.fault("target", target="A-ctl0-p0", state="dead")
    expect(headline).to_contain_text("need attention")  # without a reload:
    assert page.evaluate("window.__stillHere") is True
    expect(page.locator("#live")).to_contain_text("changed")  # said politely to screen readers
    degraded = page.locator('.vsgt-tile[data-verdict="degraded"] .n')
    expect(degraded).not_to_have_text("0")
    rows = page.locator("#disks-table tbody tr[data-verdict]")
    expect(rows.first).to_have_attribute("data-verdict", "degraded")
    assert web.source.version > version
    shot(page, "global-target-fault")

    page.click('.vsgt-tile[data-verdict="degraded"]')  # a tile is a filter
    expect(page.locator('.vsgt-tile[data-verdict="degraded"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#disks-status")).to_contain_text(f"of {degraded.inner_text()} disks")
    page.click('#disks-table th[data-sort="vm"] button')
    expect(page.locator('#disks-table th[data-sort="vm"]')).to_have_attribute("aria-sort", "ascending")
    names = page.locator("#disks-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.vm)")
    assert names == sorted(names)
    page.fill("#disks-search", "web01")
    expect(page.locator("#disks-table tbody tr[data-vm]")).to_have_count(
        sum(1 for d in api(web, "disks?verdict=degraded&q=web01&limit=500")["items"]))

    page.click("#tab-hosts")
    expect(page.locator('#hosts-table tr[data-host="esx-a01"]')).to_contain_text("LUNs degraded")
    page.click("#tab-targets")
    first = page.locator("#targets-table tbody tr").first
    expect(first).to_have_attribute("data-target", api(web, "targets")["items"][0]["target"])
    first.locator("a").click()
    expect(page.locator("#target-view")).to_contain_text("Paths through it")
    shot(page, "target-view")

    page.evaluate("htmlClientSdk.event.emitThemeChanged('dark')")  # the client switches its theme
    expect(page.locator("body")).to_have_attribute("cds-theme", "dark")
    lab.restore()
    page.goto(f"{web.url}/ui/global.html")
    expect(headline).to_contain_text("are healthy")


def test_a_second_port_fault_opens_its_incident_on_the_open_page(lab, web, page):
    """One array port down and the overview open; a second port fails: its incident opens on the page without a
    reload (the open incidents, the timeline, the disks' incident column) through the live feed, and resolves
    the same way when the port returns."""
    lab.fault("target", target="A-ctl0-p0", state="dead")
    first = wait_incident(web, "target")
    page.goto(f"{web.url}/ui/global.html#token={READ}")
    opened = page.locator("#open-incidents-table tbody tr[data-state=open]")
    expect(opened).to_have_count(1)
    expect(page.locator(f'#incident-timeline li[data-kind="opened"][data-incident="{first}"]')).to_be_visible()
    page.evaluate("window.__stillHere = true")
    told = page.evaluate("document.body.getAttribute('data-updated')")

    lab.fault("target", target="A-ctl1-p0", state="dead")
    expect(opened).to_have_count(2)
    second = next(i for i in opened.evaluate_all("rows => rows.map(r => r.dataset.incident)") if i != first)
    expect(page.locator(f'#incident-timeline li[data-kind="opened"][data-incident="{second}"]')).to_be_visible()
    expect(page.locator(f'#disks-table tbody tr[data-verdict] a[data-route="incident/{second}"]').first).to_be_visible()
    assert page.evaluate("window.__stillHere") is True  # no reload
    updates = page.evaluate("window.VSGT.updates")
    incident_updates = [u for u in updates if u["incidents"]]
    assert incident_updates, updates  # the live feed told of the incident change (not only the 10 s refresh)
    assert page.evaluate("document.body.getAttribute('data-updated')") != told
    assert all(0 <= u["ms"] < 10_000 for u in updates), updates  # each one patched the page (a wide bound)
    shot(page, "global-second-port")

    lab.fault("target", target="A-ctl1-p0", state="ok")
    expect(opened).to_have_count(1)
    expect(page.locator(f'#incident-timeline li[data-kind="resolved"][data-incident="{second}"]')).to_be_visible()
    assert page.evaluate("window.__stillHere") is True


def test_a_standby_instance_says_so_in_the_context_line(web, page):
    page.goto(f"{web.url}/ui/global.html#token={READ}")
    expect(page.locator("#context")).to_contain_text("inventory v")
    assert "standby" not in page.locator("#context").inner_text()
    ROLE.update(role="passive", holder="vsgt-b pid 4242")
    try:
        page.reload()  # the token stays in the tab's sessionStorage
        expect(page.locator("#context")).to_contain_text("standby (read-only): the active instance is vsgt-b pid 4242")
        shot(page, "global-standby")
    finally:
        ROLE.update(role="active", holder="")


def test_the_guests_service_level_shows_wherever_the_verdict_does(lab, conn, web, page):
    web02 = vm_moref(web, "web02")
    version = web.source.version
    set_extra_config(conn, web02, POLICY, json.dumps({"min_working_paths": 8}))  # the guest asks for 8 paths
    try:
        wait_version(web, version)
        page.goto(f"{web.url}/ui/global.html#token={READ}")
        row = page.locator('#disks-table tbody tr[data-vm="web02"]').first
        expect(row).to_have_attribute("data-sla-met", "false")
        expect(row).to_contain_text("not met")
        page.goto(f"{web.url}/ui/vm-summary.html?objectId={web02}")
        level = page.locator("#vm-level")
        expect(level).to_have_attribute("data-met", "false")
        expect(level).to_contain_text("at least 8 available paths per LUN (set by the guest): not met, 4 paths short on")
        shot(page, "vm-summary-below-level")
    finally:
        set_extra_config(conn, web02, POLICY, "")


def test_host_view_shows_the_health_reported_to_proactive_ha(lab, web, page, tmp_path):
    """Mode proactive-ha: the host's monitor view says what vsguesttruth reports to Proactive HA (posted to the
    lab's HealthUpdateManager by the real provider) and what vCenter did about it."""
    from vsguesttruth.remediation.proactive import ProactiveHa
    from vsguesttruth.vcenter.health import HealthProvider

    settings = ConnectionSettings(url=lab.url, username=lab.username, password=lab.password, ca_file=lab.cert)
    conn = connect(settings)
    pha = ProactiveHa(HealthProvider(conn), 0)
    cert, key = self_signed(tmp_path)
    auth = Auth(TokenStore({READ: ("viewer", "read")}), None)
    server = WebServer(create_app(web.source, auth, role=lambda: dict(ROLE), health=pha.as_dict), "127.0.0.1", 0,
                       cert_file=cert, key_file=key).start()
    try:
        version = web.source.version
        lab.fault("hba", host="esx-a03", hba="vmhba2", state="dead")
        lab.fault("hba", host="esx-a03", hba="vmhba3", state="dead")
        wait_version(web, version)
        pha.step(snapshot(conn))
        assert lab.topology()["host_health"]["esx-a03"]["updates"][0]["status"] == "red"
        host = host_moref(web, "esx-a03")
        page.goto(f"{server.url}/ui/host-monitor.html?objectId={host}#token={READ}")
        section = page.locator("#host-proactive-ha")
        expect(section).to_have_attribute("data-health", "red")
        expect(section).to_contain_text("vsguesttruth.storage.connectivity-lost")
        expect(section).to_contain_text("vCenter's reaction: none")  # cl-a has no Proactive HA on
        expect(section).to_contain_text("Restore esx-a03's storage paths")
        shot(page, "host-monitor-proactive-ha")
        axe(page, "host-monitor with Proactive HA")
    finally:
        server.stop()
        lab.restore()
        pha.step(snapshot(conn))  # green again: the shared lab keeps no red host
        conn.close()


# -- the incident flow under serve in auto mode --------------------------------------------------------

SERVE_CONFIG = """
[remediation]
stable_seconds = 1
cooldown_minutes = 1
max_per_hour = 100
"""
CLI = str(Path(sys.executable).parent / "vsguesttruth")


def test_incident_flow_under_serve_in_auto_mode(lab, conn, placement, browser, tmp_path):
    """esx-b02 loses both FC HBAs: an incident opens, the service moves the SAN VMs it hits (the incident's
    actions), the cables come back, the incident resolves; the overview's timeline shows it all."""
    config = tmp_path / "config.toml"
    config.write_text(SERVE_CONFIG)
    saved = lab.run_dir / "web-ui-url"
    saved.unlink(missing_ok=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))},
           "VSGT_LAB_HOME": str(lab.run_dir), "VSGT_CONFIG": str(config)}
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([CLI, "serve", "--lab", "--mode", "auto", "--port", "0"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT)
    try:
        deadline = time.monotonic() + 60
        while not saved.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert saved.exists(), log.read_text()
        url = re.search(r"https://127\.0\.0\.1:\d+/ui/global\.html#token=[\w-]+", saved.read_text()).group(0)
        page = context.new_page()
        page.goto(url)
        opened = page.locator("#open-incidents-table tbody tr[data-incident]")
        expect(page.locator("#open-incidents-status")).to_contain_text("No open incidents")
        hit = {vm.name for vm in placement.vms.values() if vm.host == placement.host_by_name("esx-b02").moref
               and any(d.backing == "vmdk" and d.datastores for d in vm.disks)}

        lab.fault("hba", host="esx-b02", hba="vmhba2", state="dead")
        lab.fault("hba", host="esx-b02", hba="vmhba3", state="dead")
        expect(opened.first).to_be_visible()  # without a reload
        ids = set(opened.evaluate_all("rows => rows.map(r => r.dataset.incident)"))
        assert all(i.startswith(("hba-", "host-")) for i in ids), ids  # the HBAs (or the host) named, not 9 LUNs
        for i in ids:
            expect(page.locator(f'#incident-timeline li[data-kind="opened"][data-incident="{i}"]')).to_be_visible()
        shot(page, "flow-incident-open")
        moved = page.locator("#incident-timeline li[data-kind=moved]")
        expect(moved.first).to_be_visible(timeout=90_000)  # the service moved a VM an incident hit
        incident = moved.first.get_attribute("data-incident")
        assert incident in ids, (incident, ids)
        row = page.locator(f'#open-incidents-table tr[data-incident="{incident}"]')
        expect(row).to_contain_text("moved ")  # "what the service did", in the list
        shot(page, "flow-vms-moved")

        row.locator("a").first.click()
        view = page.locator("#incident-view")
        expect(view).to_have_attribute("data-state", "open")
        actions = page.locator("#incident-actions li[data-kind=moved]")
        expect(actions.first).to_be_visible()
        said = " ".join(actions.all_inner_texts())
        assert any(f"moved {name} from esx-b02" in said for name in hit), said
        shot(page, "flow-incident-actions")

        lab.restore()
        expect(view).to_have_attribute("data-state", "resolved", timeout=60_000)
        expect(page.locator("#incident-actions li[data-kind=resolved]")).to_be_visible()
        page.click("#tab-disks")
        expect(page.locator(f'#incident-timeline li[data-kind="resolved"][data-incident="{incident}"]')).to_be_visible()
        expect(page.locator("#open-incidents-status")).to_contain_text("No open incidents")
        for kind in ("opened", "moved"):  # the timeline is drawn again as it changes: wait for its whole story
            expect(page.locator(f'#incident-timeline li[data-kind="{kind}"][data-incident="{incident}"]').first) \
                .to_be_visible()
        kinds = page.locator(f'#incident-timeline li[data-incident="{incident}"]').evaluate_all(
            "items => items.map(i => i.dataset.kind)")
        assert kinds[0] == "resolved" and kinds[-1] == "opened" and "moved" in kinds, kinds  # newest first
        shot(page, "flow-incident-resolved")
        axe(page, "overview after the flow")
    finally:
        context.close()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()


# -- the move dialog ---------------------------------------------------------------------------------

def migrations_done(web) -> float:
    status, text = get(web, "/metrics?name[]=vsguesttruth_migrations_total", {"Authorization": f"Bearer {READ}"})
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "vsguesttruth_migrations_total" and s.labels.get("outcome") == "done")


def test_move_dialog_refuses_what_the_planner_refuses(lab, web, page):
    web01, db01 = vm_moref(web, "web01"), vm_moref(web, "db01")
    page.goto(f"{web.url}/ui/move.html?objectId={web01}#token={WRITE}")
    expect(page.locator("#plan-refusal")).to_contain_text("healthy: nothing to move")
    assert page.locator("#move").count() == 0  # no button the server would refuse
    shot(page, "move-healthy")

    version = web.source.version
    lab.fault("lun", lun="rdm01", state="apd")  # db01's RDM: no host reaches it
    wait_version(web, version)
    page.goto(f"{web.url}/ui/move.html?objectId={db01}")
    refusal = page.locator("#plan-refusal")
    expect(refusal).to_contain_text("moving cannot help")
    assert refusal.inner_text().split("Not moving db01: ")[1].rstrip(".") == \
        api(web, f"plan?vm={db01}")["refusals"][0]["why"]  # the same plan as the API's
    assert page.locator("#move").count() == 0
    shot(page, "move-apd-refused")


def test_move_dialog_offers_the_planners_move_then_shows_the_vm_moved(lab, conn, placement, web, page):
    web01 = vm_moref(web, "web01")
    version = web.source.version
    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    lab.fault("hba", host="esx-a01", hba="vmhba3", state="dead")  # web01 lost every path on its host
    wait_version(web, version)
    planned = api(web, f"plan?vm={web01}")["moves"][0]
    done_before = migrations_done(web)
    page.goto(f"{web.url}/ui/move.html?objectId={web01}#token={WRITE}")
    offer = page.locator("#plan-move")
    expect(offer).to_contain_text(f"vMotion web01 from esx-a01 to {planned['to_host_name']}")
    page.click("#move")
    expect(page.locator("#confirm")).to_contain_text(f"Move web01 from esx-a01 to {planned['to_host_name']}?")
    assert page.locator(".vsgt-actions").count() == 1 and page.locator("#move").count() == 0  # one row of buttons
    shot(page, "move-confirm")
    with page.expect_response(lambda r: r.url.endswith(f"/api/v1/vms/{web01}/migrate"), timeout=60000) as answer:
        page.click("#confirm-yes")
    response = answer.value
    assert response.request.headers["authorization"] == f"Bearer {WRITE}"
    assert response.status == 200, response.text()
    expect(page.locator("#answer-ok")).to_contain_text(f"moved web01 from esx-a01 to {planned['to_host_name']}")
    expect(page.locator("#plan-refusal")).to_contain_text("healthy: nothing to move")  # refreshed: it moved
    expect(page.locator("#vm-head h2 .vsgt-verdict")).to_have_attribute("data-verdict", "healthy")
    assert page.locator("#move").count() == 0
    shot(page, "move-done")
    moved = snapshot(conn).vm_by_name("web01")
    assert snapshot(conn).hosts[moved.host].name == planned["to_host_name"]
    assert migrations_done(web) == done_before + 1


def vsphere_client_session(lab, user: str | None = None, password: str | None = None):
    """What the vSphere Client hands a plugin page: the user's Automation API session id (logged in over REST)."""
    client = rest(lab)
    return client, rest_login(client, lab, user, password)


def test_the_move_is_authorised_as_the_vsphere_client_user(lab, conn, placement, web, page):
    """The page gets the user's session from htmlClientSdk.app.getSessionInfo() (the stub hands over a real one
    from the lab); the server exchanges it for a clone ticket and a SOAP session, and asks vCenter, as that user,
    for Resource.HotMigrate on the VM: the administrator may move it."""
    web01 = vm_moref(web, "web01")
    version = web.source.version
    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    lab.fault("hba", host="esx-a01", hba="vmhba3", state="dead")
    wait_version(web, version)
    planned = api(web, f"plan?vm={web01}")["moves"][0]
    http, admin = vsphere_client_session(lab)
    try:
        page.goto(f"{web.url}/ui/move.html?objectId={web01}#vsphere-session={admin}")
        expect(page.locator("#plan-move")).to_contain_text(f"vMotion web01 from esx-a01 to {planned['to_host_name']}")
        assert "vsphere-session" not in page.url  # the session left the address bar
        page.click("#move")
        with page.expect_response(lambda r: r.url.endswith(f"/api/v1/vms/{web01}/migrate"), timeout=60000) as answer:
            page.click("#confirm-yes")
        response = answer.value
        assert response.request.headers["vmware-api-session-id"] == admin
        assert "authorization" not in response.request.headers
        assert response.status == 200, response.text()
        expect(page.locator("#answer-ok")).to_contain_text(f"moved web01 from esx-a01 to {planned['to_host_name']}")
        shot(page, "move-as-vsphere-user")
    finally:
        http.close()
    assert snapshot(conn).hosts[snapshot(conn).vm_by_name("web01").host].name == planned["to_host_name"]


def test_the_read_only_vsphere_user_may_look_but_not_move(lab, web, page):
    web01 = vm_moref(web, "web01")
    version = web.source.version
    lab.fault("hba", host="esx-a01", hba="vmhba2", state="dead")
    lab.fault("hba", host="esx-a01", hba="vmhba3", state="dead")
    wait_version(web, version)
    http, readonly = vsphere_client_session(lab, lab.info.readonly_username, lab.info.readonly_password)
    page.expected_statuses.add(403)  # the refused move, logged by the browser
    try:
        page.goto(f"{web.url}/ui/move.html?objectId={web01}#vsphere-session={readonly}")
        expect(page.locator("#plan-move")).to_be_visible()  # reading is allowed
        page.click("#move")
        with page.expect_response(lambda r: r.url.endswith(f"/api/v1/vms/{web01}/migrate"), timeout=60000) as answer:
            page.click("#confirm-yes")
        assert answer.value.status == 403
        expect(page.locator("#answer-error")).to_contain_text("may not migrate")
        shot(page, "move-refused-read-only-user")
    finally:
        http.close()


# -- Enhanced Linked Mode, sign-in, docs ---------------------------------------------------------------

def test_a_view_of_another_vcenters_object_says_so(lab, web, page):
    about = api(web, "about")
    web01 = vm_moref(web, "web01")
    page.goto(f"{web.url}/ui/vm-monitor.html?objectId=urn:vmomi:VirtualMachine:{web01}:"
              f"{about['vcenter']['instance_uuid']}#token={READ}")
    expect(page.locator(".vsgt-disk").first).to_be_visible()
    expect(page.locator("#context")).to_contain_text(about["vcenter"]["instance_uuid"])
    page.goto(f"{web.url}/ui/vm-monitor.html?objectId=urn:vmomi:VirtualMachine:{web01}:"
              "99999999-8888-7777-6666-555555555555")
    expect(page.locator("#other-vcenter")).to_contain_text("does not watch")
    assert page.locator(".vsgt-disk").count() == 0
    shot(page, "vm-monitor-other-vcenter")


def test_sign_in_and_the_api_docs_need_a_token(lab, web, page):
    for path in ("/api/v1/status", "/api/v1/disks", "/api/v1/changes?after=0", "/openapi.json", "/metrics"):
        status, body = get(web, path)
        assert status == 401 and "authentication required" in json.loads(body)["error"], path
    page.goto(f"{web.url}/ui/global.html")
    expect(page.locator("label[for=login-token]")).to_have_text("API token")
    shot(page, "global-login")
    axe(page, "sign-in")
    page.fill("#login-token", READ)
    page.click("#login-form button")
    expect(page.locator("#counts")).to_be_visible()
    page.goto(f"{web.url}/docs")  # the tab's token: the description loads at once
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("vsguesttruth")
    page.evaluate("sessionStorage.clear()")
    page.reload()
    expect(page.locator("label[for=docs-token]")).to_be_visible()
    page.fill("#docs-token", READ)
    page.click("#docs-login button")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("vsguesttruth")
    expect(page.locator(".swagger-ui .btn.authorize")).to_be_visible()
    shot(page, "api-docs")


def test_vsphere_client_session_and_metrics(lab, web):
    http, token = vsphere_client_session(lab)
    try:
        status, body = get(web, "/api/v1/whoami", {"vmware-api-session-id": token})
        assert status == 200 and json.loads(body) == {
            "name": lab.username, "kind": "session", "scope": "read", "remediation": True, "migrate": True,
            "role": "active", "holder": ""}
        moref = vm_moref(web, "web01")
        assert get(web, f"/api/v1/vms/{moref}/map", {"vmware-api-session-id": token})[0] == 200
        assert web.sessions.known(token)  # exchanged once, then cached by its hash
        assert get(web, "/api/v1/whoami", {"vmware-api-session-id": "forged-0000-token"})[0] == 401
    finally:
        http.close()
    status, text = get(web, "/metrics", {"Authorization": f"Bearer {READ}"})
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["vsguesttruth_inventory_ready"].samples[0].value == 1
    for name in ("vsguesttruth_publishes", "vsguesttruth_migrations", "vsguesttruth_vcenter_errors",
                 "vsguesttruth_watch_lag_seconds", "vsguesttruth_lun_paths", "vsguesttruth_disks"):
        assert name in families, name
