"""`make bench`: vsguesttruth's collector side by side with the ways people read vCenter, in one run.

Starts the lab at 2,000 hosts / 20,000 VMs with 5 ms added to every SOAP call (override with --hosts,
--vms, --latency-ms) and measures, each part in a fresh process so its peak RSS is its own:

  (a) naive   a hand-written pyVmomi script: attribute access per object, one round trip each; run for a
              fixed budget and extrapolated to the whole inventory
  (b) plain   one pyVmomi RetrievePropertiesEx of the properties such a script reads
  (b') narrow one pyVmomi RetrievePropertiesEx of exactly the properties vsguesttruth asks for
  (c) ours    vsguesttruth's full snapshot (collector + model) plus the truth of every disk
  (d) watch   fault-to-verdict latency through WaitForUpdatesEx, p50/p99 over injected faults
  (e) RSS     peak resident memory of each part
  (f) incidents and audit of the whole inventory once it is in memory (its truth known, as in the service's
              pass): grouped healthy, grouped with one array port dead on every host that uses it (applied to
              the model as what-if does), and the audit of single points of failure
  (g) page    the plugin's global view in headless Chromium with one array target port down, incidents on:
              first paint (the open incidents and the disk table shown), bytes transferred, DOM nodes, and the
              updates while a second port goes down and comes back: each change's answer reaching the page ->
              the page patched, the inventory's (disk rows, hosts) and the incidents' (their list, timeline and
              disk rows fetched again) apart, with the slowest requests they made; and fault -> page, and fault
              -> the port's incident shown, through the watch and the incident lifecycle
  (h) publish the first full publish of every VM through guestinfo, then (on a second, fresh lab) with
              [delivery] channel = "datasets": writes, seconds, vCenter tasks created, Automation API calls;
              and what polling the guests' data sets costs (scripts/bench_delivery.py). The lab's tasks
              finish at once here; what vCenter's task time would add is computed from the lab's timing

Prints a table and the ratios; ``--json FILE`` also writes the figures; ``--parts page`` runs only some.
"""

from __future__ import annotations

import argparse
import json
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

PARTS = ("naive", "plain", "narrow", "ours", "watch", "page", "publish")

# The properties a straightforward script reads: whole config subtrees, no care for size.
PLAIN_PROPERTIES = {
    "HostSystem": ["name", "parent", "runtime", "config.storageDevice", "config.multipathState", "config.fileSystemVolume"],
    "Datastore": ["name", "summary", "info", "host"],
    "VirtualMachine": ["name", "runtime", "config.hardware.device", "config.instanceUuid", "config.extraConfig"],
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def connect(info: dict):
    from pyVim.connect import SmartConnect

    url = urlparse(info["url"])
    ctx = ssl.create_default_context(cafile=info["cert"]) if info.get("cert") else None
    return SmartConnect(host=url.hostname, port=url.port, user=info["username"], pwd=info["password"],
                        sslContext=ctx, protocol=url.scheme)


def views(content, types):
    from pyVmomi import vim

    return {t: content.viewManager.CreateContainerView(content.rootFolder, [getattr(vim, t)], True) for t in types}


# -- parts (each runs in its own process) ----------------------------------------------------------

def part_naive(info: dict, budget: float) -> dict:
    """Attribute access per object; each access is one RetrieveProperties round trip."""
    si = connect(info)
    content = si.RetrieveContent()
    v = views(content, ["HostSystem", "Datastore", "VirtualMachine"])
    counts, spent = {}, {}

    def host(h):
        h.name, h.parent.name, h.runtime.connectionState
        sd = h.config.storageDevice
        sd.hostBusAdapter, sd.scsiLun, sd.multipathInfo

    def datastore(d):
        d.name, d.summary.type, d.info, d.host

    def vm(m):
        m.name, m.runtime.host, m.runtime.powerState
        m.config.hardware.device, m.config.instanceUuid, m.config.extraConfig

    for kind, fn in (("HostSystem", host), ("Datastore", datastore), ("VirtualMachine", vm)):
        objs = v[kind].view
        counts[kind] = len(objs)
        start, done = time.perf_counter(), 0
        for obj in objs:
            fn(obj)
            done += 1
            if time.perf_counter() - start > budget / 3:
                break
        spent[kind] = (time.perf_counter() - start) / max(done, 1)
    total = sum(counts[k] * spent[k] for k in counts)
    return {"seconds": total, "extrapolated": True, "per_object_ms": {k: round(spent[k] * 1000, 1) for k in spent},
            "objects": sum(counts.values()), "rss_mb": peak_rss_mb()}


def retrieve_all(content, properties: dict) -> int:
    from pyVmomi import vim, vmodl

    pc = vmodl.query.PropertyCollector
    v = views(content, list(properties))
    spec = pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=view, skip=True, selectSet=[pc.TraversalSpec(type=vim.view.ContainerView, path="view")])
                   for view in v.values()],
        propSet=[pc.PropertySpec(type=getattr(vim, t), pathSet=paths) for t, paths in properties.items()],
    )
    n = 0
    result = content.propertyCollector.RetrievePropertiesEx([spec], pc.RetrieveOptions(maxObjects=1000))
    while result:
        n += len(result.objects)
        result = content.propertyCollector.ContinueRetrievePropertiesEx(result.token) if result.token else None
    return n


