"""Root cause first, on the lab as an admin meets it: one dead array port is one incident with its 6 hosts and its
VMs in the CLI, the service's JSON API, its /metrics and the guests' state documents; the audit finds the
topology's deliberate single points of failure (edge01 on fabric A only, esx-b04 cabled by one HBA)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from fakes.serve import CLI, fetch, get_json, ready_json, wait_for
from vsguesttruth.guestinfo import STATE, decode_state
from vsguesttruth.vcenter import read_guestinfo, snapshot

PORT = "A-ctl0-p0"  # array A, controller 0, port 0: on fabric A, zoned to the six hosts of both clusters
SIX = ["esx-a01", "esx-a02", "esx-a03", "esx-b01", "esx-b02", "esx-b03"]


def run(lab, *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    return subprocess.run([CLI, *args, "--lab"], env={**base, "VSGT_LAB_HOME": str(lab.run_dir)},
                          capture_output=True, text=True, timeout=120)


def cafile(lab) -> str:
    return str(Path(lab.run_dir) / "web-cert.pem")


def samples(text: str, name: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def test_a_dead_array_port_is_one_incident_in_the_cli_the_api_the_metrics_and_the_guests(clean, lab, conn, serving):
    wanted = lab.topology()
    wwpn = next(t["wwpn"] for t in wanted["targets"] if t["name"] == PORT)
    wait_for(lambda: (ready_json(serving, "/api/v1/incidents", cafile(lab)) or {"counts": {"open": 1}})["counts"]["open"]
             == 0, 60, "the service's first pass")
    lab.fault("target", target=PORT, state="dead")

    # the CLI reading vCenter: one incident, the port by its WWPN, its six hosts, exit 1 while open
    result = run(lab, "incidents", "--open", "--json", "--snapshot")
    assert result.returncode == 1, result.stderr
    [cli] = json.loads(result.stdout)["incidents"]
    assert cli["kind"] == "target" and cli["key"] == f"target:{wwpn}" and cli["hosts"] == SIX
    assert cli["host_count"] == 6 and cli["line"].startswith(f"target {wwpn} dead on 6 hosts")
    assert cli["since_from"] == "events"  # dated by the hosts' esx.problem.storage events
    vms = set(cli["vms"])
    assert {"web01", "app12", "log12"} <= vms and "file01" not in vms  # NFS and local disks are not behind it
    assert all(h["verdict"] == "degraded" for h in cli["hits"]) and len(cli["hits"]) == cli["disk_count"]
    text = run(lab, "incidents", "--open", "--snapshot").stdout
    assert f"{len(vms)} VMs hit" in text and ", ".join(SIX) in text

    # the service's JSON API: the same incident (the same id: both start it at the hosts' first event)
    def api_open() -> list:
        return get_json(serving, "/api/v1/incidents", cafile(lab), state="open")["items"]

    [row] = wait_for(api_open, 60, "the service to open the incident")
    assert (row["id"], row["kind"], row["hosts"], set(row["vms"])) == (cli["id"], "target", SIX, vms)
    detail = get_json(serving, f"/api/v1/incidents/{row['id']}", cafile(lab))
    assert {(h["vm"], h["key"]) for h in detail["hits"]} == {(h["vm"], h["key"]) for h in cli["hits"]}
    assert all(h["verdict_when_hit"] == "degraded" for h in detail["hits"])
    assert [h["name"] for h in detail["host_list"]] == SIX and detail["evidence_total"] == cli["evidence"]
    served = run(lab, "incidents", "--open", "--json")  # the CLI asks the service now: the same incident
    assert served.returncode == 1 and "asked the vsguesttruth service" in served.stderr, served.stderr
    [same] = json.loads(served.stdout)["incidents"]
    assert (same["id"], same["hosts"], set(same["vms"])) == (cli["id"], SIX, vms)
    assert {(h["vm"], h["key"]) for h in same["hits"]} == {(h["vm"], h["key"]) for h in cli["hits"]}
    status = run(lab, "status")
    assert status.stdout.lstrip().startswith("ID") and cli["id"] in status.stdout.split("\n\n")[0]

    # /metrics: the open incident by kind, its hosts with vmware_exporter's label names, its disks
    metrics = fetch(serving, "/metrics", cafile(lab)).decode()
    assert [s.value for s in samples(metrics, "vsguesttruth_incidents_open") if s.labels["kind"] == "target"] == [1]
    hosts = [s for s in samples(metrics, "vsguesttruth_incident_host") if s.labels["id"] == cli["id"]]
    assert sorted(s.labels["host_name"] for s in hosts) == SIX
    assert {s.labels["cluster_name"] for s in hosts} == {"cl-a", "cl-b"}
    assert [s.value for s in samples(metrics, "vsguesttruth_incident_disks") if s.labels["id"] == cli["id"]] == \
        [cli["disk_count"]]
    assert {s.labels["vm_name"] for s in samples(metrics, "vsguesttruth_incident_vm") if s.labels["id"] == cli["id"]} \
        == vms

    # the guests' documents: each disk the port hits names the incident behind its verdict
    inv = snapshot(conn)
    hit = {(h["vm"], h["disk"]) for h in cli["hits"]}  # a guest's document names its disks by label

    def documents() -> dict:
        docs = {}
        for name in vms:
            raw = read_guestinfo(conn, inv.vm_by_name(name).moref).get(STATE)
            doc = decode_state(raw) if raw else None
            if doc is None or not any(d.get("incidents") for d in doc["disks"]):
                return {}
            docs[name] = doc
        return docs

    for name, doc in wait_for(documents, 60, "the guests' documents to name the incident").items():
        for disk in doc["disks"]:
            assert disk.get("incidents", []) == ([cli["id"]] if (name, disk["label"]) in hit else []), (name, disk)
    file01 = decode_state(read_guestinfo(conn, inv.vm_by_name("file01").moref)[STATE])
    assert not any(d.get("incidents") for d in file01["disks"])

    # restored: resolved everywhere
    lab.fault("target", target=PORT, state="ok")
    wait_for(lambda: not api_open(), 60, "the incident to resolve")
    resolved = get_json(serving, "/api/v1/incidents", cafile(lab), state="resolved")["items"]
    assert [r["id"] for r in resolved] == [cli["id"]] and resolved[0]["resolved_at"]
    # the whole day's timeline: opened, then resolved (the service's moves of an earlier test just before this
    # fault may be on it too: actions are matched to an incident with a minute's slack for clock skew)
    timeline = get_json(serving, "/api/v1/incidents/timeline", cafile(lab), limit=2000)["items"]
    mine = [t["kind"] for t in timeline if t["incident"] == cli["id"]]
    assert "opened" in mine and "resolved" in mine and mine.index("opened") < mine.index("resolved"), mine
    result = run(lab, "incidents", "--open", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["incidents"] == []


def test_the_audit_finds_the_labs_deliberate_single_points_of_failure(lab, serving):
    wait_for(lambda: ready_json(serving, "/api/v1/audit", cafile(lab)), 60, "the service's first pass")
    result = run(lab, "audit", "--json")
    assert result.returncode == 1, result.stderr  # findings: exit 1
    found = {f["kind"]: f for f in json.loads(result.stdout)["findings"]}
    # edge01 (ds-edge, under log12) is masked to fabric A's ports: one fabric, one HBA of its host
    assert found["single_fabric"]["key"] == "fabric:A" and found["single_fabric"]["vms"] == ["log12"]
    assert found["single_hba"]["component"] == "vmhba2 on esx-b02" and found["single_hba"]["vms"] == ["log12"]
    # ... and not presented to esx-b04, where log12 could run
    assert found["presentation"]["hosts"] == ["esx-b04"] and found["presentation"]["datastores"] == ["ds-edge"]
    # esx-b04 is cabled by one HBA: half its peers' paths to every LUN they share
    assert found["path_drift"]["component"] == "esx-b04 in cl-b"
    assert set(found) == {"single_fabric", "single_hba", "presentation", "path_drift"}
    text = run(lab, "audit").stdout
    assert "fabric A" in text and "esx-b04" in text

    api = get_json(serving, "/api/v1/audit", cafile(lab))
    assert {(f["kind"], f["key"]) for f in api["items"]} == {(f["kind"], f["key"]) for f in found.values()}
    assert {kind: n for kind, n in api["counts"].items() if n} == {kind: 1 for kind in found}
    assert [f["kind"] for f in get_json(serving, "/api/v1/audit", cafile(lab), kind="path_drift")["items"]] == \
        ["path_drift"]
    metrics = fetch(serving, "/metrics", cafile(lab)).decode()
    assert {s.labels["kind"]: s.value for s in samples(metrics, "vsguesttruth_spof_findings") if s.value} == \
        {kind: 1 for kind in found}
    exposed = {(s.labels["kind"], s.labels["cluster_name"]): s.value for s in samples(metrics, "vsguesttruth_spof_disks")}
    assert exposed[("single_fabric", "cl-b")] == 1  # log12's disk, with vmware_exporter's cluster label
