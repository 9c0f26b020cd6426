"""What the plugin's global view costs a browser: bytes transferred (compressed, as on the wire), DOM nodes,
and the time until its disk table (or, for older pages, its verdict counts) shows, in headless Chromium.

Starts a lab (``--hosts``/``--vms``, default the small one), injects one target-port fault, serves the app of
the ``vsguesttruth`` on ``sys.path`` (run it with ``PYTHONPATH=`` another checkout to compare versions) and loads
``/ui/global.html`` ``--runs`` times in fresh browser contexts (no cache)::

    .venv/bin/python scripts/page_weight.py [--hosts 6 --vms 20] [--runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from vsguesttruth.lab import Lab
from vsguesttruth.vcenter import ConnectionSettings, connect
from vsguesttruth.web import Auth, TokenStore, WatcherSource, WebServer, create_app, self_signed

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
TOKEN = "page-weight-token-0123456789"
READY = "#disks-table tbody tr, #counts"  # this version's disk table, or an older page's verdict counts


def measure(url: str, runs: int) -> dict:
    figures: dict[str, list[float]] = {"kb": [], "nodes": [], "requests": [], "ready_s": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for _ in range(runs):
            context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            done: list[float] = []
            cdp.on("Network.loadingFinished", lambda e: done.append(e["encodedDataLength"]))
            start = time.monotonic()
            page.goto(f"{url}/ui/global.html#token={TOKEN}")
            page.wait_for_selector(READY, timeout=60_000)
            figures["ready_s"].append(time.monotonic() - start)
            page.wait_for_timeout(2000)  # what the page loads after its first paint (the long poll stays open)
            figures["kb"].append(sum(done) / 1024)
            figures["requests"].append(len(done))
            figures["nodes"].append(page.evaluate("document.getElementsByTagName('*').length"))
            context.close()
        browser.close()
    return {k: round(statistics.median(v), 2) for k, v in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=0, help="lab hosts (0: the default topology)")
    parser.add_argument("--vms", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(Path(tmp) / "lab")
        extra = {"hosts": args.hosts, "vms": args.vms} if args.hosts else {}
        info = lab.up(**extra)
        source = server = None
        try:
            settings = ConnectionSettings(url=info.url, username=info.username, password=info.password, ca_file=info.cert)
            lab.fault("target", target="A-ctl0-p0", state="dead")  # one array port (or its switch port) down
            source = WatcherSource(lambda: connect(settings)).start()
            source.wait_version(0, 600)
            source.wait_version(1, 5)
            cert, key = self_signed(Path(tmp))
            server = WebServer(create_app(source, Auth(TokenStore({TOKEN: ("bench", "read")}))), "127.0.0.1", 0,
                               cert_file=cert, key_file=key).start()
            figures = {"hosts": info.hosts, "vms": info.vms, **measure(server.url, args.runs)}
        finally:
            if server is not None:
                server.stop()
            if source is not None:
                source.stop()
            lab.down()
    print(f"global view, {figures['hosts']} hosts / {figures['vms']} VMs, one target port down: "
          f"{figures['kb']:.0f} KB transferred in {figures['requests']:.0f} requests, {figures['nodes']:.0f} DOM nodes, "
          f"ready in {figures['ready_s']:.2f} s (median of {args.runs})")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
