"""Pure conversions of the vCenter edge: pyVmomi data objects (built locally, no server) -> model."""

from __future__ import annotations

import pytest
from pyVmomi import vim, vmodl

from vsguesttruth.model import PathState
from vsguesttruth.vcenter import convert
from vsguesttruth.vcenter.convert import Record, build_inventory, format_wwn
from vsguesttruth.vcenter.properties import Key, parse_path, retrieve

from fakes.vim import DISK_KEY, FC_KEY, disk, fc_path, flat, host_props, mount, multipath, scsi_disk, vmfs_info

PC = vmodl.query.PropertyCollector


# ------------------------------------------------------------------------------------ helpers


@pytest.mark.parametrize("value, expected", [
    (0x5006016008600001, "50:06:01:60:08:60:00:01"),
    (0x2000002590000002, "20:00:00:25:90:00:00:02"),
    (-0x3FFFFFFFFFFFFFFF, "c0:00:00:00:00:00:00:01"),  # a signed long with the top bit set
    ("50:06:01:60:08:60:00:01", "50:06:01:60:08:60:00:01"),
    ("5006016008600001", "50:06:01:60:08:60:00:01"),
    (0, ""),
    (None, ""),
])
def test_format_wwn(value, expected):
    assert format_wwn(value) == expected


def test_moref():
    assert convert.moref(vim.HostSystem("host-42")) == "host-42"
    assert convert.moref(None) == ""
    assert convert.moref("host-7") == "host-7"


# ------------------------------------------------------------------------------------ hosts


def test_host_hbas_luns_paths():
    host = convert.convert_host("host-1", host_props(), {"domain-c7": "cl-a"})
    assert (host.moref, host.name, host.cluster, host.connected, host.maintenance) == ("host-1", "esx-a01", "cl-a", True, False)
    (hba,) = host.hbas
    assert (hba.device, hba.kind, hba.status, hba.model, hba.wwpn) == ("vmhba2", "fc", "online", "QLE2692", "20:00:00:25:90:00:00:02")
    assert hba.key == FC_KEY
    (lun,) = host.luns
    assert lun.canonical_name == "naa.600601600a0b0000000000000000000a"
    assert (lun.media, lun.vaai, lun.vendor, lun.model, lun.ok, lun.local) == ("ssd", "vStorageSupported", "DGC", "VRAID", True, False)
    assert lun.capacity_bytes == 2097152 * 512
    assert lun.key == DISK_KEY and lun.uuid == DISK_KEY.rsplit("-", 1)[-1]
    assert [(p.name, p.lun, p.hba, p.target, p.state) for p in host.paths] == [
        ("vmhba2:C0:T0:L1", lun.canonical_name, "vmhba2", "50:06:01:60:08:60:00:01", PathState.ACTIVE),
        ("vmhba2:C0:T1:L1", lun.canonical_name, "vmhba2", "50:06:01:61:08:60:00:01", PathState.STANDBY),
    ]


def test_host_standalone_and_missing_properties():
    host = convert.convert_host("host-9", {"name": "esx-9", "parent": vim.ComputeResource("domain-s9")}, {"domain-c7": "cl-a"})
    assert host.cluster == "" and host.hbas == () and host.luns == () and host.paths == ()
    assert host.connection_state == "unknown" and not host.connected


def test_media_from_ssd_flag():
    hdd = convert.convert_lun(scsi_disk(ssd=False))
    unknown = convert.convert_lun(vim.host.ScsiLun(key="k", uuid="u", canonicalName="mpx.vmhba1:C0:T0:L0", lunType="cdrom",
                                                   operationalState=["ok"]))
    assert hdd.media == "hdd"
    assert unknown.media == "unknown" and unknown.lun_type == "cdrom" and unknown.capacity_bytes == 0
    assert unknown.vaai == "vStorageUnknown"


def test_pdl_operational_state():
    lun = convert.convert_lun(scsi_disk(state=("lostCommunication",)))
    assert lun.operational_state == ("lostCommunication",) and not lun.ok