def part_plain(info: dict, narrow: bool) -> dict:
    si = connect(info)
    content = si.RetrieveContent()
    if narrow:
        from vsguesttruth.vcenter.convert import PROPERTIES

        properties = {k: list(v) for k, v in PROPERTIES.items()}
    else:
        properties = PLAIN_PROPERTIES
    start = time.perf_counter()
    n = retrieve_all(content, properties)
    return {"seconds": time.perf_counter() - start, "objects": n, "rss_mb": peak_rss_mb()}


def _ours_connection(info: dict):
    from vsguesttruth.vcenter import ConnectionSettings, connect as vsgt_connect

    return vsgt_connect(ConnectionSettings(url=info["url"], username=info["username"], password=info["password"],
                                           ca_file=info.get("cert") or None))


def part_ours(info: dict) -> dict:
    from vsguesttruth.truth import TruthContext
    from vsguesttruth.vcenter import snapshot

    conn = _ours_connection(info)
    start = time.perf_counter()
    inv = snapshot(conn)
    collected = time.perf_counter()
    ctx = TruthContext(inv)
    truths = ctx.disk_truths()
    done = time.perf_counter()
    return {"seconds": done - start, "collect_s": collected - start, "truth_s": done - collected,
            "objects": len(inv.hosts) + len(inv.vms) + len(inv.datastores), "disks": len(truths),
            **incidents_and_audit(inv, ctx), "rss_mb": peak_rss_mb()}


def incidents_and_audit(inv, ctx) -> dict:
    """(f): grouping and hits of a healthy inventory and of one with an array port dead, and the audit; each on an
    inventory whose truth is already known (the service's pass judged it before it groups)."""
    from collections import Counter

    from vsguesttruth.incidents import failures, footprints, hits, san_map
    from vsguesttruth.incidents.audit import audit
    from vsguesttruth.incidents.whatif import Failure, apply
    from vsguesttruth.truth import TruthContext

    def grouped(inv, ctx) -> tuple[float, tuple, int]:
        t0 = time.perf_counter()
        prints = footprints(inv, ctx)
        found = failures(inv, ctx, prints=prints)
        hit = hits(found, prints, inv)
        return time.perf_counter() - t0, found, sum(len(h) for h in hit.values())

    healthy_s, healthy, _ = grouped(inv, ctx)
    san = san_map(inv)
    used = Counter(p.target for host in inv.hosts.values() for p in host.paths if p.target)
    failed = apply(inv, Failure("target", used.most_common(1)[0][0]), san)[0] if used else inv  # the busiest port
    failed_ctx = TruthContext(failed)
    failed_ctx.disk_truths()
    port_s, found, disks = grouped(failed, failed_ctx)
    t0 = time.perf_counter()
    findings = audit(inv, ctx, san=san)
    audit_s = time.perf_counter() - t0
    return {"incidents_healthy_s": healthy_s, "incidents_healthy": len(healthy), "incidents_port_s": port_s,
            "incidents_port": len(found), "port_hosts": len({h for f in found for h in f.hosts}), "port_disks": disks,
            "audit_s": audit_s, "findings": len(findings)}


