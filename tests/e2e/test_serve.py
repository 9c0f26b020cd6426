"""`vsguesttruth serve` as an admin runs it: publish, remediate in auto mode, serve the plugin, stop cleanly.

The whole product in one process against the lab (on esx-b01, so that no other test's moves put these VMs
in their cooldown): a cable pull on both FC HBAs of esx-b01 -> the affected
VMs are live-migrated to healthy hosts, their guestinfo state document says healthy on the new host, every
move is a vCenter event, the plugin API refuses anonymous calls, and SIGTERM stops it with exit 0.
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from fakes.serve import wait_for
from vsguesttruth import guestinfo
from vsguesttruth.vcenter import events, snapshot

CLI = str(Path(sys.executable).parent / "vsguesttruth")
CONFIG = """
[remediation]
stable_seconds = 1
cooldown_minutes = 1
"""


def state_of(inv, name):
    vm = inv.vm_by_name(name)
    value = vm.guestinfo.get(guestinfo.STATE)
    return guestinfo.decode_state(value) if value else None


def test_serve_moves_affected_vms_and_tells_their_guests(lab, conn, placement, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    env = {**base, "VSGT_LAB_HOME": str(lab.run_dir), "VSGT_CONFIG": str(config)}
    out = tmp_path / "serve.log"
    with open(out, "w") as log:
        proc = subprocess.Popen([CLI, "serve", "--lab", "--mode", "auto", "--port", "0"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        def published_now():  # earlier tests may have left web11 a document: wait for the current truth
            doc = state_of(snapshot(conn), "web11")
            return doc if doc and doc["verdict"] == "healthy" and doc["vm"]["host"] == "esx-b01" else None

        first = wait_for(published_now, 30, "the first publish")
        affected = [vm.name for vm in snapshot(conn).vms.values()
                    if vm.host == placement.host_by_name("esx-b01").moref and any(d.backing == "vmdk" for d in vm.disks)]

        lab.fault("hba", host="esx-b01", hba="vmhba2", state="dead")
        lab.fault("hba", host="esx-b01", hba="vmhba3", state="dead")

        def moved_and_told():
            inv = snapshot(conn)
            doc = state_of(inv, "web11")
            ok = doc and doc["vm"]["host"] != "esx-b01" and doc["verdict"] == "healthy"
            return inv if ok else None

        inv = wait_for(moved_and_told, 60, "web11 moved and its guest told")
        web11 = inv.vm_by_name("web11")
        assert inv.hosts[web11.host].name != "esx-b01"
        doc = state_of(inv, "web11")
        assert doc["generation"] > first["generation"]
        assert all(d["verdict"] == "healthy" for d in doc["disks"])
        messages = [e.message for e in events.query(conn, web11.moref)]
        assert any("moved web11 from esx-b01" in m for m in messages), messages
        # VMs on local or NFS storage had no reason to move; SAN VMs all left esx-b01
        still = [vm.name for vm in inv.vms.values() if vm.host == placement.host_by_name("esx-b01").moref]
        assert "web11" not in still and "app11" not in still
        assert set(affected) - set(still) >= {"web11", "app11"}

        text = out.read_text()
        assert "#token=" not in text  # the write token is not in the output (nor the log it may go to)
        saved = lab.run_dir / "web-ui-url"
        assert saved.stat().st_mode & 0o077 == 0 and str(saved) in text
        url = re.search(r"(https://127\.0\.0\.1:\d+)/ui/global\.html#token=([\w-]+)", saved.read_text())
        assert url, saved.read_text()
        context = ssl.create_default_context(cafile=str(lab.run_dir / "web-cert.pem"))  # the lab's self-signed one
        try:
            urllib.request.urlopen(url.group(1) + "/api/v1/plan", context=context, timeout=10)
            raise AssertionError("anonymous API call was served")
        except urllib.error.HTTPError as err:
            assert err.code == 401
        request = urllib.request.Request(url.group(1) + "/api/v1/plan",
                                         headers={"Authorization": f"Bearer {url.group(2)}"})
        plan = json.loads(urllib.request.urlopen(request, context=context, timeout=10).read())
        assert plan["mode"] == "auto" and "moves" in plan
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, out.read_text()
    assert "stopped after" in out.read_text()