def test_multipath_state_wins_over_multipath_info():
    state = vim.host.MultipathStateInfo(path=[vim.host.MultipathStateInfo.Path(name="vmhba2:C0:T0:L1", pathState="dead")])
    host = convert.convert_host("host-1", host_props(**{"config.multipathState": state}), {})
    assert [p.state for p in host.paths] == [PathState.DEAD, PathState.STANDBY]


def test_path_state_fallbacks():
    path = fc_path("vmhba3:C0:T0:L1")
    path.state = None
    path.pathState = "disabled"
    weird = fc_path("vmhba3:C0:T1:L1", state="bogus")
    host = convert.convert_host("host-1", host_props(**{
        "config.storageDevice.multipathInfo": multipath([path, weird]),
        "config.storageDevice.hostBusAdapter": [],
    }), {})
    assert [p.state for p in host.paths] == [PathState.DISABLED, PathState.UNKNOWN]
    assert [p.hba for p in host.paths] == ["vmhba2", "vmhba2"]  # from the adapter key when the HBA is unknown


def test_hba_kinds():
    assert convert.hba_kind(vim.host.InternetScsiHba(device="vmhba64")) == "iscsi"
    assert convert.hba_kind(vim.host.BlockHba(device="vmhba1")) == "block"
    assert convert.hba_kind(vim.host.SerialAttachedHba(device="vmhba0")) == "sas"
    assert convert.hba_kind(vim.host.ParallelScsiHba(device="vmhba0")) == "other"
    assert convert.hba_kind(vim.host.FibreChannelOverEthernetHba(device="vmhba33")) == "fc"
    iscsi = convert.convert_hba(vim.host.InternetScsiHba(key="k", device="vmhba64", status="online", model="iSCSI"))
    assert iscsi.wwpn == "" and iscsi.online


def test_iscsi_target_is_the_iqn():
    path = fc_path("vmhba64:C0:T0:L0")
    path.transport = vim.host.InternetScsiTargetTransport(iScsiName="iqn.1992-04.com.emc:cx.a", iScsiAlias="", address=[])
    host = convert.convert_host("host-1", host_props(**{"config.storageDevice.multipathInfo": multipath([path])}), {})
    assert host.paths[0].target == "iqn.1992-04.com.emc:cx.a"


# ------------------------------------------------------------------------------------ datastores


def test_vmfs_datastore_two_extents_and_mounts():
    summary = vim.Datastore.Summary(name="ds-span", type="VMFS", url="ds:///vmfs/volumes/1/", accessible=False,
                                    capacity=200 * 2**30, freeSpace=50 * 2**30)
    ds = convert.convert_datastore("datastore-11", {
        "name": "ds-span", "summary": summary, "info": vmfs_info("naa.1", "naa.2"),
        "host": [mount("host-1"), mount("host-2", accessible=False, reason="AllPathsDown_Start")],
    })
    assert (ds.name, ds.kind, ds.url, ds.accessible, ds.extents) == ("ds-span", "VMFS", "ds:///vmfs/volumes/1/", False, ("naa.1", "naa.2"))
    assert (ds.capacity_bytes, ds.free_bytes, ds.remote) == (200 * 2**30, 50 * 2**30, "")
    assert ds.mount("host-1").accessible and ds.mount("host-1").inaccessible_reason == ""
    assert not ds.mount("host-2").accessible and ds.mount("host-2").inaccessible_reason == "AllPathsDown_Start"


def test_nfs_datastore():
    info = vim.host.NasDatastoreInfo(name="nfs01", url="ds:///vmfs/volumes/abc/",
                                     nas=vim.host.NasVolume(name="nfs01", remoteHost="filer1", remotePath="/export/nfs01", type="NFS"))
    ds = convert.convert_datastore("datastore-20", {"name": "nfs01", "summary": vim.Datastore.Summary(type="NFS", accessible=True),
                                                    "info": info, "host": []})
    assert (ds.kind, ds.remote, ds.extents, ds.mounts) == ("NFS", "filer1:/export/nfs01", (), ())