def part_watch(info: dict, faults: int) -> dict:
    """Inject faults through the lab's control API; time until the watch shows the new verdict."""
    import urllib.request

    from vsguesttruth.truth import TruthContext
    from vsguesttruth.vcenter import Watcher

    conn = _ours_connection(info)
    latest: dict = {}
    changed = threading.Condition()
    stop = threading.Event()

    watcher = Watcher(conn)

    def follow():
        while not stop.is_set():
            inv = watcher.next_inventory(1.0)
            if inv is None:
                continue
            with changed:
                latest["inv"] = inv
                latest["at"] = time.perf_counter()
                changed.notify_all()

    def follow_logged():
        try:
            follow()
        except BaseException as err:  # the main thread reports it
            latest["error"] = err
            with changed:
                changed.notify_all()

    thread = threading.Thread(target=follow_logged, daemon=True)
    thread.start()
    with changed:
        changed.wait_for(lambda: "inv" in latest or "error" in latest, timeout=600)
    if "inv" not in latest:
        raise SystemExit(f"the watch did not deliver an inventory: {latest.get('error', 'timed out')}")
    inv = latest["inv"]
    # victims: one VM per host on distinct hosts, first disk; fault every path of its first LUN there
    ctx = TruthContext(inv)
    victims = []
    used_hosts = set()
    for vm in inv.vms.values():
        if vm.host in used_hosts or not vm.disks:
            continue
        truth = ctx.vm_truth(vm.moref)
        disk = truth.disks[0]
        if not disk.luns:
            continue
        host = inv.hosts[vm.host]
        victims.append((vm.moref, disk.key, host.name, [p.name for p in host.paths_to(disk.luns[0].canonical_name)][:1]))
        used_hosts.add(vm.host)
        if len(victims) >= faults:
            break

    def post(body: dict) -> None:
        req = urllib.request.Request(info["control"] + "/v1/fault/path", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=30).read()

    if not victims:
        raise SystemExit(f"no VM with a SAN disk found among {len(inv.vms)} VMs on {len(inv.hosts)} hosts")
    latencies = []
    for vm_moref, key, host_name, path_names in victims:
        for state, want in (("dead", "degraded"), ("active", "healthy")):
            t0 = time.perf_counter()
            post({"host": host_name, "path": path_names[0], "state": state})

            def seen() -> bool:
                cur = latest["inv"]
                if latest["at"] < t0:
                    return False
                disk = next(d for d in TruthContext(cur).vm_truth(vm_moref).disks if d.key == key)
                return disk.verdict.value == want

            with changed:
                ok = changed.wait_for(seen, timeout=30)
            latencies.append((time.perf_counter() - t0) if ok else float("inf"))
    stop.set()
    watcher.close()
    finite = sorted(latencies)
    return {"faults": len(latencies), "p50_s": statistics.median(finite),
            "p99_s": finite[min(len(finite) - 1, int(round(0.99 * (len(finite) - 1))))], "max_s": finite[-1],
            "rss_mb": peak_rss_mb()}


