"""PropertyCollector results -> model objects: pure functions, no I/O.

Input: per object, a dict of property path -> value, where values are the pyVmomi data objects the
collector returned (``vim.host.FibreChannelHba``, ``vim.vm.device.VirtualDisk`` ...). Output: the
plain, immutable :mod:`vsguesttruth.model` types; no pyVmomi object survives the conversion
(managed object references become their moref strings, enums and strings become ``str``).

The property paths asked for are declared here, next to the code that reads them, so the two
cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from pyVmomi import vim

from ..model import Datastore, Disk, Hba, Host, Inventory, Lun, Mount, Path, PathState, Vm

HOST = "HostSystem"
CLUSTER = "ClusterComputeResource"
DATASTORE = "Datastore"
VM = "VirtualMachine"

#: Exactly the properties the conversions read, per managed object type. Subpaths, not ``config``:
#: pyVmomi's client-side parsing is the bottleneck, and a host's whole ``config`` is megabytes.
PROPERTIES: Mapping[str, tuple[str, ...]] = {
    HOST: (
        "name",
        "parent",  # the ClusterComputeResource (or ComputeResource for a standalone host)
        "runtime.connectionState",
        "runtime.inMaintenanceMode",
        "config.storageDevice.hostBusAdapter",
        "config.storageDevice.scsiLun",
        "config.storageDevice.multipathInfo",
        "config.multipathState",  # path states by path name; preferred when present
    ),
    CLUSTER: ("name",),
    DATASTORE: (
        "name",
        # `summary` is small (type, url, accessible, capacity, freeSpace + 4 more); asked whole so a
        # change published at `summary` or below it reaches a filter either way.
        "summary",
        # `info` is polymorphic (VmfsDatastoreInfo / NasDatastoreInfo / ...): `info.vmfs` is not a
        # valid path for the declared type DatastoreInfo on a real vCenter, so ask for `info`.
        "info",
        "host",  # DatastoreHostMount[]: per-host mounted/accessible/inaccessibleReason
    ),
    VM: (
        "name",
        "config.instanceUuid",
        "runtime.powerState",
        "runtime.host",
        "config.hardware.device",
        "config.extraConfig",
    ),
}

#: pyVmomi types of the managed objects above, for PropertySpec/ContainerView.
VIM_TYPES: Mapping[str, type] = {
    HOST: vim.HostSystem,
    CLUSTER: vim.ClusterComputeResource,
    DATASTORE: vim.Datastore,
    VM: vim.VirtualMachine,
}

GUESTINFO_PREFIX = "guestinfo.vsguesttruth."


@dataclass
class Record:
    """What we hold for one managed object: its type and its current property values."""

    kind: str
    props: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# small helpers


def moref(value: Any) -> str:
    """``vim.HostSystem:host-21`` -> ``host-21``; strings pass through; None -> ``""``."""
    if value is None:
        return ""
    mo_id = getattr(value, "_moId", None)
    if mo_id is not None:
        return str(mo_id)
    return str(value)


def format_wwn(value: Any) -> str:
    """A Fibre Channel WWN as vSphere sends it (a signed 64-bit long) -> ``50:06:01:60:3b:a0:1d:e2``.

    Strings (already formatted, or hex) are normalised to the same form; 0/None -> ``""``.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        digits = re.sub(r"[^0-9a-fA-F]", "", value)
        if not digits:
            return ""
        number = int(digits, 16)
    else:
        number = int(value)
    if number == 0:
        return ""
    number &= 0xFFFFFFFFFFFFFFFF
    text = f"{number:016x}"
    return ":".join(text[i : i + 2] for i in range(0, 16, 2))


def _text(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def _vim_type(*names: str) -> tuple[type, ...]:
    """The pyVmomi classes that exist among ``names`` (dotted under vim), for isinstance checks."""
    found = []
    for name in names:
        obj: Any = vim
        for part in name.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, type):
            found.append(obj)
    return tuple(found)


# --------------------------------------------------------------------------------------------
# hosts: HBAs, LUNs, paths

_HBA_KINDS: tuple[tuple[tuple[type, ...], str], ...] = (
    (_vim_type("host.FibreChannelHba"), "fc"),  # includes FCoE (a FibreChannelHba subclass)
    (_vim_type("host.InternetScsiHba"), "iscsi"),
    (_vim_type("host.SerialAttachedHba"), "sas"),
    (_vim_type("host.BlockHba"), "block"),
    (_vim_type("host.PcieHba"), "pcie"),
)