# ------------------------------------------------------------------------------------ VMs


CONTROLLERS = [
    vim.vm.device.ParaVirtualSCSIController(key=1000, busNumber=0, deviceInfo=vim.Description(label="SCSI controller 0")),
    vim.vm.device.VirtualLsiLogicController(key=1001, busNumber=1),
    vim.vm.device.VirtualLsiLogicSASController(key=1002, busNumber=2),
    vim.vm.device.VirtualBusLogicController(key=1003, busNumber=3),
    vim.vm.device.VirtualNVMEController(key=31000, busNumber=0),
    vim.vm.device.VirtualAHCIController(key=15000, busNumber=0),
    vim.vm.device.VirtualIDEController(key=200, busNumber=0),
]


def test_controller_kinds_bus_and_unit():
    devices = CONTROLLERS + [
        disk(2000 + i, ctl.key, i, flat(f"[ds-gold] vm/vm_{i}.vmdk", "datastore-1")) for i, ctl in enumerate(CONTROLLERS)
    ]
    vm = convert.convert_vm("vm-1", {"name": "vm", "config.hardware.device": devices}, {})
    got = {(d.controller, d.bus, d.unit) for d in vm.disks}
    assert got == {("pvscsi", 0, 0), ("lsilogic", 1, 1), ("lsilogic-sas", 2, 2), ("buslogic", 3, 3), ("nvme", 0, 4),
                   ("sata", 0, 5), ("ide", 0, 6)}


def test_snapshot_chain_files_and_datastores():
    # pyVmomi types a backing's parent as its own class: a chain is all FlatVer2, or all SeSparse...
    base = flat("[ds-gold] app01/app01.vmdk", "datastore-1", uuid="base")
    delta1 = flat("[ds-silver] app01/app01-000001.vmdk", "datastore-2", parent=base, uuid="d1")
    top = flat("[ds-gold] app01/app01-000002.vmdk", "datastore-1", parent=delta1, uuid="top")
    vm = convert.convert_vm("vm-2", {
        "name": "app01", "config.instanceUuid": "5003-aa", "runtime.powerState": "poweredOn",
        "runtime.host": vim.HostSystem("host-1"), "config.hardware.device": [CONTROLLERS[0], disk(2000, 1000, 0, top)],
    }, {})
    (d,) = vm.disks
    assert d.files == ("[ds-gold] app01/app01-000002.vmdk", "[ds-silver] app01/app01-000001.vmdk", "[ds-gold] app01/app01.vmdk")
    assert d.datastores == ("datastore-1", "datastore-2")
    assert (d.backing, d.uuid, d.capacity_bytes, d.label) == ("vmdk", "top", 10 * 2**30, "Hard disk 1")
    assert (vm.uuid, vm.host, vm.power_state) == ("5003-aa", "host-1", "poweredOn")


def test_sesparse_and_sparse_chains_are_vmdk():
    sesparse = vim.vm.device.VirtualDisk.SeSparseBackingInfo(
        fileName="[ds-gold] a/a-000001.vmdk", datastore=vim.Datastore("datastore-1"),
        parent=vim.vm.device.VirtualDisk.SeSparseBackingInfo(fileName="[ds-gold] a/a.vmdk", datastore=vim.Datastore("datastore-1")))
    sparse = vim.vm.device.VirtualDisk.SparseVer2BackingInfo(fileName="[ds-silver] b/b.vmdk", datastore=vim.Datastore("datastore-2"))
    vm = convert.convert_vm("vm-6", {"name": "x", "config.hardware.device": [
        CONTROLLERS[0], disk(2000, 1000, 0, sesparse), disk(2001, 1000, 1, sparse)]}, {})
    assert [(d.backing, len(d.files), d.datastores) for d in vm.disks] == [
        ("vmdk", 2, ("datastore-1",)), ("vmdk", 1, ("datastore-2",))]
    other = vim.vm.device.VirtualDisk.PartitionedRawDiskVer2BackingInfo(descriptorFileName="x", deviceName="/dev/sda")
    vm = convert.convert_vm("vm-7", {"name": "y", "config.hardware.device": [CONTROLLERS[0], disk(2000, 1000, 0, other)]}, {})
    assert vm.disks[0].backing == "other"