PAGE_TOKEN = "bench-page-token-0123456789"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# the moment the overview shows what it is for: its open incidents and its disk table (recorded by the page)
READY_SCRIPT = """
new MutationObserver((_, observer) => {
  if (document.querySelector('#open-incidents-table tbody tr[data-incident]')
      && document.querySelector('#disks-table tbody tr[data-verdict]')) {
    window.__ready = performance.now();
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""


def _control(info: dict, path: str, body: dict) -> None:
    import urllib.request

    req = urllib.request.Request(info["control"] + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req, timeout=900).read()


def part_page(info: dict, runs: int) -> dict:
    """The plugin server on this lab (its own watch and incident lifecycle, as ``vsguesttruth web`` runs it);
    the global view loaded ``runs`` times in fresh contexts (no cache), then updates measured on an open page."""
    from playwright.sync_api import sync_playwright

    from vsguesttruth.incidents import IncidentController
    from vsguesttruth.vcenter import ConnectionSettings, connect as vsgt_connect
    from vsguesttruth.web import Auth, IncidentSource, TokenStore, WatcherSource, WebServer, create_app, self_signed

    settings = ConnectionSettings(url=info["url"], username=info["username"], password=info["password"],
                                  ca_file=info.get("cert") or None)
    started = time.perf_counter()

    def say(what: str) -> None:  # progress, on stderr (stdout carries the figures)
        print(f"    page: {time.perf_counter() - started:6.1f} s {what}", file=sys.stderr, flush=True)

    _control(info, "/v1/fault/target", {"target": "A-ctl0-p0", "state": "dead"})
    say("one target port down")
    source = WatcherSource(lambda: vsgt_connect(settings))
    incidents = IncidentController()
    source.informer.listen(incidents.listen)
    source.start()
    server = None
    try:
        if not source.wait_version(0, 900):
            raise SystemExit("no inventory from the lab")
        say("the watch has the inventory")
        deadline = time.monotonic() + 300
        while not incidents.state().open and time.monotonic() < deadline:
            time.sleep(0.2)
        say(f"{len(incidents.state().open)} incident(s) open")
        tmp = Path(tempfile.mkdtemp(prefix="vsgt-bench-page-"))
        cert, key = self_signed(tmp)
        app = create_app(source, Auth(TokenStore({PAGE_TOKEN: ("bench", "read")})),
                         incidents=IncidentSource(incidents.state))
        server = WebServer(app, "127.0.0.1", 0, cert_file=cert, key_file=key).start()
        t0 = time.perf_counter()
        _get(server.url, "/api/v1/disks?limit=1")  # the server judges an inventory once, for every page
        _get(server.url, "/api/v1/audit?limit=1")
        warm = time.perf_counter() - t0
        say(f"the server judged the inventory in {warm:.1f} s")
        figures: dict[str, list[float]] = {"first_paint_ms": [], "ready_ms": [], "kb": [], "requests": [], "nodes": []}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for _ in range(runs):
                context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.add_init_script(READY_SCRIPT)
                cdp = context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
                sizes: list[float] = []
                cdp.on("Network.loadingFinished", lambda e: sizes.append(e["encodedDataLength"]))
                page.goto(f"{server.url}/ui/global.html#token={PAGE_TOKEN}")
                _until(page, "window.__ready !== undefined")
                figures["ready_ms"].append(page.evaluate("window.__ready"))
                figures["first_paint_ms"].append(page.evaluate(
                    "(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: 0}).startTime"))
                page.wait_for_timeout(2000)  # what the page loads after it is ready (the long poll stays open)
                figures["kb"].append(sum(sizes) / 1024)
                figures["requests"].append(len(sizes))
                figures["nodes"].append(page.evaluate("document.getElementsByTagName('*').length"))
                say(f"page loaded: ready at {figures['ready_ms'][-1]:.0f} ms, {figures['kb'][-1]:.0f} KB")
                if len(figures["kb"]) < runs:
                    context.close()
            # a second port of the array fails and returns; each time, every update the page makes until the
            # incident change shows (the port's incident opens, then resolves) and the watch has settled.
            # The page's requests: start (epoch ms), path (+ "(new connection)" when it had to open one), ms taken
            # from its start to the last byte of the answer (a new connection's TLS handshake included); an update
            # counts those started while it was under way (a 10 s refresh of the page's that falls in it too)
            timed: list[tuple[float, str, float]] = []
            page.on("requestfinished", lambda r: timed.append((
                r.timing["startTime"], r.url.split("/api/v1/")[-1].split("?")[0]
                + (" (new connection)" if r.timing["connectStart"] >= 0 else ""), r.timing["responseEnd"])))
            shown = "document.querySelectorAll('#open-incidents-table tbody tr[data-state=open]').length"
            before = page.evaluate(shown)
            opened = len(incidents.state().open)
            seen: list[dict] = []
            through, lifecycle_through, incident_through = [], [], []
            for state, want in (("dead", before + 1), ("ok", before)):  # the port's incident opens, then resolves
                mark = page.evaluate("performance.now()")
                _control(info, "/v1/fault/target", {"target": "A-ctl1-p0", "state": state})
                t1 = time.perf_counter()  # the lab has changed every host's paths: from here, vCenter's watch and us
                lifecycle = threading.Thread(target=_when, args=(
                    lambda n=opened + want - before: len(incidents.state().open) == n, t1, lifecycle_through))
                lifecycle.start()  # when the service's lifecycle has the port's incident opened (resolved)
                _until(page, f"(window.VSGT.updates || []).some(u => u.received > {mark})")
                through.append((time.perf_counter() - t1) * 1000)
                _until(page, f"{shown} === {want}")
                incident_through.append((time.perf_counter() - t1) * 1000)
                lifecycle.join()
                settle = time.monotonic() + 60  # until the watch has brought the whole fault: 3 s without a change
                while page.evaluate("performance.now() - window.VSGT.lastUpdate.applied < 3000") and time.monotonic() < settle:
                    time.sleep(0.2)
                origin = page.evaluate("performance.timeOrigin")
                mine = page.evaluate(f"window.VSGT.updates.filter(u => u.received > {mark})")
                for u in mine:  # the requests each update sent, by their start in the page's time
                    start, end = origin + u["received"], origin + u["applied"]
                    u["requests"] = sorted(((ms, path) for at, path, ms in timed if not path.startswith("changes")
                                            and start <= at <= end), reverse=True)
                    u["first_request_ms"] = min((at - start for at, path, _ in timed if not path.startswith("changes")
                                                 and start <= at <= end), default=None)
                    u["after_answers_ms"] = end - max((at + ms for at, _, ms in timed if start <= at + ms <= end),
                                                      default=start)  # the page's own work after the last answer
                seen.extend(mine)
                inventory = [u["ms"] for u in mine if not u["incidents"]]
                incident = [u["ms"] for u in mine if u["incidents"]]
                slow = sorted(r for u in mine for r in u["requests"])[-3:]
                say(f"port {state}: {len(inventory)} inventory updates, {max(inventory, default=0):.0f} ms at most; "
                    f"{len(incident)} incident updates, {max(incident, default=0):.0f} ms at most; the page showed the "
                    f"change {through[-1]:.0f} ms after the fault, the incident {incident_through[-1]:.0f} ms (the "
                    f"service's lifecycle had it at {lifecycle_through[-1]:.0f} ms); "
                    "slowest requests " + ", ".join(f"{path} {ms:.0f} ms" for ms, path in reversed(slow)))
            browser.close()
    finally:
        if server is not None:
            server.stop()
        source.stop()
        _control(info, "/v1/restore", {})
    out = {k: statistics.median(v) for k, v in figures.items()}
    inventory = [u["ms"] for u in seen if not u["incidents"]] or [0.0]
    incident = [u["ms"] for u in seen if u["incidents"]] or [0.0]
    slowest = sorted(r for u in seen for r in u["requests"])[-5:]
    return {**out, "warm_s": warm, "update_ms": statistics.median(inventory), "update_max_ms": max(inventory),
            "updates": len(inventory), "incident_update_ms": statistics.median(incident),
            "incident_update_max_ms": max(incident), "incident_updates": len(incident),
            "update_requests": [{"path": path, "ms": round(ms)} for ms, path in reversed(slowest)],
            "each_update": [{"ms": round(u["ms"]), "inventory": u["inventory"], "incidents": u["incidents"],
                             "requests": [[path, round(ms)] for ms, path in u["requests"]],
                             "first_request_ms": u["first_request_ms"], "after_answers_ms": u["after_answers_ms"]}
                            for u in seen],
            "fault_to_page_ms": statistics.median(through), "fault_to_incident_ms": statistics.median(incident_through),
            "fault_to_lifecycle_ms": statistics.median(lifecycle_through),
            "rss_mb": peak_rss_mb()}


def _when(condition, t0: float, out: list[float], timeout: float = 300.0) -> None:
    """Append the ms from ``t0`` until ``condition()`` holds (polled; a timeout appends the time waited)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    out.append((time.perf_counter() - t0) * 1000)