def hba_kind(hba: Any) -> str:
    for types, kind in _HBA_KINDS:
        if types and isinstance(hba, types):
            return kind
    return "other"


def convert_hba(hba: Any) -> Hba:
    kind = hba_kind(hba)
    return Hba(
        device=_text(hba.device),
        key=_text(hba.key),
        kind=kind,
        status=_text(getattr(hba, "status", None), "unknown"),
        model=_text(getattr(hba, "model", None)).strip(),
        wwpn=format_wwn(getattr(hba, "portWorldWideName", None)) if kind == "fc" else "",
    )


def _media(lun: Any) -> str:
    ssd = getattr(lun, "ssd", None)
    if ssd is None:
        return "unknown"
    return "ssd" if ssd else "hdd"


def _capacity(lun: Any) -> int:
    capacity = getattr(lun, "capacity", None)
    if capacity is None:
        return 0
    return int(capacity.block or 0) * int(capacity.blockSize or 0)


def convert_lun(lun: Any) -> Lun:
    return Lun(
        canonical_name=_text(lun.canonicalName),
        uuid=_text(lun.uuid),
        key=_text(lun.key),
        display_name=_text(getattr(lun, "displayName", None)),
        vendor=_text(getattr(lun, "vendor", None)).strip(),
        model=_text(getattr(lun, "model", None)).strip(),
        lun_type=_text(getattr(lun, "lunType", None), "disk"),
        media=_media(lun),
        vaai=_text(getattr(lun, "vStorageSupport", None), "vStorageUnknown"),
        operational_state=tuple(str(s) for s in (getattr(lun, "operationalState", None) or ["unknown"])),
        capacity_bytes=_capacity(lun),
        local=bool(getattr(lun, "localDisk", False)),
    )


_FC_TRANSPORT = _vim_type("host.FibreChannelTargetTransport")


def _target(transport: Any) -> str:
    if transport is None:
        return ""
    if _FC_TRANSPORT and isinstance(transport, _FC_TRANSPORT):
        return format_wwn(transport.portWorldWideName)
    iqn = getattr(transport, "iScsiName", None)
    if iqn:
        return str(iqn)
    return ""


def _adapter_device(adapter_key: str, hbas_by_key: Mapping[str, Hba], path_name: str) -> str:
    hba = hbas_by_key.get(adapter_key)
    if hba:
        return hba.device
    # "key-vim.host.FibreChannelHba-vmhba2" -> "vmhba2"; else the path name's first field
    if "-" in adapter_key:
        return adapter_key.rsplit("-", 1)[-1]
    return path_name.split(":", 1)[0]


def _path_state(path: Any, states_by_name: Mapping[str, str]) -> PathState:
    name = _text(path.name)
    if name in states_by_name:
        return PathState.parse(states_by_name[name])
    # `state` (vSphere 4.0+) first, the older `pathState` as a fallback
    return PathState.parse(getattr(path, "state", None) or getattr(path, "pathState", None))


def convert_paths(
    multipath_info: Any,
    multipath_state: Any,
    luns_by_key: Mapping[str, Lun],
    hbas_by_key: Mapping[str, Hba],
) -> tuple[Path, ...]:
    """``multipathInfo.lun[].path[]`` -> Path; states from ``multipathState`` (by path name) if present."""
    states: dict[str, str] = {}
    for state in getattr(multipath_state, "path", None) or ():
        if state.name:
            states[str(state.name)] = _text(state.pathState)
    paths: list[Path] = []
    for unit in getattr(multipath_info, "lun", None) or ():
        lun = luns_by_key.get(_text(unit.lun))
        canonical = lun.canonical_name if lun else _text(getattr(unit, "id", None))
        for path in unit.path or ():
            name = _text(path.name)
            paths.append(
                Path(
                    name=name,
                    lun=canonical,
                    hba=_adapter_device(_text(path.adapter), hbas_by_key, name),
                    target=_target(getattr(path, "transport", None)),
                    state=_path_state(path, states),
                )
            )
    return tuple(paths)


def convert_host(mo: str, props: Mapping[str, Any], clusters: Mapping[str, str]) -> Host:
    hbas = tuple(convert_hba(h) for h in props.get("config.storageDevice.hostBusAdapter") or ())
    luns = tuple(convert_lun(lun) for lun in props.get("config.storageDevice.scsiLun") or ())
    paths = convert_paths(
        props.get("config.storageDevice.multipathInfo"),
        props.get("config.multipathState"),
        {lun.key: lun for lun in luns},
        {hba.key: hba for hba in hbas},
    )
    return Host(
        moref=mo,
        name=_text(props.get("name"), mo),
        cluster=clusters.get(moref(props.get("parent")), ""),
        connection_state=_text(props.get("runtime.connectionState"), "unknown"),
        maintenance=bool(props.get("runtime.inMaintenanceMode")),
        hbas=hbas,
        luns=luns,
        paths=paths,
    )