def test_rdm_physical_and_virtual():
    physical = vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo(
        fileName="[ds-silver] db01/db01_1.vmdk", datastore=vim.Datastore("datastore-2"), compatibilityMode="physicalMode",
        lunUuid="0200000000600601600a0b", deviceName="/vmfs/devices/disks/naa.600601600a0b", uuid="rdm-1")
    virtual = vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo(
        fileName="[ds-silver] db01/db01_2.vmdk", datastore=vim.Datastore("datastore-2"), compatibilityMode="virtualMode",
        lunUuid="0200000000600601600a0c", deviceName="/vmfs/devices/disks/naa.600601600a0c")
    delta = vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo(
        fileName="[ds-silver] db01/db01_2-000001.vmdk", datastore=vim.Datastore("datastore-2"), parent=virtual,
        compatibilityMode="virtualMode", lunUuid="0200000000600601600a0c", deltaDiskFormat="redoLogFormat")
    vm = convert.convert_vm("vm-3", {"name": "db01", "config.hardware.device": [
        CONTROLLERS[0], disk(2001, 1000, 1, physical), disk(2002, 1000, 2, delta)]}, {})
    p, v = vm.disks
    assert (p.backing, p.lun_uuid, p.device_name, p.files, p.uuid) == (
        "rdm_physical", "0200000000600601600a0b", "/vmfs/devices/disks/naa.600601600a0b", ("[ds-silver] db01/db01_1.vmdk",),
        "rdm-1")
    assert (v.backing, v.lun_uuid) == ("rdm_virtual", "0200000000600601600a0c")
    assert v.files == ("[ds-silver] db01/db01_2-000001.vmdk", "[ds-silver] db01/db01_2.vmdk")


def test_datastore_from_file_name_when_backing_lacks_it():
    vm = convert.convert_vm("vm-4", {"name": "x", "config.hardware.device": [
        CONTROLLERS[0], disk(2000, 1000, 0, flat("[nfs01] x/x.vmdk", None))]}, {"nfs01": "datastore-9"})
    assert vm.disks[0].datastores == ("datastore-9",)


def test_guestinfo_keeps_only_our_keys():
    extra = [vim.option.OptionValue(key="guestinfo.vsguesttruth.state", value='{"v":1}'),
             vim.option.OptionValue(key="guestinfo.other", value="x"),
             vim.option.OptionValue(key="disk.EnableUUID", value="TRUE"),
             vim.option.OptionValue(key="guestinfo.vsguesttruth.policy", value=None)]
    vm = convert.convert_vm("vm-5", {"name": "x", "config.extraConfig": extra}, {})
    assert vm.guestinfo == {"guestinfo.vsguesttruth.state": '{"v":1}', "guestinfo.vsguesttruth.policy": ""}
    assert vm.disks == () and vm.power_state == "unknown" and vm.host == ""


def test_build_inventory_resolves_clusters():
    records = {
        "domain-c7": Record(convert.CLUSTER, {"name": "cl-a"}),
        "host-1": Record(convert.HOST, host_props()),
        "datastore-1": Record(convert.DATASTORE, {"name": "ds-gold", "summary": vim.Datastore.Summary(type="VMFS"),
                                                  "info": vmfs_info("naa.1"), "host": [mount("host-1")]}),
        "vm-1": Record(convert.VM, {"name": "vm1", "config.hardware.device": [CONTROLLERS[0],
                                                                              disk(2000, 1000, 0, flat("[ds-gold] a.vmdk", None))]}),
    }
    inv = build_inventory(records)
    assert set(inv.hosts) == {"host-1"} and inv.hosts["host-1"].cluster == "cl-a"
    assert inv.datastores["datastore-1"].extents == ("naa.1",)
    assert inv.vms["vm-1"].disks[0].datastores == ("datastore-1",)
    assert inv.vm_by_name("vm1") is inv.vms["vm-1"]