def _until(page, condition: str, timeout: float = 120.0) -> None:
    """Until ``condition`` holds in the page (polled: the page's CSP refuses Playwright's wait_for_function)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(condition):
        if time.monotonic() > deadline:
            raise SystemExit(f"the page never showed: {condition}")
        time.sleep(0.01)


def _get(url: str, path: str) -> None:
    import urllib.request

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    req = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {PAGE_TOKEN}"})
    urllib.request.urlopen(req, context=ctx, timeout=600).read()


# -- orchestration -------------------------------------------------------------------------------

def run_part(name: str, info: dict, *extra: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--part", name, "--info", json.dumps(info), *extra],
                         capture_output=True, text=True)
    if out.returncode != 0:
        lines = [line for line in out.stderr.strip().splitlines() if not line.startswith(" ")]
        raise SystemExit(f"bench part {name} failed: {lines[-1] if lines else out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_delivery(info: dict, channel: str) -> dict:
    script = str(Path(__file__).with_name("bench_delivery.py"))
    out = subprocess.run([sys.executable, script, "--info", json.dumps(info), "--channel", channel],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench publish {channel} failed: "
                         f"{out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--vms", type=int, default=20000)
    parser.add_argument("--latency-ms", type=int, default=5)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds for the naive script before extrapolating")
    parser.add_argument("--faults", type=int, default=12, help="VMs to fault (each: one fault and one recovery)")
    parser.add_argument("--json", dest="json_out")
    parser.add_argument("--part")
    parser.add_argument("--info")
    parser.add_argument("--narrow", action="store_true")
    parser.add_argument("--runs", type=int, default=3, help="page loads to take the median of")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"which parts to run (of {', '.join(PARTS)})")
    args = parser.parse_args()

    if args.part:
        info = json.loads(args.info)
        result = {
            "naive": lambda: part_naive(info, args.budget),
            "plain": lambda: part_plain(info, args.narrow),
            "ours": lambda: part_ours(info),
            "watch": lambda: part_watch(info, args.faults),
            "page": lambda: part_page(info, args.runs),
        }[args.part]()
        print(json.dumps(result))
        return

    from vsguesttruth.lab import Lab

    run_dir = Path(tempfile.mkdtemp(prefix="vsgt-bench-"))
    lab = Lab(run_dir)
    print(f"starting the lab: {args.hosts} hosts, {args.vms} VMs, {args.latency_ms} ms per SOAP call ...", flush=True)
    t0 = time.perf_counter()
    info = lab.up(hosts=args.hosts, vms=args.vms, latency_ms=args.latency_ms, timeout=600).as_dict()
    lab_start = time.perf_counter() - t0
    lab_rss = rss_mb(info["pid"])
    try:
        rows = {}
        wanted = set(args.parts.split(","))
        for name, extra in (("naive", ["--budget", str(args.budget)]), ("plain", []), ("narrow", ["--narrow"]),
                            ("ours", []), ("watch", ["--faults", str(args.faults)]), ("page", ["--runs", str(args.runs)])):
            if name not in wanted:
                continue
            part = "plain" if name == "narrow" else name
            print(f"  measuring {name} ...", flush=True)
            rows[name] = run_part(part, info, *extra)
        # the publishes run with the lab's tasks finishing at once: at vCenter's reconfigure time, 20,000 tasks
        # at concurrency 8 would take most of an hour; the report adds what that time would be
        rows["reconfigure_ms"] = lab.timing()["reconfigure_ms"]
        if "publish" in wanted:
            lab.timing(enabled=False)
            print("  measuring the first publish through guestinfo ...", flush=True)
            rows["publish_guestinfo"] = run_delivery(info, "guestinfo")
    finally:
        lab.down()
    if "publish" in wanted:
        print("starting a fresh lab for the publish through VM data sets ...", flush=True)
        lab = Lab(Path(tempfile.mkdtemp(prefix="vsgt-bench-")))
        info = lab.up(hosts=args.hosts, vms=args.vms, latency_ms=args.latency_ms, timeout=600, timing=False).as_dict()
        try:
            print("  measuring the first publish through data sets, and polling ...", flush=True)
            rows["publish_datasets"] = run_delivery(info, "datasets")
        finally:
            lab.down()
    report(args, lab_start, lab_rss, rows)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"lab_start_s": lab_start, "lab_rss_mb": lab_rss, **rows}, indent=2))


def rss_mb(pid: int) -> float:
    """A process's resident size in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def report(args, lab_start: float, lab_rss: float, rows: dict) -> None:
    print()
    print(f"lab: {args.hosts} hosts, {args.vms} VMs, +{args.latency_ms} ms/call; started in {lab_start:.1f} s, RSS {lab_rss:.0f} MB")
    if "page" in rows:
        report_page(rows["page"], args.runs)
    if not all(k in rows for k in ("naive", "plain", "narrow", "ours", "watch")):
        if "publish_guestinfo" in rows:
            report_publish(args, rows)
        return
    naive, plain, narrow, ours, watch_ = (rows[k] for k in ("naive", "plain", "narrow", "ours", "watch"))
    print(f"{'part':<46} {'seconds':>9} {'peak RSS MB':>12}")
    print(f"{'(a) naive pyVmomi script (extrapolated)':<46} {naive['seconds']:>9.1f} {naive['rss_mb']:>12.0f}")
    print(f"{'(b) plain RetrievePropertiesEx':<46} {plain['seconds']:>9.1f} {plain['rss_mb']:>12.0f}")
    print(f"{'(b2) pyVmomi, only the properties we ask':<46} {narrow['seconds']:>9.1f} {narrow['rss_mb']:>12.0f}")
    print(f"{'(c) vsguesttruth snapshot + truth':<46} {ours['seconds']:>9.1f} {ours['rss_mb']:>12.0f}"
          f"   (collect {ours['collect_s']:.1f} s, truth {ours['truth_s']:.1f} s, {ours['disks']} disks)")
    print(f"{'(d) fault -> verdict through the watch':<46} p50 {watch_['p50_s'] * 1000:.0f} ms, p99 {watch_['p99_s'] * 1000:.0f} ms"
          f" over {watch_['faults']} faults; watcher RSS {watch_['rss_mb']:.0f} MB")
    print(f"{'(f) incidents, whole inventory in memory':<46} healthy {ours['incidents_healthy_s']:.2f} s "
          f"({ours['incidents_healthy']} incidents); one array port dead {ours['incidents_port_s']:.2f} s "
          f"({ours['incidents_port']} incident, {ours['port_hosts']} hosts, {ours['port_disks']} disks hit)")
    print(f"{'    audit of single points of failure':<46} {ours['audit_s']:.2f} s ({ours['findings']} findings)")
    if "publish_guestinfo" in rows:
        report_publish(args, rows)
    print()
    print(f"ratios: (a)/(c) = {naive['seconds'] / ours['seconds']:.1f}x faster than the naive script (target >= 20x); "
          f"(b)/(c) = {plain['seconds'] / ours['seconds']:.2f} (target >= 1); "
          f"(e) collector peak RSS {ours['rss_mb']:.0f} MB (target < 600 MB); "
          f"(f) incidents {max(ours['incidents_healthy_s'], ours['incidents_port_s']):.2f} s and audit "
          f"{ours['audit_s']:.2f} s (target < 1 s each)")