# --------------------------------------------------------------------------------------------
# datastores


def _remote(info: Any) -> str:
    nas = getattr(info, "nas", None)
    if nas is None:
        return ""
    host = getattr(nas, "remoteHost", None) or ""
    if not host:
        names = getattr(nas, "remoteHostNames", None) or ()
        host = ",".join(str(n) for n in names)
    path = getattr(nas, "remotePath", None) or ""
    return f"{host}:{path}" if host or path else ""


def _extents(info: Any) -> tuple[str, ...]:
    vmfs = getattr(info, "vmfs", None)
    if vmfs is None:
        return ()
    return tuple(str(e.diskName) for e in (vmfs.extent or ()) if e.diskName)


def convert_mount(mount: Any) -> Mount:
    info = mount.mountInfo
    return Mount(
        host=moref(mount.key),
        mounted=bool(info.mounted) if info is not None and info.mounted is not None else True,
        accessible=bool(info.accessible) if info is not None and info.accessible is not None else True,
        inaccessible_reason=_text(getattr(info, "inaccessibleReason", None)),
    )


def convert_datastore(mo: str, props: Mapping[str, Any]) -> Datastore:
    summary = props.get("summary")
    info = props.get("info")
    return Datastore(
        moref=mo,
        name=_text(props.get("name") or getattr(summary, "name", None), mo),
        kind=_text(getattr(summary, "type", None), "OTHER"),
        url=_text(getattr(summary, "url", None) or getattr(info, "url", None)),
        accessible=bool(getattr(summary, "accessible", True)) if summary is not None else True,
        extents=_extents(info),
        remote=_remote(info),
        capacity_bytes=int(getattr(summary, "capacity", 0) or 0),
        free_bytes=int(getattr(summary, "freeSpace", 0) or 0),
        mounts=tuple(convert_mount(m) for m in props.get("host") or ()),
    )


# --------------------------------------------------------------------------------------------
# virtual machines

_CONTROLLER_KINDS: tuple[tuple[tuple[type, ...], str], ...] = (
    (_vim_type("vm.device.ParaVirtualSCSIController"), "pvscsi"),
    (_vim_type("vm.device.VirtualLsiLogicSASController"), "lsilogic-sas"),
    (_vim_type("vm.device.VirtualLsiLogicController"), "lsilogic"),
    (_vim_type("vm.device.VirtualBusLogicController"), "buslogic"),
    (_vim_type("vm.device.VirtualNVMEController"), "nvme"),
    (_vim_type("vm.device.VirtualAHCIController", "vm.device.VirtualSATAController"), "sata"),
    (_vim_type("vm.device.VirtualIDEController"), "ide"),
)

_RDM = _vim_type("vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo")
_VMDK = _vim_type(
    "vm.device.VirtualDisk.FlatVer2BackingInfo",
    "vm.device.VirtualDisk.SeSparseBackingInfo",
    "vm.device.VirtualDisk.SparseVer2BackingInfo",
    "vm.device.VirtualDisk.FlatVer1BackingInfo",
    "vm.device.VirtualDisk.SparseVer1BackingInfo",
)
_DISK = _vim_type("vm.device.VirtualDisk")
_CONTROLLER = _vim_type("vm.device.VirtualController")

_DS_NAME = re.compile(r"^\[([^\]]*)\]")


def controller_kind(device: Any) -> str:
    for types, kind in _CONTROLLER_KINDS:
        if types and isinstance(device, types):
            return kind
    return "other"


def _backing_chain(backing: Any) -> list[Any]:
    chain = []
    seen = set()
    while backing is not None and id(backing) not in seen:
        seen.add(id(backing))
        chain.append(backing)
        backing = getattr(backing, "parent", None)
    return chain


