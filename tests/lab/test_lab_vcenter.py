"""The lab behaves like vCenter where vsguesttruth relies on it (lab/README.md, "Where the simulator differs
from vCenter": each managed object's file in lab/, such as virtual_machine.go or event_manager.go).

Each test looks the inventory up through the API instead of hard-coding names, and puts back what it
changed (placement, extraConfig keys, extensions), so the session-wide lab stays as the other tests
expect it.
"""

from __future__ import annotations

import datetime
import ssl
import time
import uuid
from urllib.parse import urlparse

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

from vsguesttruth.lab import Lab

pytestmark = pytest.mark.lab

PROPERTY_COLLECTOR = vmodl.query.PropertyCollector


# -- helpers -----------------------------------------------------------------------------------

def _all(si, kind) -> list:
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    try:
        return sorted(view.view, key=lambda o: o.name)
    finally:
        view.Destroy()


def _disks(vm) -> list:
    return [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]


def _extra(vm) -> list[tuple[str, str]]:
    return [(o.key, o.value) for o in vm.config.extraConfig]


def _reconfig_extra(vm, **values: str) -> None:
    spec = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=k, value=v) for k, v in values.items()])
    WaitForTask(vm.ReconfigVM_Task(spec))


def _key(prefix: str) -> str:
    return f"guestinfo.vsgt-test.{prefix}.{uuid.uuid4().hex[:8]}"


def _usable(host) -> bool:
    return host.runtime.connectionState == "connected" and not host.runtime.inMaintenanceMode


def _mounts(host, datastores) -> bool:
    """The host mounts every datastore, accessibly."""
    for ds in datastores:
        mount = [m for m in ds.host if m.key == host]
        if not mount or not mount[0].mountInfo.accessible:
            return False
    return True


def _simple_vm(si):
    """A powered-on VM without snapshot or RDM, whose home and disks are all on one shared datastore."""
    for vm in _all(si, vim.VirtualMachine):
        if vm.snapshot is not None or vm.runtime.powerState != "poweredOn" or len(vm.datastore) != 1:
            continue
        ds = vm.datastore[0]
        if not ds.summary.multipleHostAccess:
            continue
        if all(isinstance(d.backing, vim.vm.device.VirtualDisk.FlatVer2BackingInfo) for d in _disks(vm)):
            return vm
    pytest.skip("no VM on a single shared datastore in this topology")


def _migration_target(vm):
    """Another usable host of the VM's cluster that mounts all of the VM's datastores."""
    source = vm.runtime.host
    for host in sorted(source.parent.host, key=lambda h: h.name):
        if host != source and _usable(host) and _mounts(host, vm.datastore):
            return host
    pytest.skip(f"no compatible migration target for {vm.name}")


def _migrate(vm, host, pool=None) -> None:
    WaitForTask(vm.MigrateVM_Task(pool=pool, host=host, priority=vim.VirtualMachine.MovePriority.defaultPriority))