def report_publish(args: argparse.Namespace, rows: dict) -> None:
    gi, ds = rows["publish_guestinfo"], rows["publish_datasets"]
    print()
    print(f"(h) first full publish of {gi['vms']} VMs (concurrency 8, +{args.latency_ms} ms per SOAP and API call; "
          f"the lab's tasks finish at once):")
    print(f"{'channel':<34} {'seconds':>8} {'writes':>8} {'vCenter tasks':>14} {'API calls':>10} {'peak RSS MB':>12}")
    print(f"{'guestinfo (ReconfigVM_Task)':<34} {gi['seconds']:>8.1f} {gi['states']:>8} {gi['tasks']:>14} {'-':>10}"
          f" {gi['rss_mb']:>12.0f}")
    print(f"{'datasets (' + str(ds['datasets_vms']) + ' VMs vmx-20+, rest guestinfo)':<34} {ds['seconds']:>8.1f}"
          f" {ds['states']:>8} {ds['tasks']:>14} {ds['api_calls']:>10} {ds['rss_mb']:>12.0f}")
    print(f"  data sets: {ds['dataset_entries']} entries set, {ds['datasets_created']} data sets created, first reads "
          f"{ds['first_reads_s']:.1f} s; guestinfo writes for the older VMs: {ds['guestinfo_writes']}")
    for label, row in (("guestinfo", gi), ("datasets", ds)):
        n = row["next"]
        print(f"  next publish, {label}: an array port fails, {n['states']} documents change: {n['seconds']:.1f} s, "
              f"{n['tasks']} vCenter tasks, {n['dataset_entries']} entries set, {n['api_calls']} API calls")
    task_s = rows["reconfigure_ms"] / 1000
    print(f"  at vCenter's reconfigure time ({task_s:.1f} s a task, lab/README.md \"Task timing\"), the vCenter tasks "
          f"alone take at least {gi['tasks'] * task_s / 8 / 60:.0f} min (guestinfo) and "
          f"{ds['tasks'] * task_s / 8 / 60:.0f} min (datasets) at concurrency 8")
    if "polls" in ds:
        p = ds["polls"]
        print(f"  polling the guests' data sets: a sweep of {p['vms']} VMs takes {p['sweep_s']:.1f} s at full speed "
              f"({p['max_calls_per_s']:.0f} calls/s, {p['calls_per_vm']:.1f} per VM); the default budget "
              f"{p['budget']}/s spent {p['budget_calls_per_s']:.1f} calls/s: a sweep of all in "
              f"{p['sweep_at_budget_s'] / 60:.0f} min")


