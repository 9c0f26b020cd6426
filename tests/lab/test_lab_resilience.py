"""The lab's vCenter as the reliability suite breaks it (lab/README.md, "Restart, tasks, sessions, users").

Kill and restart keep what vCenter keeps in its database (extraConfig, placement, events, extensions,
custom attributes) and the SAN's faults, lose sessions and running tasks, and come back on the same
port with the same certificate and morefs; migrations can be slow, stuck or failing; sessions can be
ended; a read-only user is refused what its role does not allow. Everything through real SOAP with
pyVmomi. Tests that kill, restart or end sessions run their own lab, so the session lab stays usable.
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

from vsguesttruth.lab import Lab, LabError

pytestmark = pytest.mark.lab

PC = vmodl.query.PropertyCollector
GOLD_PATH = "vmhba2:C0:T0:L1"  # gold01 through A-ctl0-p0 on esx-a01: active


# -- helpers ------------------------------------------------------------------------------------

def connect(info, user: str | None = None, password: str | None = None):
    url = urlparse(info.url)
    return SmartConnect(host=url.hostname, port=url.port, user=user or info.username, pwd=password or info.password,
                        sslContext=ssl.create_default_context(cafile=info.cert), disableSslCertValidation=False)


def objects(si, kind) -> dict:
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    try:
        return {o.name: o for o in view.view}
    finally:
        view.Destroy()


def morefs(si) -> dict:
    content = si.RetrieveContent()
    out = {}
    for kind in (vim.HostSystem, vim.VirtualMachine, vim.Datastore, vim.ResourcePool, vim.ClusterComputeResource):
        view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
        out[kind.__name__] = sorted((o.name, o._moId) for o in view.view)
        view.Destroy()
    return out


def ctl(lab) -> Lab:
    """The session lab's control (tests/conftest.py's RunningLab has faults and restore only)."""
    return Lab(lab.run_dir)


def target_host(vm):
    """Another connected host of the VM's cluster that mounts every datastore of the VM."""
    for host in sorted(vm.runtime.host.parent.host, key=lambda h: h.name):
        if host != vm.runtime.host and all(
                any(m.key == host and m.mountInfo.accessible for m in ds.host) for ds in vm.datastore):
            return host
    pytest.skip(f"no migration target for {vm.name}")


def simple_vm(si, name: str = "web01"):
    return objects(si, vim.VirtualMachine)[name]


def migrate(vm, host):
    return vm.MigrateVM_Task(host=host, priority=vim.VirtualMachine.MovePriority.defaultPriority)


def wait_task(task, until, timeout: float = 10.0):
    """Poll task.info until until(info) holds; return the info."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = task.info
        if until(info):
            return info
        time.sleep(0.05)
    raise AssertionError(f"task {task._moId} never reached the state wanted: {task.info.state}")


def done(info) -> bool:
    return info.state in ("success", "error")


def events_of(si, entity) -> dict:
    spec = vim.event.EventFilterSpec(entity=vim.event.EventFilterSpec.ByEntity(entity=entity, recursion="self"))
    return {e.key: (type(e).__name__, e.createdTime, e.userName, e.fullFormattedMessage)
            for e in si.content.eventManager.QueryEvents(spec)}


def path_state(si, host_name: str, path: str) -> str:
    host = objects(si, vim.HostSystem)[host_name]
    for lun in host.config.storageDevice.multipathInfo.lun:
        for p in lun.path:
            if p.name == path:
                return p.state
    raise LookupError(path)


def on_host(si, vm_name: str) -> str:
    """The VM's host, checked against host.vm of every host (exactly one lists it)."""
    vm = simple_vm(si, vm_name)
    listing = [h.name for h in objects(si, vim.HostSystem).values() if vm in h.vm]
    assert listing == [vm.runtime.host.name], f"runtime.host and host.vm disagree for {vm_name}: {listing}"
    return vm.runtime.host.name