# ------------------------------------------------------------------------------------ property paths


def test_parse_path():
    assert parse_path("config.hardware.device[2000].backing") == ["config", "hardware", "device", Key(2000), "backing"]
    assert parse_path('.path["vmhba2:C0:T0:L1"].pathState') == ["path", Key("vmhba2:C0:T0:L1"), "pathState"]
    assert parse_path('lun["a\\"b"]') == ["lun", Key('a"b')]
    with pytest.raises(ValueError):
        parse_path("a..b")


HOST_PATHS = convert.PROPERTIES[convert.HOST]


# ------------------------------------------------------------------------------------ paging


class PagingCollector:
    """Serves a list of ObjectContent ``page`` objects at a time, with continuation tokens."""

    def __init__(self, objects, page):
        self.objects, self.page, self.calls, self.cancelled = objects, page, [], []

    def _result(self, start):
        end = start + self.page
        token = str(end) if end < len(self.objects) else None
        return PC.RetrieveResult(objects=self.objects[start:end], token=token)

    def RetrievePropertiesEx(self, specSet, options):
        self.calls.append(("RetrievePropertiesEx", options.maxObjects))
        return self._result(0)

    def ContinueRetrievePropertiesEx(self, token):
        self.calls.append(("ContinueRetrievePropertiesEx", token))
        return self._result(int(token))

    def CancelRetrievePropertiesEx(self, token):
        self.cancelled.append(token)


def contents(n):
    return [PC.ObjectContent(obj=vim.HostSystem(f"host-{i}"), propSet=[vmodl.DynamicProperty(name="name", val=f"esx{i}")])
            for i in range(n)]


def test_retrieve_follows_continuation_tokens():
    collector = PagingCollector(contents(7), page=3)
    pages = []
    got = [o.obj._moId for o in retrieve(collector, [], max_objects=3, on_page=pages.append)]
    assert got == [f"host-{i}" for i in range(7)]
    assert pages == [3, 3, 1]
    assert collector.calls == [("RetrievePropertiesEx", 3), ("ContinueRetrievePropertiesEx", "3"),
                               ("ContinueRetrievePropertiesEx", "6")]


def test_retrieve_stopped_early_cancels_the_rest():
    collector = PagingCollector(contents(7), page=3)
    iterator = retrieve(collector, [], max_objects=3)
    next(iterator)
    iterator.close()
    assert collector.cancelled == ["3"]


def test_retrieve_prefetch_follows_tokens_and_cancels_what_it_fetched():
    collector = PagingCollector(contents(7), page=3)
    got = [o.obj._moId for o in retrieve(collector, [], max_objects=3, prefetch=True)]
    assert got == [f"host-{i}" for i in range(7)]
    collector = PagingCollector(contents(7), page=3)
    iterator = retrieve(collector, [], max_objects=3, prefetch=True)
    next(iterator)
    iterator.close()
    assert collector.cancelled == ["6"]  # the page fetched ahead ("3") was read: the rest is cancelled


def test_compact_values_assemble_the_same_models():
    props = host_props(**{"config.multipathState": vim.host.MultipathStateInfo(path=[
        vim.host.MultipathStateInfo.Path(name="vmhba2:C0:T0:L1", pathState="dead")])})
    record = convert.compact_record(convert.HOST, props)
    assert convert.assemble_host("host-1", record.props, {"domain-c7": "cl-a"}) == \
        convert.convert_host("host-1", props, {"domain-c7": "cl-a"})
    assert convert.reduce_value(convert.HOST, "name", None) is None