def report_page(page: dict, runs: int) -> None:
    print("(g) the plugin's global view, one array target port down (headless Chromium, median of "
          f"{runs} cold loads; the server had judged the inventory once, in {page['warm_s']:.1f} s):")
    print(f"    first paint {page['first_paint_ms']:.0f} ms, incidents and disk table shown at {page['ready_ms']:.0f} ms "
          f"(target < 1000 ms); {page['kb']:.0f} KB in {page['requests']:.0f} requests (target < 300 KB); "
          f"{page['nodes']:.0f} DOM nodes")
    print(f"    update: change received -> page patched {page['update_ms']:.0f} ms median, {page['update_max_ms']:.0f} ms max "
          f"over {page['updates']} inventory changes; {page['incident_update_ms']:.0f} ms median, "
          f"{page['incident_update_max_ms']:.0f} ms max over {page['incident_updates']} incident changes (the incident "
          "list, timeline and disk rows fetched again) (target < 200 ms)")
    print("    slowest requests of those updates: "
          + ", ".join(f"{r['path']} {r['ms']} ms" for r in page["update_requests"]))
    print(f"    the lab's fault done -> page, through vCenter's watch: {page['fault_to_page_ms']:.0f} ms median; "
          f"-> the port's incident in the service's lifecycle: {page['fault_to_lifecycle_ms']:.0f} ms median, shown "
          f"on the page: {page['fault_to_incident_ms']:.0f} ms median")
    print()


if __name__ == "__main__":
    main()