def control(info, method: str, path: str, body=None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(info.control + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def own_lab(tmp_path):
    """A lab of the test's own, to kill, restart and expire without disturbing the session lab."""
    lab = Lab(tmp_path / "lab")
    lab.up(timing=False)
    try:
        yield lab
    finally:
        lab.down()


# -- kill and restart ---------------------------------------------------------------------------

def test_kill_and_restart_keeps_vcenter_state(own_lab):
    info = own_lab.info()
    si = connect(info)
    ids = morefs(si)
    vm, moved = simple_vm(si, "web01"), simple_vm(si, "web02")
    source = moved.runtime.host.name
    WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key="guestinfo.vsgt-test.kept", value="yes")])))
    WaitForTask(migrate(moved, target_host(moved)))
    destination = on_host(si, "web02")
    assert destination != source
    own_lab.fault("path", host="esx-a01", path=GOLD_PATH, state="dead")
    si.content.eventManager.LogUserEvent(entity=vm, msg="logged before the crash")
    history = events_of(si, vm)
    fields = si.content.customFieldsManager
    field = fields.AddCustomFieldDef(name="vsgt.scope", moType=vim.VirtualMachine)
    fields.SetField(entity=vm, key=field.key, value="first")
    fields.SetField(entity=vm, key=field.key, value="in-scope")
    si.content.extensionManager.RegisterExtension(vim.Extension(
        key="com.example.kept", version="1.0", description=vim.Description(label="kept", summary="kept"),
        lastHeartbeatTime=datetime.datetime.now(datetime.timezone.utc)))
    csm = si.content.customizationSpecManager
    csm.CreateCustomizationSpec(vim.CustomizationSpecItem(
        info=vim.CustomizationSpecInfo(name="vsgt-kept", description="kept", type="Linux"),
        spec=vim.vm.customization.Specification(
            identity=vim.vm.customization.LinuxPrep(hostName=vim.vm.customization.FixedName(name="x"), domain="t"),
            globalIPSettings=vim.vm.customization.GlobalIPSettings())))
    spec = csm.GetCustomizationSpec("vsgt-kept")
    own_lab.task_mode("hang")
    running = migrate(vm, target_host(vm))  # in flight when vCenter dies
    wait_task(running, lambda i: i.state == "running")

    restarted = own_lab.restart()

    assert (restarted.url, restarted.control, restarted.thumbprint, restarted.cert) == \
        (info.url, info.control, info.thumbprint, info.cert)
    assert restarted.pid != info.pid and restarted.replayed > 0
    si._stub.DropConnections()  # the old keep-alive connection died with the process
    with pytest.raises(vim.fault.NotAuthenticated):
        si.content.sessionManager.currentSession.key  # noqa: B018 - a session of the old process
    si2 = connect(restarted)
    try:
        assert morefs(si2) == ids
        vm2 = simple_vm(si2, "web01")
        assert {o.key: o.value for o in vm2.config.extraConfig}.get("guestinfo.vsgt-test.kept") == "yes"
        assert on_host(si2, "web02") == destination
        assert on_host(si2, "web01") == "esx-a01"  # the migration in flight never happened
        assert path_state(si2, "esx-a01", GOLD_PATH) == "dead"
        assert events_of(si2, vm2) == history
        field2 = next(f for f in si2.content.customFieldsManager.field if f.name == "vsgt.scope")
        assert field2.key == field.key
        assert [(v.key, v.value) for v in vm2.customValue] == [(field.key, "in-scope")]
        assert si2.content.extensionManager.FindExtension("com.example.kept").version == "1.0"
        kept = si2.content.customizationSpecManager.GetCustomizationSpec("vsgt-kept")
        assert (kept.info.description, kept.info.changeVersion) == ("kept", spec.info.changeVersion)
        assert isinstance(kept.spec.identity, vim.vm.customization.LinuxPrep)
        with pytest.raises(vmodl.fault.ManagedObjectNotFound):
            vim.Task(running._moId, si2._stub).info  # noqa: B018 - the running task is gone
        assert own_lab.tasks()["mode"] == "hang"  # the injected condition stays, like a fault
        # the lab goes on: a new task gets a new moref, never the old one's
        own_lab.task_mode("normal")
        task = migrate(simple_vm(si2, "web02"), objects(si2, vim.HostSystem)[source])
        WaitForTask(task)
        assert task._moId != running._moId
        assert on_host(si2, "web02") == source
    finally:
        Disconnect(si2)
    assert "replayed" in own_lab.log_file.read_text()


