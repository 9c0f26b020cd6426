"""`vsguesttruth serve --mode proactive-ha` as an admin runs it, against its own lab (it changes cluster
settings and host modes): the health provider registers, `ha enable` turns Proactive HA on for cl-b (a dry
run first), both FC HBAs of esx-b01 pulled -> red posted at once, vCenter's Proactive HA puts the host in
maintenance mode and DRS moves its VMs (vsguesttruth itself issues no vMotion), the guests' documents say
healthy on their new hosts; restore -> green -> the host leaves maintenance mode; APD on a LUN everywhere
-> no host red; a second instance standing by posts nothing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.automation import soap
from pyVim.connect import Disconnect
from pyVim.task import WaitForTask
from pyVmomi import vim
from test_serve import wait_for

from vsguesttruth import guestinfo
from vsguesttruth.lab import Lab
from vsguesttruth.vcenter import ConnectionSettings, connect, events, snapshot

CLI = str(Path(sys.executable).parent / "vsguesttruth")
CONFIG = """
[remediation]
mode = "proactive-ha"
stable_seconds = 1
cooldown_minutes = 1
"""
POSTED = re.compile(r"Proactive HA: posted (\w+) for ([\w-]+) .*?, ([\d.]+) s after the verdict held")


@pytest.fixture
def env(tmp_path):
    lab = Lab(tmp_path / "lab")
    info = lab.up()
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    environ = {**base, "VSGT_LAB_HOME": str(lab.run_dir), "VSGT_CONFIG": str(config)}
    conn = connect(ConnectionSettings(url=info.url, username=info.username, password=info.password, ca_file=info.cert))
    si = soap(info)
    try:
        yield lab, environ, conn, si, tmp_path
    finally:
        Disconnect(si)
        conn.close()
        lab.down()


def cli(environ, *args):
    done = subprocess.run([CLI, *args, "--lab"], env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def health(lab, host):
    found = lab.topology()["host_health"][host]
    worst = max((u["status"] for u in found["updates"]), key=["green", "yellow", "red"].index, default="")
    return worst, found


def document(inv, name):
    value = inv.vm_by_name(name).guestinfo.get(guestinfo.STATE)
    return guestinfo.decode_state(value) if value else None


def objects(si, kind):
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [kind], True)
    try:
        return {o.name: o for o in view.view}
    finally:
        view.Destroy()


def test_proactive_ha_evacuates_a_host_that_lost_its_paths(env):
    lab, environ, conn, si, tmp_path = env
    hosts = objects(si, vim.HostSystem)
    vms = objects(si, vim.VirtualMachine)
    # util11 lives on esx-b01's local datastore: no host can take it, and an administrator powers it off
    # before maintenance (else the host waits in "entering maintenance mode", as vCenter's does)
    WaitForTask(vms["util11"].PowerOffVM_Task())
    logs = [tmp_path / "active.log", tmp_path / "standby.log"]
    procs = []
    for path in logs:
        with open(path, "w") as out:
            procs.append(subprocess.Popen([CLI, "serve", "--lab", "--no-web", "-v"], env=environ, stdout=out,
                                          stderr=subprocess.STDOUT, text=True))
        if not procs[1:]:  # the first one takes the lease; the second stands by
            wait_for(lambda: "active: publishing" in logs[0].read_text(), 60, "the first instance active")
    try:
        status = wait_for(lambda: json.loads(cli(environ, "ha", "status", "--json")), 30, "ha status")
        wait_for(lambda: health(lab, "esx-b01")[0] == "green", 30, "every host reported green")
        status = json.loads(cli(environ, "ha", "status", "--json"))
        assert status["provider"]["registered"] and status["provider"]["name"] == "com.vsguesttruth.plugin"
        assert status["provider"]["monitored_hosts"] == 7
        assert {h["reported"] for h in status["hosts"]} == {"green"}

        dry = cli(environ, "ha", "enable", "--cluster", "cl-b")
        assert "would change (dry run" in dry and "Proactive HA: off -> on" in dry and "maintenance mode" in dry
        untouched = objects(si, vim.ClusterComputeResource)["cl-b"].configurationEx.infraUpdateHaConfig
        assert untouched is None or not untouched.enabled
        cli(environ, "ha", "enable", "--cluster", "cl-b", "--apply")
        iuha = objects(si, vim.ClusterComputeResource)["cl-b"].configurationEx.infraUpdateHaConfig
        assert (iuha.enabled, iuha.behavior, iuha.moderateRemediation, iuha.severeRemediation) == (
            True, "Automated", "QuarantineMode", "MaintenanceMode")
        assert list(iuha.providers) == [status["provider"]["id"]]

        inv = snapshot(conn)
        on_b01 = sorted(vm.name for vm in inv.vms.values()
                        if vm.host == inv.host_by_name("esx-b01").moref and vm.power_state == "poweredOn")
        assert {"web11", "app11"} <= set(on_b01)
        started = time.monotonic()
        lab.fault("hba", host="esx-b01", hba="vmhba2", state="dead")
        lab.fault("hba", host="esx-b01", hba="vmhba3", state="dead")
        wait_for(lambda: health(lab, "esx-b01")[0] == "red", 20, "esx-b01 reported red")
        red_after = time.monotonic() - started
        wait_for(lambda: hosts["esx-b01"].runtime.inMaintenanceMode, 60, "esx-b01 in maintenance mode")
        evacuated_after = time.monotonic() - started
        _, b01 = health(lab, "esx-b01")
        assert "esx-b01" in b01["updates"][0]["remediation"]

        def told():
            now = snapshot(conn)
            docs = {name: document(now, name) for name in on_b01}
            ok = all(d and d["vm"]["host"] != "esx-b01" and d["verdict"] == "healthy" for d in docs.values())
            return docs if ok else None

        docs = wait_for(told, 30, "the guests told they are healthy on their new hosts")
        assert all("host_evacuation" not in d["vm"] for d in docs.values())
        # vCenter's DRS moved them, not vsguesttruth: its tasks are the system's, no event of ours says moved
        tasks = [t.info for t in si.content.taskManager.recentTask if t.info.descriptionId in
                 ("VirtualMachine.migrate", "Drm.ExecuteVMotionLRO")]
        assert tasks and all(t.descriptionId == "Drm.ExecuteVMotionLRO" and isinstance(t.reason, vim.TaskReasonSystem)
                             for t in tasks)
        drs = si.content.eventManager.QueryEvents(vim.event.EventFilterSpec(eventTypeId=["DrsVmMigratedEvent"]))
        assert sorted({e.vm.name for e in drs}) == on_b01
        for name in on_b01:
            messages = [e.message for e in events.query(conn, vms[name]._moId)]
            assert not any(re.match(r"vsguesttruth: (moving|moved) ", m) for m in messages), messages
        assert any("left to Proactive HA: esx-b01" in e.message for e in events.query(conn, vms["web11"]._moId))

        lab.fault("hba", host="esx-b01", hba="vmhba2", state="ok")
        lab.fault("hba", host="esx-b01", hba="vmhba3", state="ok")
        wait_for(lambda: health(lab, "esx-b01")[0] == "green", 20, "esx-b01 reported green again")
        assert hosts["esx-b01"].runtime.inMaintenanceMode  # an administrator ends maintenance mode
        WaitForTask(hosts["esx-b01"].ExitMaintenanceMode_Task(0))
        time.sleep(1.5)
        assert not hosts["esx-b01"].runtime.inMaintenanceMode  # green: Proactive HA does not put it back

        lab.fault("lun", lun="gold01", state="apd")  # the array's fault, on every host
        time.sleep(4)  # stable_seconds 1, with a wide margin
        assert all(health(lab, h)[0] != "red" for h in hosts)
        assert not any(hosts[h].runtime.inMaintenanceMode or hosts[h].runtime.inQuarantineMode for h in hosts)
        lab.fault("lun", lun="gold01", state="ok")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=30) for proc in procs]
    active, standby = (path.read_text() for path in logs)
    assert codes == [0, 0], active + standby
    posts = POSTED.findall(active)
    red = [float(s) for status, host, s in posts if status == "red" and host == "esx-b01"]
    assert red and max(red) < 1.0, posts  # posted within a second of the verdict
    assert not POSTED.search(standby) and "passive" in standby
    print(f"\nred posted {red[0]:.3f} s after the verdict held ({red_after:.1f} s after the cable pull as the lab "
          f"shows it); esx-b01 evacuated and in maintenance mode {evacuated_after:.1f} s after the pull")


def test_ha_commands_refuse_wrong_input_in_one_line(lab, tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    (tmp_path / "config.toml").write_text("")
    environ = {**base, "VSGT_LAB_HOME": str(lab.run_dir), "VSGT_CONFIG": str(tmp_path / "config.toml")}

    def run(*args):
        return subprocess.run([CLI, "ha", *args, "--lab"], env=environ, capture_output=True, text=True, timeout=60)

    bad = run("enable", "--cluster", "cl-a", "--moderate", "maintenance", "--severe", "quarantine")
    assert bad.returncode == 2 and "a red host must get at least what a yellow one gets" in bad.stderr
    missing = run("enable", "--cluster", "nope")
    assert missing.returncode == 3 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().count("\n") == 0 and "no cluster named 'nope'" in missing.stderr
    assert "cl-a, cl-b" in missing.stderr
    status = json.loads(run("status", "--json").stdout)
    assert [c["name"] for c in status["clusters"]] == ["cl-a", "cl-b"] and len(status["hosts"]) == 7
