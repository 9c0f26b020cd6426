"""Monitoring with the real tools (Debian's `prometheus` package, installed by `make setup`): promtool checks and
unit-tests the alert rules; a real Prometheus (loopback, its own directory and port) scrapes `vsguesttruth serve`'s
/metrics on the lab over HTTPS (the certificate serve made, an API token), a dead array port opens an incident
and VsgtIncidentOpen fires; the Grafana dashboard is well formed and every query in it parses and returns data
from that Prometheus."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from fakes.serve import TOKEN, stop, wait_for

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring" / "prometheus" / "vsguesttruth-rules.yml"
RULE_TESTS = ROOT / "monitoring" / "prometheus" / "vsguesttruth-rules.test.yml"
DASHBOARD = ROOT / "monitoring" / "grafana" / "vsguesttruth-incidents.json"
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: `make setup` installs Debian's prometheus package"
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the artefacts, offline -----------------------------------------------------------------------------

def test_promtool_checks_and_unit_tests_the_rules():
    promtool = tool("promtool")
    check = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS: 7 rules found" in check.stdout, check.stdout + check.stderr
    tested = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent, capture_output=True,
                            text=True)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def dashboard_queries() -> list[tuple[str, str]]:
    doc = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in doc["panels"] for t in p.get("targets", [])]


def test_the_dashboard_is_a_well_formed_grafana_dashboard():
    doc = json.loads(DASHBOARD.read_text())
    assert doc["uid"] and doc["title"] and isinstance(doc["schemaVersion"], int) and doc["panels"]
    assert [i["name"] for i in doc["__inputs"]] == ["DS_PROMETHEUS"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in doc["panels"]:
        assert p["type"] in ("stat", "timeseries", "table") and p["title"] and p["description"]
        assert p["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"panel {p['title']!r} overlaps another"
        cells |= mine
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)) and all(t["expr"].strip() for t in p["targets"])
    titles = {p["title"] for p in doc["panels"]}
    assert {"Open incidents", "Disks by verdict", "Watch lag", "Migrations"} <= titles


# -- a real Prometheus on the lab -----------------------------------------------------------------------

def api(base: str, path: str, **params) -> dict:
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.fixture
def prometheus(serving, lab, tmp_path):
    """A Prometheus of its own (loopback, its own directory and port) scraping serve every second, with the rules."""
    port = free_port()
    target = serving.removeprefix("https://")
    token = tmp_path / "prometheus-token"
    token.write_text(TOKEN)
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{
            "job_name": "vsguesttruth", "scheme": "https", "metrics_path": "/metrics",
            "tls_config": {"ca_file": str(Path(lab.run_dir) / "web-cert.pem")},
            "authorization": {"type": "Bearer", "credentials_file": str(token)},
            "static_configs": [{"targets": [target]}],
        }],
    }))
    log = tmp_path / "prometheus.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as answer:
                    return answer.status == 200
            except OSError:
                return False

        wait_for(ready, 60, "Prometheus to be ready")
        yield base
    finally:
        stop(proc)


def test_a_dead_array_port_fires_the_incident_alert_and_the_dashboard_has_data(lab, prometheus):
    def scraped() -> bool:
        result = api(prometheus, "/api/v1/query", query='up{job="vsguesttruth"}')["data"]["result"]
        return bool(result) and result[0]["value"][1] == "1"

    wait_for(scraped, 60, "Prometheus to scrape serve's /metrics over HTTPS with the token")
    wait_for(lambda: api(prometheus, "/api/v1/query", query="vsguesttruth_spof_findings")["data"]["result"], 30,
             "the incident and audit families")
    port = next(t for t in lab.topology()["targets"] if t["name"] == "A-ctl0-p0")
    lab.fault("target", target="A-ctl0-p0", state="dead")

    def firing() -> list[dict]:
        alerts = api(prometheus, "/api/v1/alerts")["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "VsgtIncidentOpen" and a["state"] == "firing"]

    [alert] = wait_for(firing, 90, "VsgtIncidentOpen to fire")
    labels = alert["labels"]
    assert labels["kind"] == "target" and labels["cause"] == "dead" and port["wwpn"] in labels["component"]
    assert labels["severity"] == "warning" and labels["id"].startswith("target-")
    hosts = api(prometheus, "/api/v1/query", query=f'vsguesttruth_incident_host{{id="{labels["id"]}"}}')["data"]["result"]
    assert sorted(r["metric"]["host_name"] for r in hosts) == ["esx-a01", "esx-a02", "esx-a03", "esx-b01", "esx-b02",
                                                               "esx-b03"]
    for title, expr in dashboard_queries():
        for name, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(name, value)
        answer = api(prometheus, "/api/v1/query", query=expr)
        assert answer["status"] == "success", (title, expr, answer)
        assert answer["data"]["result"], f"panel {title!r}: {expr} returns no data"


def test_the_metrics_need_the_token(serving, lab):
    context = ssl.create_default_context(cafile=str(Path(lab.run_dir) / "web-cert.pem"))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{serving}/metrics", context=context, timeout=10)
    assert refused.value.code == 401
    request = urllib.request.Request(f"{serving}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, context=context, timeout=10) as answer:
        assert b"vsguesttruth_incidents_open" in answer.read()