def test_slow_migration_killed_midway_leaves_the_vm(own_lab):
    si = connect(own_lab.info())
    vm = simple_vm(si, "db02")
    source = on_host(si, "db02")
    own_lab.task_mode("slow", duration_ms=5000)
    task = migrate(vm, target_host(vm))
    info = wait_task(task, lambda i: i.state == "running" and (i.progress or 0) > 0)
    assert info.cancelable and 0 < info.progress < 100
    restarted = own_lab.restart(kill=True)
    si2 = connect(restarted)
    try:
        assert on_host(si2, "db02") == source
        assert own_lab.tasks()["running"] == []
    finally:
        Disconnect(si2)


def test_graceful_restart_with_the_port_closed_meanwhile(own_lab):
    info = own_lab.info()
    si = connect(info)
    WaitForTask(simple_vm(si, "app01").ReconfigVM_Task(vim.vm.ConfigSpec(
        extraConfig=[vim.option.OptionValue(key="guestinfo.vsgt-test.graceful", value="1")])))
    Disconnect(si)
    port = urlparse(info.url).port
    result = {}
    thread = threading.Thread(target=lambda: result.update(info=own_lab.restart(down_s=1.5, kill=False)))
    thread.start()
    try:
        time.sleep(0.7)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        thread.join(30)
    restarted = result["info"]
    assert (restarted.url, restarted.thumbprint) == (info.url, info.thumbprint)
    si2 = connect(restarted)
    try:
        vm = simple_vm(si2, "app01")
        assert {o.key: o.value for o in vm.config.extraConfig}["guestinfo.vsgt-test.graceful"] == "1"
    finally:
        Disconnect(si2)


def test_restart_binds_its_port_with_connections_in_time_wait(own_lab):
    info = own_lab.info()
    port = urlparse(info.url).port
    context = ssl.create_default_context(cafile=info.cert)
    for _ in range(10):  # the server closes first: its side of each connection stays in TIME_WAIT
        with context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /about HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            while s.recv(65536):
                pass
    restarted = own_lab.restart()
    assert restarted.url == info.url and restarted.control == info.control


def test_kill_keeps_the_run_directory_until_down(tmp_path):
    lab = Lab(tmp_path / "lab")
    lab.up(timing=False)
    try:
        assert lab.kill() is True
        assert lab.info() is None and lab.kill() is False
        assert lab.journal_file.exists() and lab.args_file.exists() and (lab.run_dir / "tls" / "cert.pem").exists()
        assert lab.restart().pid > 0
    finally:
        lab.down()
    assert not lab.run_dir.exists()
    with pytest.raises(LabError, match="no lab to restart"):
        lab.restart()


# -- task modes ---------------------------------------------------------------------------------

def test_slow_migration_reports_progress_then_moves(lab, si):
    vm = simple_vm(si, "web03")
    source = vm.runtime.host
    ctl(lab).task_mode("slow", duration_ms=1200)
    task = migrate(vm, target_host(vm))
    seen = set()
    info = wait_task(task, lambda i: (seen.add(i.progress) if i.state == "running" else None) or done(i))
    assert info.state == "success"
    assert any(p and 0 < p < 100 for p in seen)
    assert vm.runtime.host != source
    lab.restore()
    WaitForTask(migrate(vm, source))
    assert vm.runtime.host == source


