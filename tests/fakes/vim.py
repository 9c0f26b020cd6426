"""pyVmomi data objects as vCenter returns them (built locally, no server): HBAs, SCSI disks, multipath
paths, datastore infos and mounts, virtual disks with their backings. For tests of the vCenter edge's pure
conversions and of the watch's in-place changes."""

from __future__ import annotations

from pyVmomi import vim

DISK_KEY = "key-vim.host.ScsiDisk-0200000000600601600a0b"
LOCAL_KEY = "key-vim.host.ScsiDisk-0000000000766d6862"
FC_KEY = "key-vim.host.FibreChannelHba-vmhba2"


def fc_hba(device="vmhba2", wwpn=0x2000002590000002, status="online"):
    return vim.host.FibreChannelHba(
        key=f"key-vim.host.FibreChannelHba-{device}", device=device, status=status, model="QLE2692 ",
        portWorldWideName=wwpn, nodeWorldWideName=0x2000002590000001, bus=3, pci="0000:03:00.0", driver="qlnativefc",
        portType="fabric", speed=16,
    )


def scsi_disk(key=DISK_KEY, name="naa.600601600a0b0000000000000000000a", ssd=True, state=("ok",)):
    return vim.host.ScsiDisk(
        key=key, uuid=key.rsplit("-", 1)[-1], canonicalName=name, displayName=f"DGC Fibre Channel Disk ({name})",
        vendor="DGC     ", model="VRAID           ", lunType="disk", deviceType="disk",
        operationalState=list(state), vStorageSupport="vStorageSupported", ssd=ssd, localDisk=False,
        capacity=vim.host.DiskDimensions.Lba(block=2097152, blockSize=512),
    )


def fc_path(name, state="active", adapter=FC_KEY, target=0x5006016008600001):
    return vim.host.MultipathInfo.Path(
        key=f"key-vim.host.MultipathInfo.Path-{name}", name=name, pathState=state, state=state,
        adapter=adapter, lun="key-vim.host.MultipathInfo.LogicalUnit-0200",
        transport=vim.host.FibreChannelTargetTransport(portWorldWideName=target, nodeWorldWideName=0x5006016088600001),
    )


def multipath(paths, lun_key=DISK_KEY):
    return vim.host.MultipathInfo(lun=[
        vim.host.MultipathInfo.LogicalUnit(
            key="key-vim.host.MultipathInfo.LogicalUnit-0200", id="0200", lun=lun_key, path=list(paths)
        )
    ])


def host_props(**over):
    props = {
        "name": "esx-a01",
        "parent": vim.ClusterComputeResource("domain-c7"),
        "runtime.connectionState": "connected",
        "runtime.inMaintenanceMode": False,
        "config.storageDevice.hostBusAdapter": [fc_hba()],
        "config.storageDevice.scsiLun": [scsi_disk()],
        "config.storageDevice.multipathInfo": multipath([
            fc_path("vmhba2:C0:T0:L1"), fc_path("vmhba2:C0:T1:L1", state="standby", target=0x5006016108600001),
        ]),
    }
    props.update(over)
    return props


def vmfs_info(*disks):
    return vim.host.VmfsDatastoreInfo(
        name="ds-span", url="ds:///vmfs/volumes/1/",
        vmfs=vim.host.VmfsVolume(name="ds-span", extent=[vim.host.ScsiDisk.Partition(diskName=d, partition=1) for d in disks]),
    )


def mount(host, accessible=True, reason=None):
    return vim.Datastore.HostMount(
        key=vim.HostSystem(host),
        mountInfo=vim.host.MountInfo(mounted=True, accessible=accessible, inaccessibleReason=reason, accessMode="readWrite"),
    )


def flat(file, ds, parent=None, uuid="6000C29a-1"):
    return vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
        fileName=file, datastore=vim.Datastore(ds) if ds else None, diskMode="persistent", uuid=uuid, parent=parent,
    )


def disk(key, controller_key, unit, backing, capacity=10 * 2**30, label=None):
    return vim.vm.device.VirtualDisk(
        key=key, controllerKey=controller_key, unitNumber=unit, backing=backing, capacityInBytes=capacity,
        capacityInKB=capacity // 1024, deviceInfo=vim.Description(label=label or f"Hard disk {key - 1999}", summary=""),
    )
