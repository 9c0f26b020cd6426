"""guestinfo set on a running VM is lost at power-off, as on ESXi; a VM's files and the space they take
(lab/README.md: virtual_machine_guestinfo.go, virtual_machine_power.go, virtual_machine_layout.go).

These tests power VMs off and restart the lab, so the module has a lab of its own (a tenth of a second to
start)."""

from __future__ import annotations

import re
import ssl
from urllib.parse import urlparse

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim

from vsguesttruth.lab import Lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("guestinfo-lab"))
    lab.up(timing=False)
    try:
        yield lab
    finally:
        lab.down()


def _connect(lab: Lab):
    info = lab.require()
    url = urlparse(info.url)
    return SmartConnect(host=url.hostname, port=url.port, user=info.username, pwd=info.password,
                        sslContext=ssl.create_default_context(cafile=info.cert))


@pytest.fixture
def si(own):
    si = _connect(own)
    try:
        yield si
    finally:
        Disconnect(si)


def _vm(si, name: str):
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        return next(v for v in view.view if v.name == name)
    finally:
        view.Destroy()


def _set(vm, **values: str) -> None:
    spec = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=k.replace("__", "."), value=v)
                                          for k, v in values.items()])
    WaitForTask(vm.ReconfigVM_Task(spec))


def _extra(vm) -> dict[str, str]:
    return {o.key: o.value for o in vm.config.extraConfig}


def test_guestinfo_set_while_running_is_lost_at_power_off(si):
    vm = _vm(si, "web02")
    _set(vm, guestinfo__persisted="before")  # still running: volatile too
    WaitForTask(vm.PowerOffVM_Task())
    _set(vm, guestinfo__offline="kept", guestinfo__persisted="written-off")  # powered off: into the .vmx
    WaitForTask(vm.PowerOnVM_Task())
    version = vm.config.changeVersion
    _set(vm, guestinfo__vsguesttruth__state='{"v": 1}', guestinfo__persisted="changed-on", tools__note="vmx")
    assert _extra(vm)["guestinfo.persisted"] == "changed-on"
    WaitForTask(vm.PowerOffVM_Task())
    extra = _extra(vm)
    assert "guestinfo.vsguesttruth.state" not in extra
    assert "guestinfo.persisted" not in extra  # changed on a running VM: gone, the old value does not return
    assert extra["guestinfo.offline"] == "kept" and extra["tools.note"] == "vmx"  # not guestinfo: in the .vmx
    assert vm.config.changeVersion != version
    WaitForTask(vm.PowerOnVM_Task())
    assert _extra(vm)["guestinfo.offline"] == "kept"


def test_guest_shutdown_loses_it_too_and_reset_does_not(si):
    vm = _vm(si, "web03")
    _set(vm, guestinfo__a="1")
    WaitForTask(vm.ResetVM_Task())  # the VMX keeps running
    assert _extra(vm)["guestinfo.a"] == "1"
    vm.ShutdownGuest()
    assert vm.runtime.powerState == "poweredOff" and "guestinfo.a" not in _extra(vm)
    assert vm.guest.toolsRunningStatus == "guestToolsNotRunning"
    with pytest.raises(vim.fault.InvalidPowerState):
        vm.ShutdownGuest()
    WaitForTask(vm.PowerOnVM_Task())
    assert vm.guest.toolsRunningStatus == "guestToolsRunning"


def test_a_restarted_lab_still_forgets_at_power_off(own):
    si = _connect(own)
    vm = _vm(si, "app01")
    _set(vm, guestinfo__volatile="x")
    Disconnect(si)
    own.restart()
    si = _connect(own)
    try:
        vm = _vm(si, "app01")
        assert _extra(vm)["guestinfo.volatile"] == "x"  # vCenter's database kept it
        WaitForTask(vm.PowerOffVM_Task())
        assert "guestinfo.volatile" not in _extra(vm)
        own.restart()  # the power state and the forgotten key survive a restart as well
    finally:
        Disconnect(si)
    si = _connect(own)
    try:
        vm = _vm(si, "app01")
        assert vm.runtime.powerState == "poweredOff" and "guestinfo.volatile" not in _extra(vm)
        WaitForTask(vm.PowerOnVM_Task())
    finally:
        Disconnect(si)


def test_power_needs_privileges(own):
    info = own.require()
    url = urlparse(info.url)
    ro = SmartConnect(host=url.hostname, port=url.port, user=info.readonly_username, pwd=info.readonly_password,
                      sslContext=ssl.create_default_context(cafile=info.cert))
    try:
        vm = _vm(ro, "util01")
        with pytest.raises(vim.fault.NoPermission) as err:
            vm.PowerOffVM_Task()
        assert err.value.privilegeId == "VirtualMachine.Interact.PowerOff"
    finally:
        Disconnect(ro)


def test_files_and_committed_storage(si):
    vm = _vm(si, "web01")
    home = vm.config.files.vmPathName.rsplit("/", 1)[0]
    files = {f.name: f for f in vm.layoutEx.file}
    assert all(re.match(r"\[[^]]+\] web01/", name) for name in files), list(files)
    assert {f.type for f in files.values()} >= {"config", "nvram", "log", "diskDescriptor", "diskExtent", "swap"}
    swap = [f for f in files.values() if f.type == "swap"]
    assert swap[0].size == vm.config.hardware.memoryMB * 2**20 and swap[0].name.startswith(home)
    committed = vm.summary.storage.committed
    disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
    assert 0.2 * disk.capacityInBytes < committed < disk.capacityInBytes + 2 * 2**30
    assert vm.summary.storage.uncommitted > 0
    assert sum(u.committed for u in vm.storage.perDatastoreUsage) == committed
    chain = vm.layoutEx.disk[0].chain
    assert [files_by_key(vm)[k].type for k in chain[0].fileKey] == ["diskDescriptor", "diskExtent"]
    ds = vm.datastore[0]
    free = ds.summary.freeSpace
    WaitForTask(vm.PowerOffVM_Task())
    assert vm.summary.storage.committed == committed - sum(f.size for f in swap) - next(
        f.size for f in files.values() if f.type == "uwswap")
    assert ds.summary.freeSpace > free  # the swap files are gone from the datastore
    WaitForTask(vm.PowerOnVM_Task())
    assert vm.summary.storage.committed == committed


def files_by_key(vm) -> dict:
    return {f.key: f for f in vm.layoutEx.file}


def test_snapshot_chain_and_rdm_layout(si):
    app = _vm(si, "app03")  # a VM with a snapshot chain
    layout = {f.key: f for f in app.layoutEx.file}
    assert any(f.name.endswith("-delta.vmdk") for f in layout.values())
    assert app.layoutEx.snapshot and all(layout[s.dataKey].type == "snapshotData" for s in app.layoutEx.snapshot)
    assert max(len(d.chain) for d in app.layoutEx.disk) >= 2
    db = _vm(si, "db01")  # a physical RDM: its pointer file takes no space
    rdmp = [f for f in db.layoutEx.file if f.name.endswith("-rdmp.vmdk")]
    assert rdmp and rdmp[0].size == 0


def test_devices_in_key_order(si):
    for name in ("db01", "web02", "app03"):
        keys = [d.key for d in _vm(si, name).config.hardware.device]
        assert keys == sorted(keys), (name, keys)