def _wait_for_change(pc, version: str, wanted, timeout: float = 10.0):
    """WaitForUpdatesEx until a property change satisfies wanted(change); return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = pc.WaitForUpdatesEx(version, PROPERTY_COLLECTOR.WaitOptions(maxWaitSeconds=2))
        if result is None:
            continue
        version = result.version
        for fs in result.filterSet:
            for obj in fs.objectSet:
                for change in obj.changeSet:
                    if wanted(change):
                        return change
    raise AssertionError("no matching update within %.0f s" % timeout)


def _watch(si, obj, path: str):
    """A new PropertyCollector watching obj.path; returns it and the version after the initial state."""
    pc = si.content.propertyCollector.CreatePropertyCollector()
    spec = PROPERTY_COLLECTOR.FilterSpec(
        objectSet=[PROPERTY_COLLECTOR.ObjectSpec(obj=obj)],
        propSet=[PROPERTY_COLLECTOR.PropertySpec(type=type(obj), pathSet=[path])],
    )
    pc.CreateFilter(spec, True)
    first = pc.WaitForUpdatesEx("", PROPERTY_COLLECTOR.WaitOptions(maxWaitSeconds=0))
    return pc, first.version


def _options(value) -> dict:
    """An extraConfig value (a list of OptionValue) as a dict; a full config also works."""
    if isinstance(value, vim.vm.ConfigInfo):
        value = value.extraConfig
    return {o.key: o.value for o in value}


# -- ReconfigVM_Task extraConfig -----------------------------------------------------------------

def test_extraconfig_set_again_replaces_and_empty_removes(si):
    vm = _all(si, vim.VirtualMachine)[0]
    key, other = _key("replace"), _key("other")
    before = _extra(vm)
    try:
        _reconfig_extra(vm, **{key: "one", other: "keep"})
        _reconfig_extra(vm, **{key: "two"})
        entries = [e for e in _extra(vm) if e[0] == key]
        assert entries == [(key, "two")], "setting a key again replaces its value (no duplicate)"
        assert (other, "keep") in _extra(vm)

        _reconfig_extra(vm, **{key: ""})
        keys = [k for k, _ in _extra(vm)]
        assert key not in keys, "an empty value removes the key"
        assert other in keys
    finally:
        _reconfig_extra(vm, **{key: "", other: ""})
    assert _extra(vm) == before


def test_guestinfo_set_while_the_vm_runs_is_gone_after_power_off(si):
    vm = _all(si, vim.VirtualMachine)[0]
    assert vm.runtime.powerState == "poweredOn"

    def keys() -> dict:
        return {o.key: o.value for o in vm.config.extraConfig or () if o.key.startswith(("guestinfo.vsgt.p.", "vsgt.p."))}

    def set_keys(**values: str) -> None:
        WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(
            extraConfig=[vim.option.OptionValue(key=k.replace("_", "."), value=v) for k, v in values.items()])))

    try:
        set_keys(guestinfo_vsgt_p_running="1", vsgt_p_other="1")
        WaitForTask(vm.PowerOffVM_Task())
        assert keys() == {"vsgt.p.other": "1"}  # the guestinfo key set while it ran is gone, the other stays
        set_keys(guestinfo_vsgt_p_off="1")  # set while off: in the VM's configuration
        WaitForTask(vm.PowerOnVM_Task())
        WaitForTask(vm.PowerOffVM_Task())
        assert keys() == {"vsgt.p.other": "1", "guestinfo.vsgt.p.off": "1"}
    finally:
        if vm.runtime.powerState != "poweredOn":
            WaitForTask(vm.PowerOnVM_Task())
        set_keys(guestinfo_vsgt_p_off="", vsgt_p_other="", guestinfo_vsgt_p_running="")
    assert keys() == {}


def test_extraconfig_on_a_vm_with_an_rdm(si):
    """vsguesttruth writes guestinfo to every VM, RDM ones included."""
    vms = [vm for vm in _all(si, vim.VirtualMachine)
           if any(isinstance(d.backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo) for d in _disks(vm))]
    if not vms:
        pytest.skip("no VM with an RDM in this topology")
    vm, key = vms[0], _key("rdm")
    try:
        _reconfig_extra(vm, **{key: '{"schema": 1}'})
        assert (key, '{"schema": 1}') in _extra(vm)
    finally:
        _reconfig_extra(vm, **{key: ""})
    assert key not in dict(_extra(vm))


def test_extraconfig_with_a_stale_change_version_is_refused(si):
    vm = _all(si, vim.VirtualMachine)[0]
    key = _key("version")
    try:
        _reconfig_extra(vm, **{key: "1"})
        current = vm.config.changeVersion
        assert current
        stale = vim.vm.ConfigSpec(changeVersion="1970-01-01T00:00:00.000000Z",
                                  extraConfig=[vim.option.OptionValue(key=key, value="2")])
        with pytest.raises(vim.fault.ConcurrentAccess):
            WaitForTask(vm.ReconfigVM_Task(stale))
        assert dict(_extra(vm))[key] == "1"
        fresh = vim.vm.ConfigSpec(changeVersion=current, extraConfig=[vim.option.OptionValue(key=key, value="2")])
        WaitForTask(vm.ReconfigVM_Task(fresh))
        assert dict(_extra(vm))[key] == "2"
        assert vm.config.changeVersion != current
    finally:
        _reconfig_extra(vm, **{key: ""})


@pytest.mark.parametrize("path", ["config.extraConfig", "config"])
def test_extraconfig_change_reaches_waitforupdatesex(si, path):
    vm = _all(si, vim.VirtualMachine)[-1]
    key = _key("watch")
    pc, version = _watch(si, vm, path)
    try:
        _reconfig_extra(vm, **{key: "seen"})
        change = _wait_for_change(pc, version, lambda c: c.name == path and _options(c.val).get(key) == "seen")
        assert change.op == "assign"

        _reconfig_extra(vm, **{key: ""})
        _wait_for_change(pc, version, lambda c: c.name == path and key not in _options(c.val))
    finally:
        pc.Destroy()
        _reconfig_extra(vm, **{key: ""})


# -- ExtensionManager ----------------------------------------------------------------------------

def _extension(key: str, version: str) -> vim.Extension:
    return vim.Extension(
        key=key, version=version, company="vsguesttruth tests",
        description=vim.Description(label="vsgt test", summary="registered by test_lab_vcenter"),
        lastHeartbeatTime=datetime.datetime.now(datetime.timezone.utc),
    )


def test_extension_register_find_update_unregister(si):
    em = si.content.extensionManager
    key = f"com.example.vsgt-test.{uuid.uuid4().hex[:8]}"
    assert em.FindExtension(key) is None
    em.RegisterExtension(_extension(key, "1.0"))
    try:
        found = em.FindExtension(key)
        assert found is not None and found.version == "1.0" and found.company == "vsguesttruth tests"
        assert key in [e.key for e in em.extensionList]

        with pytest.raises(vmodl.fault.InvalidArgument) as err:
            em.RegisterExtension(_extension(key, "1.1"))
        assert err.value.invalidProperty == "extension.key"

        em.UpdateExtension(_extension(key, "2.0"))
        assert em.FindExtension(key).version == "2.0"
        assert [e.version for e in em.extensionList if e.key == key] == ["2.0"]
    finally:
        em.UnregisterExtension(key)
    assert em.FindExtension(key) is None
    assert key not in [e.key for e in em.extensionList]


def test_extension_update_or_unregister_unknown_key_is_not_found(si):
    em = si.content.extensionManager
    key = f"com.example.vsgt-missing.{uuid.uuid4().hex[:8]}"
    with pytest.raises(vim.fault.NotFound):
        em.UpdateExtension(_extension(key, "1.0"))
    with pytest.raises(vim.fault.NotFound):
        em.UnregisterExtension(key)


def test_extension_list_change_reaches_waitforupdatesex(si):
    em = si.content.extensionManager
    key = f"com.example.vsgt-watch.{uuid.uuid4().hex[:8]}"
    pc, version = _watch(si, em, "extensionList")
    try:
        em.RegisterExtension(_extension(key, "1.0"))
        _wait_for_change(pc, version, lambda c: key in [e.key for e in c.val])
    finally:
        pc.Destroy()
        if em.FindExtension(key) is not None:
            em.UnregisterExtension(key)


# -- CustomizationSpecManager: a compare-and-swap on changeVersion ---------------------------------

def _spec(name: str, description: str, change_version: str | None = None):
    return vim.CustomizationSpecItem(
        info=vim.CustomizationSpecInfo(name=name, description=description, type="Linux", changeVersion=change_version),
        spec=vim.vm.customization.Specification(
            identity=vim.vm.customization.LinuxPrep(hostName=vim.vm.customization.FixedName(name="x"), domain="test"),
            globalIPSettings=vim.vm.customization.GlobalIPSettings()))


def test_customization_spec_overwrite_is_a_compare_and_swap(si):
    csm = si.content.customizationSpecManager
    name = f"vsgt-test-{uuid.uuid4().hex[:8]}"
    with pytest.raises(vim.fault.NotFound):
        csm.GetCustomizationSpec(name)
    assert not csm.DoesCustomizationSpecExist(name)
    csm.CreateCustomizationSpec(_spec(name, "first"))
    try:
        with pytest.raises(vim.fault.AlreadyExists):
            csm.CreateCustomizationSpec(_spec(name, "second"))
        first = csm.GetCustomizationSpec(name)
        assert first.info.description == "first" and first.info.changeVersion and first.info.lastUpdateTime
        assert csm.DoesCustomizationSpecExist(name)
        # two clients read version v; the first overwrite wins, the second is refused
        csm.OverwriteCustomizationSpec(_spec(name, "by A", first.info.changeVersion))
        with pytest.raises(vim.fault.ConcurrentAccess):
            csm.OverwriteCustomizationSpec(_spec(name, "by B", first.info.changeVersion))
        second = csm.GetCustomizationSpec(name)
        assert second.info.description == "by A" and second.info.changeVersion != first.info.changeVersion
        assert int(second.info.changeVersion) > int(first.info.changeVersion)
        csm.OverwriteCustomizationSpec(_spec(name, "unconditional"))  # no changeVersion: no check
        assert csm.GetCustomizationSpec(name).info.description == "unconditional"
        assert [i.description for i in csm.info if i.name == name] == ["unconditional"]
        with pytest.raises(vim.fault.NotFound):
            csm.OverwriteCustomizationSpec(_spec(name + "-missing", "x"))
    finally:
        csm.DeleteCustomizationSpec(name)
    assert not csm.DoesCustomizationSpecExist(name)
    with pytest.raises(vim.fault.NotFound):
        csm.DeleteCustomizationSpec(name)


# -- MigrateVM_Task ------------------------------------------------------------------------------

def test_migrate_moves_vm_between_hosts(si):
    vm = _simple_vm(si)
    source, target = vm.runtime.host, _migration_target(vm)
    task = vm.MigrateVM_Task(host=target, priority=vim.VirtualMachine.MovePriority.defaultPriority)
    WaitForTask(task)
    try:
        info = task.info
        assert (info.descriptionId, info.entity, info.entityName) == ("VirtualMachine.migrate", vm, vm.name)
        assert task in si.content.taskManager.recentTask
        user = si.content.sessionManager.currentSession.userName
        assert isinstance(info.reason, vim.TaskReasonUser) and info.reason.userName == user  # who started it
        assert vm.runtime.host == target
        assert vm.summary.runtime.host == target
        assert vm in target.vm
        assert vm not in source.vm
    finally:
        _migrate(vm, source)
    assert vm.runtime.host == source and vm in source.vm and vm not in target.vm


def test_migrate_is_seen_by_waitforupdatesex(si):
    vm = _simple_vm(si)
    source, target = vm.runtime.host, _migration_target(vm)
    pc, version = _watch(si, vm, "runtime.host")
    try:
        _migrate(vm, target)
        _wait_for_change(pc, version, lambda c: c.name == "runtime.host" and c.val == target)
    finally:
        pc.Destroy()
        _migrate(vm, source)


def test_migrate_refused_when_target_does_not_mount_the_datastores(si):
    for vm in _all(si, vim.VirtualMachine):
        source = vm.runtime.host
        hosts = [h for h in sorted(source.parent.host, key=lambda h: h.name)
                 if h != source and _usable(h) and not _mounts(h, vm.datastore)]
        if hosts:
            break
    else:
        pytest.skip("every host mounts every VM's datastores in this topology")
    target = hosts[0]
    with pytest.raises(vim.fault.InvalidDatastore):  # DatastoreNotWritableOnHost
        _migrate(vm, target)
    assert vm.runtime.host == source and vm in source.vm and vm not in target.vm


def test_migrate_refused_when_target_host_is_disconnected(si, lab):
    vm = _simple_vm(si)
    source, target = vm.runtime.host, _migration_target(vm)
    lab.fault("host", host=target.name, state="disconnected")
    with pytest.raises(vim.fault.InvalidHostState):  # InvalidHostConnectionState
        _migrate(vm, target)
    assert vm.runtime.host == source and vm not in target.vm


def test_migrate_to_another_cluster_needs_its_pool(si):
    vm = _simple_vm(si)
    source = vm.runtime.host
    others = [h for h in _all(si, vim.HostSystem)
              if h.parent != source.parent and _usable(h) and _mounts(h, vm.datastore)]
    if not others:
        pytest.skip("no compatible host in another cluster")
    target = others[0]
    with pytest.raises(vmodl.fault.InvalidArgument):
        _migrate(vm, target)  # the VM's pool is not in the target's compute resource
    _migrate(vm, target, pool=target.parent.resourcePool)
    try:
        assert vm.runtime.host == target and vm.resourcePool == target.parent.resourcePool
        assert vm in target.parent.resourcePool.vm
    finally:
        _migrate(vm, source, pool=source.parent.resourcePool)
    assert vm.runtime.host == source and vm.resourcePool == source.parent.resourcePool


# -- RelocateVM_Task -----------------------------------------------------------------------------

def _relocation_datastore(vm, host):
    """Another shared datastore the host mounts accessibly."""
    current = vm.datastore[0]
    for ds in sorted(host.datastore, key=lambda d: d.name):
        if ds != current and ds.summary.multipleHostAccess and _mounts(host, [ds]):
            return ds
    pytest.skip(f"no second shared datastore on {host.name}")


def _assert_on(vm, ds) -> None:
    prefix = f"[{ds.name}] "
    assert vm.datastore == [ds]
    assert vm in ds.vm
    assert vm.config.files.vmPathName.startswith(prefix)
    assert vm.summary.config.vmPathName == vm.config.files.vmPathName
    for disk in _disks(vm):
        assert disk.backing.fileName.startswith(prefix), disk.backing.fileName
        assert disk.backing.datastore == ds
    for layout in vm.layout.disk:
        assert all(f.startswith(prefix) for f in layout.diskFile)
    assert [u.datastore for u in vm.storage.perDatastoreUsage] == [ds]


def test_relocate_moves_disks_between_datastores(si):
    vm = _simple_vm(si)
    source = vm.datastore[0]
    target = _relocation_datastore(vm, vm.runtime.host)
    files = [d.backing.fileName.split("] ", 1)[1] for d in _disks(vm)]
    WaitForTask(vm.RelocateVM_Task(vim.vm.RelocateSpec(datastore=target)))
    try:
        _assert_on(vm, target)
        assert vm not in source.vm
        assert [d.backing.fileName.split("] ", 1)[1] for d in _disks(vm)] == files, "same paths, new datastore"
    finally:
        WaitForTask(vm.RelocateVM_Task(vim.vm.RelocateSpec(datastore=source)))
    _assert_on(vm, source)
    assert vm not in target.vm


def test_relocate_host_and_datastore_together(si):
    vm = _simple_vm(si)
    host, ds = vm.runtime.host, vm.datastore[0]
    target_host = _migration_target(vm)
    target_ds = _relocation_datastore(vm, target_host)
    WaitForTask(vm.RelocateVM_Task(vim.vm.RelocateSpec(host=target_host, datastore=target_ds)))
    try:
        assert vm.runtime.host == target_host and vm.summary.runtime.host == target_host
        assert vm in target_host.vm and vm not in host.vm
        _assert_on(vm, target_ds)
        assert vm not in ds.vm
    finally:
        WaitForTask(vm.RelocateVM_Task(vim.vm.RelocateSpec(host=host, datastore=ds)))
    assert vm.runtime.host == host and vm in host.vm and vm not in target_host.vm
    _assert_on(vm, ds)


# -- events --------------------------------------------------------------------------------------

def _vm_filter(vm) -> vim.event.EventFilterSpec:
    return vim.event.EventFilterSpec(entity=vim.event.EventFilterSpec.ByEntity(entity=vm, recursion="self"))


def test_log_user_event_shows_in_query_events_and_collector(si):
    vm = _all(si, vim.VirtualMachine)[0]
    em = si.content.eventManager
    message = f"vsguesttruth test {uuid.uuid4().hex[:8]}"
    em.LogUserEvent(entity=vm, msg=message)

    mine = [e for e in em.QueryEvents(_vm_filter(vm)) if getattr(e, "message", None) == message]
    assert len(mine) == 1
    event = mine[0]
    assert isinstance(event, vim.event.GeneralUserEvent)
    assert event.entity.entity == vm and event.vm.vm == vm
    assert message in event.fullFormattedMessage
    assert event.userName == si.content.sessionManager.currentSession.userName

    collector = em.CreateCollectorForEvents(_vm_filter(vm))
    try:
        assert message in [getattr(e, "message", None) for e in collector.latestPage]
    finally:
        collector.DestroyCollector()


def test_post_event_shows_in_query_events(si):
    vm = _all(si, vim.VirtualMachine)[0]
    em = si.content.eventManager
    message = f"vsguesttruth posted {uuid.uuid4().hex[:8]}"
    em.PostEvent(vim.event.GeneralUserEvent(
        key=0, chainId=0, createdTime=datetime.datetime.now(datetime.timezone.utc), userName="",
        message=message, vm=vim.event.VmEventArgument(vm=vm, name=vm.name),
    ))
    assert message in [getattr(e, "message", None) for e in em.QueryEvents(_vm_filter(vm))]


def test_migration_is_logged_as_events(si):
    vm = _simple_vm(si)
    source, target = vm.runtime.host, _migration_target(vm)
    _migrate(vm, target)
    try:
        kinds = [type(e) for e in si.content.eventManager.QueryEvents(_vm_filter(vm))]
        assert vim.event.VmMigratedEvent in kinds
    finally:
        _migrate(vm, source)


# -- reading unset properties ----------------------------------------------------------------------

def test_unset_property_reads_as_none(si):
    vms = [vm for vm in _all(si, vim.VirtualMachine) if vm.rootSnapshot == []]
    assert vms, "some VM has no snapshot"
    vm = vms[0]
    assert vm.snapshot is None
    assert vm.parentVApp is None
    assert vm.name  # the connection survived


# -- latency -------------------------------------------------------------------------------------

def test_latency_is_added_to_every_soap_call(si, tmp_path):
    def call_time(instance) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.monotonic()
            instance.CurrentTime()
            best = min(best, time.monotonic() - start)
        return best

    delay = 0.15
    slow_lab = Lab(tmp_path / "slow")
    slow_lab.up(latency_ms=int(delay * 1000), timing=False)
    try:
        info = slow_lab.require()
        url = urlparse(info.url)
        slow = SmartConnect(host=url.hostname, port=url.port, user=info.username, pwd=info.password,
                            sslContext=ssl.create_default_context(cafile=info.cert))
        try:
            assert call_time(slow) >= delay
        finally:
            Disconnect(slow)
    finally:
        slow_lab.down()
    assert call_time(si) < delay