def convert_disk(device: Any, controllers: Mapping[int, tuple[str, int]],
                 datastores_by_name: Mapping[str, str]) -> Disk:
    kind, bus = controllers.get(device.controllerKey, ("other", -1))
    chain = _backing_chain(device.backing)
    files: list[str] = []
    datastores: list[str] = []
    for link in chain:
        name = getattr(link, "fileName", None)
        if name:
            files.append(str(name))
        ds = moref(getattr(link, "datastore", None))
        if not ds and name:
            match = _DS_NAME.match(str(name))
            ds = datastores_by_name.get(match.group(1), "") if match else ""
        if ds and ds not in datastores:
            datastores.append(ds)
    rdm = next((link for link in chain if _RDM and isinstance(link, _RDM)), None)
    if rdm is not None:
        mode = _text(getattr(rdm, "compatibilityMode", None))
        backing = "rdm_physical" if mode == "physicalMode" else "rdm_virtual"
    elif chain and _VMDK and isinstance(chain[0], _VMDK):
        backing = "vmdk"
    else:
        backing = "other"
    capacity = getattr(device, "capacityInBytes", None)
    if not capacity:
        capacity = int(getattr(device, "capacityInKB", 0) or 0) * 1024
    label = getattr(getattr(device, "deviceInfo", None), "label", None)
    return Disk(
        key=int(device.key),
        label=_text(label, f"disk-{device.key}"),
        controller=kind,
        bus=bus,
        unit=int(device.unitNumber) if device.unitNumber is not None else -1,
        capacity_bytes=int(capacity or 0),
        backing=backing,
        uuid=_text(getattr(chain[0], "uuid", None)) if chain else "",
        files=tuple(files),
        datastores=tuple(datastores),
        lun_uuid=_text(getattr(rdm, "lunUuid", None)) if rdm is not None else "",
        device_name=_text(getattr(rdm, "deviceName", None)) if rdm is not None else "",
    )


def convert_disks(devices: Iterable[Any] | None, datastores_by_name: Mapping[str, str]) -> tuple[Disk, ...]:
    devices = list(devices or ())
    controllers = {
        int(d.key): (controller_kind(d), int(d.busNumber) if d.busNumber is not None else -1)
        for d in devices
        if _CONTROLLER and isinstance(d, _CONTROLLER)
    }
    disks = [convert_disk(d, controllers, datastores_by_name) for d in devices if _DISK and isinstance(d, _DISK)]
    return tuple(sorted(disks, key=lambda d: (d.controller, d.bus, d.unit, d.key)))


def convert_guestinfo(extra_config: Iterable[Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for option in extra_config or ():
        key = _text(getattr(option, "key", None))
        if key.lower().startswith(GUESTINFO_PREFIX):
            value = getattr(option, "value", None)
            out[key] = "" if value is None else str(value)
    return out


def convert_vm(mo: str, props: Mapping[str, Any], datastores_by_name: Mapping[str, str]) -> Vm:
    return Vm(
        moref=mo,
        name=_text(props.get("name"), mo),
        uuid=_text(props.get("config.instanceUuid")),
        power_state=_text(props.get("runtime.powerState"), "unknown"),
        host=moref(props.get("runtime.host")),
        disks=convert_disks(props.get("config.hardware.device"), datastores_by_name),
        guestinfo=convert_guestinfo(props.get("config.extraConfig")),
    )


# --------------------------------------------------------------------------------------------
# the whole inventory


def cluster_names(records: Mapping[str, Record]) -> dict[str, str]:
    return {mo: _text(r.props.get("name"), mo) for mo, r in records.items() if r.kind == CLUSTER}


def datastore_names(records: Mapping[str, Record]) -> dict[str, str]:
    """Datastore name -> moref (to resolve a ``[name] path`` file whose backing lacks ``datastore``)."""
    return {_text(r.props.get("name")): mo for mo, r in records.items() if r.kind == DATASTORE}


def convert_record(mo: str, record: Record, clusters: Mapping[str, str],
                   ds_by_name: Mapping[str, str]) -> Host | Datastore | Vm | None:
    if record.kind == HOST:
        return convert_host(mo, record.props, clusters)
    if record.kind == DATASTORE:
        return convert_datastore(mo, record.props)
    if record.kind == VM:
        return convert_vm(mo, record.props, ds_by_name)
    return None


def build_inventory(records: Mapping[str, Record]) -> Inventory:
    """All records -> one Inventory."""
    clusters = cluster_names(records)
    ds_by_name = datastore_names(records)
    hosts: dict[str, Host] = {}
    datastores: dict[str, Datastore] = {}
    vms: dict[str, Vm] = {}
    for mo, record in records.items():
        model = convert_record(mo, record, clusters, ds_by_name)
        if isinstance(model, Host):
            hosts[mo] = model
        elif isinstance(model, Datastore):
            datastores[mo] = model
        elif isinstance(model, Vm):
            vms[mo] = model
    return Inventory(hosts=hosts, datastores=datastores, vms=vms)