def test_hang_until_cancel_task(lab, si):
    vm = simple_vm(si, "web12")
    source = vm.runtime.host
    ctl(lab).task_mode("hang")
    task = migrate(vm, target_host(vm))
    info = wait_task(task, lambda i: i.state == "running" and i.progress == 42)
    assert info.cancelable
    time.sleep(0.3)
    assert task.info.state == "running" and task.info.progress == 42
    second = migrate(vm, target_host(vm))  # vCenter: one migration of a VM at a time
    with pytest.raises(vim.fault.TaskInProgress):
        WaitForTask(second)
    task.CancelTask()
    info = wait_task(task, done)
    assert info.state == "error" and info.cancelled
    assert isinstance(info.error, vmodl.fault.RequestCanceled)
    assert info.error.msg == "The task was canceled by a user."
    assert vm.runtime.host == source
    with pytest.raises(vim.fault.InvalidState):
        task.CancelTask()  # completed


def test_fail_mode_fails_the_migration(lab, si):
    vm = simple_vm(si, "web12")
    source = vm.runtime.host
    ctl(lab).task_mode("fail", duration_ms=200, message="Migration failed: injected by the test.")
    task = migrate(vm, target_host(vm))
    info = wait_task(task, done)
    assert info.state == "error"
    assert isinstance(info.error, vim.fault.GenericVmConfigFault)
    assert info.error.msg == "Migration failed: injected by the test."
    assert vm.runtime.host == source
    ctl(lab).task_mode("fail")
    with pytest.raises(vim.fault.GenericVmConfigFault, match="destination failed to resume"):
        WaitForTask(migrate(vm, target_host(vm)))
    assert vm.runtime.host == source
    assert lab.restore() and ctl(lab).tasks()["mode"] == "normal"


@pytest.mark.parametrize("body,needle", [
    ({"mode": "sluggish"}, "unknown mode"),
    ({"mode": "slow", "speed": 3}, "unknown field 'speed'"),
    ({"mode": "slow", "duration_ms": 600001}, "duration_ms"),
    ({"mode": "slow", "duration_ms": -1}, "duration_ms"),
    ({"mode": "slow", "duration_ms": 1.5}, "integer"),
    ({"mode": "hang", "duration_ms": 10}, "does not apply"),
    ({"mode": "slow", "message": "x"}, "fail only"),
    ({"duration_ms": 10}, "missing 'mode'"),
    (b"[1]", "JSON object"),
])
def test_task_mode_is_validated(lab, body, needle):
    status, answer = control(lab.info, "POST", "/v1/tasks", body)
    assert status == 400 and needle in answer["error"]
    assert control(lab.info, "GET", "/v1/tasks") == (200, {"mode": "normal", "duration_ms": 0, "running": []})


# -- sessions -----------------------------------------------------------------------------------

def test_expired_sessions_are_not_authenticated(own_lab):
    info = own_lab.info()
    si, other = connect(info), connect(info)
    pc = other.content.propertyCollector.CreatePropertyCollector()
    vm = simple_vm(other, "web01")
    pc.CreateFilter(PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=vm)],
                                  propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=["name"])]), True)
    version = pc.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=0)).version
    waited = {}

    def wait():
        start = time.monotonic()
        try:
            pc.WaitForUpdatesEx(version, PC.WaitOptions(maxWaitSeconds=30))
        except Exception as exc:  # noqa: BLE001 - the fault is what we look at
            waited["fault"] = exc
        waited["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)
    assert own_lab.expire_sessions() >= 2
    thread.join(10)
    assert isinstance(waited.get("fault"), vim.fault.NotAuthenticated) and waited["seconds"] < 5
    with pytest.raises(vim.fault.NotAuthenticated):
        si.content.sessionManager.currentSession.key  # noqa: B018
    with pytest.raises(vim.fault.NotAuthenticated):
        si.content.eventManager.QueryEvents(vim.event.EventFilterSpec())
    fresh = connect(info)  # logging in again works
    try:
        assert fresh.content.sessionManager.currentSession.userName == info.username
        logouts = fresh.content.eventManager.QueryEvents(vim.event.EventFilterSpec(eventTypeId=["UserLogoutSessionEvent"]))
        assert len(logouts) >= 2
    finally:
        Disconnect(fresh)


# -- the read-only user -------------------------------------------------------------------------

def test_readonly_user_reads_but_may_not_change(lab, si):
    info = lab.info
    assert (info.readonly_username, info.readonly_password) == ("readonly", "readonly")
    with pytest.raises(vim.fault.InvalidLogin):
        connect(info, info.readonly_username, "wrong")
    ro = connect(info, info.readonly_username, info.readonly_password)
    try:
        session = ro.content.sessionManager.currentSession
        assert session.userName == "readonly"
        vm = simple_vm(ro, "web01")
        assert vm.runtime.host.name and vm.config.extraConfig is not None  # reads everything

        with pytest.raises(vim.fault.NoPermission) as denied:
            vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key="guestinfo.x", value="1")]))
        assert denied.value.privilegeId == "VirtualMachine.Config.AdvancedConfig"
        assert denied.value.object._moId == vm._moId
        with pytest.raises(vim.fault.NoPermission) as denied:
            migrate(vm, target_host(vm))
        assert denied.value.privilegeId == "Resource.HotMigrate"
        with pytest.raises(vim.fault.NoPermission) as denied:
            vm.RelocateVM_Task(vim.vm.RelocateSpec(host=target_host(vm)))
        assert denied.value.privilegeId == "Resource.ColdMigrate"
        with pytest.raises(vim.fault.NoPermission) as denied:
            ro.content.eventManager.LogUserEvent(entity=vm, msg="not allowed")
        assert denied.value.privilegeId == "Global.LogEvent"
        fields = ro.content.customFieldsManager
        with pytest.raises(vim.fault.NoPermission) as denied:
            fields.AddCustomFieldDef(name="vsgt.ro", moType=vim.VirtualMachine)
        assert denied.value.privilegeId == "Global.ManageCustomFields"
        with pytest.raises(vim.fault.NoPermission) as denied:
            ro.content.extensionManager.UnregisterExtension("com.example.none")
        assert denied.value.privilegeId == "Extension.Unregister"
        with pytest.raises(vim.fault.NoPermission) as denied:
            ro.content.customizationSpecManager.GetCustomizationSpec("vsguesttruth-lease")
        assert denied.value.privilegeId == "VirtualMachine.Provisioning.ReadCustSpecs"
        host = objects(ro, vim.HostSystem)["esx-a01"]
        with pytest.raises(vim.fault.NoPermission) as denied:
            host.configManager.storageSystem.DisableMultipathPath(pathName=GOLD_PATH)
        assert denied.value.privilegeId == "Host.Config.Storage" and denied.value.object._moId == host._moId

        auth = si.content.authorizationManager
        admin_key = si.content.sessionManager.currentSession.key
        assert auth.HasPrivilegeOnEntity(vm, session.key, ["Resource.HotMigrate", "System.Read"]) == [False, True]
        assert auth.HasPrivilegeOnEntity(vm, admin_key, ["Resource.HotMigrate"]) == [True]
        assert auth.HasPrivilegeOnEntity(vm, "no-such-session", ["System.Read"]) == [False]
        granted = auth.FetchUserPrivilegeOnEntities([vm], "readonly")[0].privileges
        assert set(granted) == {"System.Anonymous", "System.Read", "System.View"}
    finally:
        Disconnect(ro)
    assert path_state(si, "esx-a01", GOLD_PATH) == "active"
    assert "guestinfo.x" not in {o.key for o in simple_vm(si, "web01").config.extraConfig}
