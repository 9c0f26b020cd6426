"""PropertyCollector results -> model objects: pure functions, no I/O.

Input: per object, a dict of property path -> value, where values are the pyVmomi data objects the
collector returned (``vim.host.FibreChannelHba``, ``vim.vm.device.VirtualDisk`` ...). Output: the
plain, immutable :mod:`vsguesttruth.model` types; no pyVmomi object survives the conversion
(managed object references become their moref strings, enums and strings become ``str``).

The property paths asked for are declared here, next to the code that reads them, so the two
cannot drift apart.
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, NamedTuple

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
        "runtime.inQuarantineMode",  # Proactive HA's quarantine (vSphere 6.5)
        "config.storageDevice.hostBusAdapter",
        "config.storageDevice.scsiLun",
        # per LUN: its paths with state, isWorkingPath and target, the path selection policy and SATP;
        # only devices the native multipathing plug-in (NMP) claims have an entry
        "config.storageDevice.multipathInfo",
        "config.multipathState",  # path states by path name, for every plug-in; preferred when present
        # NVMe adapters -> controllers -> namespaces: the paths of NVMe devices (claimed by HPP, so not in
        # multipathInfo); absent on hosts without NVMe
        "config.storageDevice.nvmeTopology",
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
        "config.version",  # virtual hardware version: VM data sets need vmx-20 or later
    ),
}

#: Property paths a vCenter knows only from an API version on: left out of the request to an older one (it
#: would refuse the whole request with InvalidProperty).
SINCE: Mapping[str, str] = {"config.storageDevice.nvmeTopology": "vim.version.v7_0"}


def properties_for(version: str | None) -> Mapping[str, tuple[str, ...]]:
    """:data:`PROPERTIES` as a session of API ``version`` (``vim.version.v8_0_2_0``) may ask for them."""
    from pyVmomi import VmomiSupport

    if not version:
        return PROPERTIES
    dropped = {path for path, since in SINCE.items() if not VmomiSupport.IsChildVersion(version, since)}
    if not dropped:
        return PROPERTIES
    return {kind: tuple(p for p in paths if p not in dropped) for kind, paths in PROPERTIES.items()}


#: pyVmomi types of the managed objects above, for PropertySpec/ContainerView.
VIM_TYPES: Mapping[str, type] = {
    HOST: vim.HostSystem,
    CLUSTER: vim.ClusterComputeResource,
    DATASTORE: vim.Datastore,
    VM: vim.VirtualMachine,
}

GUESTINFO_PREFIX = "guestinfo.vsguesttruth."

_intern = sys.intern


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


@functools.lru_cache(maxsize=65536)  # the same few thousand WWNs, converted again with every change of a host
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
        # FC: a long; SAS: a hex string (HostSerialAttachedHba.nodeWorldWideName)
        wwnn=format_wwn(getattr(hba, "nodeWorldWideName", None)),
        protocol=_text(getattr(hba, "storageProtocol", None)),
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


def _target(transport: Any) -> tuple[str, str]:
    """The target port (FC WWPN or iSCSI name) and the target's node WWN (FC) of a path's transport."""
    if transport is None:
        return "", ""
    if _FC_TRANSPORT and isinstance(transport, _FC_TRANSPORT):
        return format_wwn(transport.portWorldWideName), format_wwn(transport.nodeWorldWideName)
    iqn = getattr(transport, "iScsiName", None)
    if iqn:
        return str(iqn), ""
    return "", ""


def _adapter_device(adapter_key: str, hbas_by_key: Mapping[str, Hba], path_name: str) -> str:
    hba = hbas_by_key.get(adapter_key)
    if hba:
        return hba.device
    # "key-vim.host.FibreChannelHba-vmhba2" -> "vmhba2"; else the path name's first field
    if "-" in adapter_key:
        return adapter_key.rsplit("-", 1)[-1]
    return path_name.split(":", 1)[0]


def _own_state(path: Any) -> str | None:
    # `state` (vSphere 4.0+) first, the older `pathState` as a fallback
    return getattr(path, "state", None) or getattr(path, "pathState", None)


class _PathInfo(NamedTuple):
    """One ``multipathInfo.lun[].path[]`` entry, reduced to what a Path needs."""

    name: str
    adapter: str  # HBA key
    target: str
    state: str | None  # the path's own state (multipathState wins when it names the path)
    io: bool | None = None  # isWorkingPath
    target_node: str = ""


class _UnitInfo(NamedTuple):
    """One ``multipathInfo.lun[]`` (a logical unit) and its paths, reduced."""

    lun: str  # ScsiLun key
    id: str
    paths: tuple[_PathInfo, ...]
    psp: str = ""  # policy.policy
    satp: str = ""  # storageArrayTypePolicy.policy


def _policy(policy: Any) -> str:
    return _intern(_text(getattr(policy, "policy", None))) if policy is not None else ""


def reduce_multipath_info(multipath_info: Any) -> tuple[_UnitInfo, ...]:
    """``HostMultipathInfo`` -> plain tuples (what :func:`assemble_paths` reads)."""
    units = []
    targets: dict[tuple[Any, Any], tuple[str, str]] = {}  # every LUN's paths share a few target ports
    for unit in getattr(multipath_info, "lun", None) or ():
        paths = []
        for path in unit.path or ():
            transport = getattr(path, "transport", None)
            key = (getattr(transport, "portWorldWideName", None), getattr(transport, "nodeWorldWideName", None))
            target = targets.get(key) if key != (None, None) else None
            if target is None:
                target = _target(transport)
                if key != (None, None):
                    targets[key] = target
            working = getattr(path, "isWorkingPath", None)
            paths.append(_PathInfo(_intern(_text(path.name)), _intern(_text(path.adapter)), target[0],
                                   _own_state(path), None if working is None else bool(working), target[1]))
        units.append(_UnitInfo(
            lun=_text(unit.lun),
            id=_text(getattr(unit, "id", None)),
            paths=tuple(paths),
            psp=_policy(getattr(unit, "policy", None)),
            satp=_policy(getattr(unit, "storageArrayTypePolicy", None)),
        ))
    return tuple(units)


class _NvmeNamespace(NamedTuple):
    """A namespace attached to one NVMe controller of an adapter (``config.storageDevice.nvmeTopology``)."""

    adapter: str  # HBA key
    controller: int  # controllerNumber
    name: str  # the namespace's name: the device's canonical name ("eui.*", "uuid.*")
    id: int  # namespace id: the L of the path's runtime name


def reduce_nvme_topology(topology: Any) -> tuple[_NvmeNamespace, ...]:
    """``HostNvmeTopology`` -> one entry per (adapter, controller, attached namespace)."""
    out = []
    for interface in getattr(topology, "adapter", None) or ():
        adapter = _text(getattr(interface, "adapter", None))
        for controller in getattr(interface, "connectedController", None) or ():
            number = int(getattr(controller, "controllerNumber", 0) or 0)
            for ns in getattr(controller, "attachedNamespace", None) or ():
                out.append(_NvmeNamespace(_intern(adapter), number, _intern(_text(getattr(ns, "name", None))),
                                          int(getattr(ns, "id", 0) or 0)))
    return tuple(out)


def reduce_multipath_state(multipath_state: Any) -> dict[str, str]:
    """``HostMultipathStateInfo`` -> path name -> path state."""
    states: dict[str, str] = {}
    for state in getattr(multipath_state, "path", None) or ():
        if state.name:
            states[_intern(str(state.name))] = _text(state.pathState)
    return states


def assemble_paths(units: Iterable[_UnitInfo] | None, states: Mapping[str, str] | None,
                   luns_by_key: Mapping[str, Lun], hbas_by_key: Mapping[str, Hba],
                   port_names: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    states = states or {}
    names = port_names or {}
    paths: list[Path] = []
    for unit in units or ():
        lun = luns_by_key.get(unit.lun)
        canonical = lun.canonical_name if lun else unit.id
        for info in unit.paths:
            name = info.name
            state = states[name] if name in states else info.state
            paths.append(Path(name=name, lun=canonical, hba=_adapter_device(info.adapter, hbas_by_key, name),
                              target=info.target, state=PathState.parse(state), io=info.io,
                              target_node=info.target_node, target_port_name=names.get(info.target, "")))
    return tuple(paths)


def _runtime_name(name: str) -> tuple[str, int] | None:
    """``vmhba64:C0:T1:L3`` -> ``("vmhba64", 3)``: the adapter and the LUN (NVMe: namespace id) numbers."""
    parts = name.split(":")
    if len(parts) != 4 or not parts[3][:1] == "L":
        return None
    try:
        return parts[0], int(parts[3][1:])
    except ValueError:
        return None


def nvme_paths(namespaces: Iterable[_NvmeNamespace], states: Mapping[str, str], claimed: set[str],
               luns: Iterable[Lun], hbas_by_key: Mapping[str, Hba]) -> tuple[tuple[Path, ...], set[str]]:
    """The paths of NVMe namespaces, which multipathInfo does not list (they are claimed by HPP):
    ``config.multipathState`` names every path with its state (runtime name adapter:C:T:L, L the namespace
    id), the NVMe topology says which adapters reach which namespace. Paths no other device claims are
    matched by adapter and namespace id. Returns the paths and the canonical names of the namespaces."""
    by_name = {lun.canonical_name for lun in luns}
    wanted: dict[tuple[str, int], str] = {}  # (adapter device, namespace id) -> device canonical name
    found: set[str] = set()
    for ns in namespaces:
        if ns.name in by_name:
            adapter = _adapter_device(ns.adapter, hbas_by_key, "")
            wanted.setdefault((adapter, ns.id), ns.name)
            found.add(ns.name)
    paths = []
    for name, state in states.items():
        if name in claimed:
            continue
        parsed = _runtime_name(name)
        device = wanted.get(parsed) if parsed else None
        if device is not None:
            paths.append(Path(name=name, lun=device, hba=parsed[0], target="", state=PathState.parse(state)))
    return tuple(paths), found


def convert_paths(
    multipath_info: Any,
    multipath_state: Any,
    luns_by_key: Mapping[str, Lun],
    hbas_by_key: Mapping[str, Hba],
) -> tuple[Path, ...]:
    """``multipathInfo.lun[].path[]`` -> Path; states from ``multipathState`` (by path name) if present."""
    return assemble_paths(reduce_multipath_info(multipath_info), reduce_multipath_state(multipath_state),
                          luns_by_key, hbas_by_key)


def assemble_host(mo: str, props: Mapping[str, Any], clusters: Mapping[str, str],
                  port_names: Mapping[str, str] | None = None) -> Host:
    """A Host from compact values (see :func:`compact`); ``port_names``: target WWPN -> the array's port name."""
    hbas = props.get("config.storageDevice.hostBusAdapter") or ()
    luns = props.get("config.storageDevice.scsiLun") or ()
    units = props.get("config.storageDevice.multipathInfo") or ()
    states = props.get("config.multipathState") or {}
    hbas_by_key = {hba.key: hba for hba in hbas}
    paths = assemble_paths(units, states, {lun.key: lun for lun in luns}, hbas_by_key, port_names)
    namespaces = props.get("config.storageDevice.nvmeTopology") or ()
    nvme: set[str] = set()
    if namespaces:
        more, nvme = nvme_paths(namespaces, states, {p.name for p in paths}, luns, hbas_by_key)
        paths += more
    if units or nvme:
        policies = {unit.lun: (unit.psp, unit.satp) for unit in units}
        luns = tuple(_claimed(lun, policies.get(lun.key), nvme) for lun in luns)
    return Host(
        moref=mo,
        name=_text(props.get("name"), mo),
        cluster=clusters.get(props.get("parent") or "", ""),
        connection_state=_text(props.get("runtime.connectionState"), "unknown"),
        maintenance=bool(props.get("runtime.inMaintenanceMode")),
        quarantine=bool(props.get("runtime.inQuarantineMode")),
        hbas=hbas,
        luns=luns,
        paths=paths,
    )


def _claimed(lun: Lun, policy: tuple[str, str] | None, nvme: set[str]) -> Lun:
    """The LUN with who reports its paths: NMP (its multipathInfo entry, with PSP and SATP) or HPP."""
    if policy is not None:
        return replace(lun, path_selection_policy=policy[0], satp=policy[1], claimed_by="NMP")
    if lun.canonical_name in nvme:
        return replace(lun, claimed_by="HPP")
    return lun


def convert_host(mo: str, props: Mapping[str, Any], clusters: Mapping[str, str],
                 port_names: Mapping[str, str] | None = None) -> Host:
    return assemble_host(mo, compact(HOST, props), clusters, port_names)


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


_MOUNTS: dict[tuple[str, bool, bool, str], Mount] = {}


def convert_mount(mount: Any) -> Mount:
    """One ``DatastoreHostMount``. A shared datastore's mount list (one per host, 2,000 of them) comes whole with
    every change of any mount: the mounts that did not change are the same objects as before."""
    info = mount.mountInfo
    key = (moref(mount.key),
           bool(info.mounted) if info is not None and info.mounted is not None else True,
           bool(info.accessible) if info is not None and info.accessible is not None else True,
           _text(getattr(info, "inaccessibleReason", None)))
    found = _MOUNTS.get(key)
    if found is None:
        if len(_MOUNTS) > 100_000:  # hosts x states seen: bounded, forgotten at once when exceeded
            _MOUNTS.clear()
        found = _MOUNTS[key] = Mount(_intern(key[0]), key[1], key[2], _intern(key[3]))
    return found


class _Summary(NamedTuple):
    name: str | None
    type: str | None
    url: str | None
    accessible: bool
    capacity: int
    free: int


class _Info(NamedTuple):
    url: str | None
    extents: tuple[str, ...]
    remote: str


def reduce_summary(summary: Any) -> _Summary:
    return _Summary(getattr(summary, "name", None), getattr(summary, "type", None), getattr(summary, "url", None),
                    bool(getattr(summary, "accessible", True)), int(getattr(summary, "capacity", 0) or 0),
                    int(getattr(summary, "freeSpace", 0) or 0))


def reduce_info(info: Any) -> _Info:
    return _Info(getattr(info, "url", None), _extents(info), _remote(info))


def assemble_datastore(mo: str, props: Mapping[str, Any]) -> Datastore:
    """A Datastore from compact values (see :func:`compact`)."""
    summary: _Summary | None = props.get("summary")
    info: _Info | None = props.get("info")
    return Datastore(
        moref=mo,
        name=_text(props.get("name") or (summary.name if summary else None), mo),
        kind=_text(summary.type if summary else None, "OTHER"),
        url=_text((summary.url if summary else None) or (info.url if info else None)),
        accessible=summary.accessible if summary is not None else True,
        extents=info.extents if info else (),
        remote=info.remote if info else "",
        capacity_bytes=summary.capacity if summary else 0,
        free_bytes=summary.free if summary else 0,
        mounts=props.get("host") or (),
    )


def convert_datastore(mo: str, props: Mapping[str, Any]) -> Datastore:
    return assemble_datastore(mo, compact(DATASTORE, props))


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


class _DiskInfo(NamedTuple):
    """A disk reduced from its device: the Disk, and (only when a file's datastore must be found by name)
    the chain's ``(datastore moref, datastore name from the file name)`` links to resolve it."""

    disk: Disk
    links: tuple[tuple[str, str | None], ...] | None


def _reduce_disk(device: Any, controllers: Mapping[int, tuple[str, int]]) -> _DiskInfo:
    kind, bus = controllers.get(device.controllerKey, ("other", -1))
    chain = _backing_chain(device.backing)
    files: list[str] = []
    links: list[tuple[str, str | None]] = []
    by_name = False
    for link in chain:
        name = getattr(link, "fileName", None)
        if name:
            files.append(str(name))
        ds = moref(getattr(link, "datastore", None))
        ds_name = None
        if not ds and name:
            match = _DS_NAME.match(str(name))
            if match:
                ds_name = match.group(1)
                by_name = True
        links.append((ds, ds_name))
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
    disk = Disk(
        key=int(device.key),
        label=_text(label, f"disk-{device.key}"),
        controller=kind,
        bus=bus,
        unit=int(device.unitNumber) if device.unitNumber is not None else -1,
        capacity_bytes=int(capacity or 0),
        backing=backing,
        uuid=_text(getattr(chain[0], "uuid", None)) if chain else "",
        files=tuple(files),
        datastores=() if by_name else _chain_datastores(links, {}),
        lun_uuid=_text(getattr(rdm, "lunUuid", None)) if rdm is not None else "",
        device_name=_text(getattr(rdm, "deviceName", None)) if rdm is not None else "",
    )
    return _DiskInfo(disk, tuple(links) if by_name else None)


def _chain_datastores(links: Iterable[tuple[str, str | None]], datastores_by_name: Mapping[str, str]) -> tuple[str, ...]:
    datastores: list[str] = []
    for ds, ds_name in links:
        if not ds and ds_name is not None:
            ds = datastores_by_name.get(ds_name, "")
        if ds and ds not in datastores:
            datastores.append(_intern(ds))
    return tuple(datastores)


def _resolve_disk(info: _DiskInfo, datastores_by_name: Mapping[str, str]) -> Disk:
    if info.links is None:
        return info.disk
    return replace(info.disk, datastores=_chain_datastores(info.links, datastores_by_name))


def convert_disk(device: Any, controllers: Mapping[int, tuple[str, int]],
                 datastores_by_name: Mapping[str, str]) -> Disk:
    return _resolve_disk(_reduce_disk(device, controllers), datastores_by_name)


def reduce_devices(devices: Iterable[Any] | None) -> tuple[_DiskInfo, ...]:
    """``config.hardware.device`` -> its disks (device order: controller, bus, unit, key), reduced."""
    devices = list(devices or ())
    controllers = {
        int(d.key): (controller_kind(d), int(d.busNumber) if d.busNumber is not None else -1)
        for d in devices
        if _CONTROLLER and isinstance(d, _CONTROLLER)
    }
    disks = [_reduce_disk(d, controllers) for d in devices if _DISK and isinstance(d, _DISK)]
    return tuple(sorted(disks, key=lambda i: (i.disk.controller, i.disk.bus, i.disk.unit, i.disk.key)))


def convert_disks(devices: Iterable[Any] | None, datastores_by_name: Mapping[str, str]) -> tuple[Disk, ...]:
    return tuple(_resolve_disk(info, datastores_by_name) for info in reduce_devices(devices))


def convert_guestinfo(extra_config: Iterable[Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for option in extra_config or ():
        key = _text(getattr(option, "key", None))
        if key.lower().startswith(GUESTINFO_PREFIX):
            value = getattr(option, "value", None)
            out[key] = "" if value is None else str(value)
    return out


def assemble_vm(mo: str, props: Mapping[str, Any], datastores_by_name: Mapping[str, str]) -> Vm:
    """A Vm from compact values (see :func:`compact`)."""
    return Vm(
        moref=mo,
        name=_text(props.get("name"), mo),
        uuid=_text(props.get("config.instanceUuid")),
        power_state=_text(props.get("runtime.powerState"), "unknown"),
        host=props.get("runtime.host") or "",
        disks=tuple(_resolve_disk(info, datastores_by_name) for info in props.get("config.hardware.device") or ()),
        guestinfo=props.get("config.extraConfig") or {},
        hardware_version=_text(props.get("config.version")),
    )


def convert_vm(mo: str, props: Mapping[str, Any], datastores_by_name: Mapping[str, str]) -> Vm:
    return assemble_vm(mo, compact(VM, props), datastores_by_name)


# --------------------------------------------------------------------------------------------
# compact values: what the collector and the watch keep per object instead of pyVmomi objects
#
# Each requested property's pyVmomi value is reduced, as it arrives, to the plain values the model
# needs (model objects where they need nothing else: Hba, Lun, Mount; small tuples otherwise), and
# the pyVmomi objects are dropped. Assembling a model object from compact values is cheap, so the
# watch re-assembles an object on every change without holding megabytes of pyVmomi data.


def _str_or_none(value: Any) -> str | None:
    return None if value is None else _intern(str(value))


_REDUCERS: Mapping[str, Mapping[str, Any]] = {
    HOST: {
        "name": _str_or_none,
        "parent": lambda v: _intern(moref(v)) if v is not None else None,
        "runtime.connectionState": _str_or_none,
        "runtime.inMaintenanceMode": lambda v: None if v is None else bool(v),
        "runtime.inQuarantineMode": lambda v: None if v is None else bool(v),
        "config.storageDevice.hostBusAdapter": lambda v: tuple(convert_hba(h) for h in v or ()),
        "config.storageDevice.scsiLun": lambda v: tuple(convert_lun(lun) for lun in v or ()),
        "config.storageDevice.multipathInfo": reduce_multipath_info,
        "config.multipathState": reduce_multipath_state,
        "config.storageDevice.nvmeTopology": reduce_nvme_topology,
    },
    CLUSTER: {"name": _str_or_none},
    DATASTORE: {
        "name": _str_or_none,
        "summary": lambda v: None if v is None else reduce_summary(v),
        "info": lambda v: None if v is None else reduce_info(v),
        "host": lambda v: tuple(convert_mount(m) for m in v or ()),
    },
    VM: {
        "name": _str_or_none,
        "config.instanceUuid": _str_or_none,
        "runtime.powerState": _str_or_none,
        "runtime.host": lambda v: _intern(moref(v)) if v is not None else None,
        "config.hardware.device": reduce_devices,
        "config.extraConfig": convert_guestinfo,
        "config.version": _str_or_none,
    },
}


def reduce_value(kind: str, path: str, value: Any) -> Any:
    """One requested property's pyVmomi value -> its compact value (None stays None)."""
    if value is None:
        return None
    reducer = _REDUCERS.get(kind, {}).get(path)
    return value if reducer is None else reducer(value)


def compact(kind: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """``{path: pyVmomi value}`` -> ``{path: compact value}`` for the requested paths of ``kind``."""
    reducers = _REDUCERS.get(kind, {})
    return {path: (None if value is None else reducers[path](value)) for path, value in props.items()
            if path in reducers}


def compact_record(kind: str, props: Mapping[str, Any]) -> Record:
    return Record(kind=kind, props=compact(kind, props))


# --------------------------------------------------------------------------------------------
# the whole inventory


def cluster_names(records: Mapping[str, Record]) -> dict[str, str]:
    return {mo: _text(r.props.get("name"), mo) for mo, r in records.items() if r.kind == CLUSTER}


def datastore_names(records: Mapping[str, Record]) -> dict[str, str]:
    """Datastore name -> moref (to resolve a ``[name] path`` file whose backing lacks ``datastore``)."""
    return {_text(r.props.get("name")): mo for mo, r in records.items() if r.kind == DATASTORE}


def names_hold(names: Mapping[str, str], records: Mapping[str, Record], datastores: Iterable[str]) -> bool:
    """Whether :func:`datastore_names` still holds after a change of ``datastores`` (their mounts changed:
    none was renamed, added or removed), without a walk of every record."""
    for mo in datastores:
        record = records.get(mo)
        if record is None or names.get(_text(record.props.get("name"))) != mo:
            return False
    return True


def assemble_record(mo: str, record: Record, clusters: Mapping[str, str],
                    ds_by_name: Mapping[str, str], port_names: Mapping[str, str] | None = None
                    ) -> Host | Datastore | Vm | None:
    """A model object from a record of compact values (:func:`compact_record`)."""
    if record.kind == HOST:
        return assemble_host(mo, record.props, clusters, port_names)
    if record.kind == DATASTORE:
        return assemble_datastore(mo, record.props)
    if record.kind == VM:
        return assemble_vm(mo, record.props, ds_by_name)
    return None


def convert_record(mo: str, record: Record, clusters: Mapping[str, str],
                   ds_by_name: Mapping[str, str]) -> Host | Datastore | Vm | None:
    """A model object from a record of pyVmomi values."""
    return assemble_record(mo, compact_record(record.kind, record.props), clusters, ds_by_name)


def assemble_inventory(records: Mapping[str, Record], port_names: Mapping[str, str] | None = None) -> Inventory:
    """All records of compact values -> one Inventory."""
    clusters = cluster_names(records)
    ds_by_name = datastore_names(records)
    hosts: dict[str, Host] = {}
    datastores: dict[str, Datastore] = {}
    vms: dict[str, Vm] = {}
    for mo, record in records.items():
        model = assemble_record(mo, record, clusters, ds_by_name, port_names)
        if isinstance(model, Host):
            hosts[mo] = model
        elif isinstance(model, Datastore):
            datastores[mo] = model
        elif isinstance(model, Vm):
            vms[mo] = model
    return Inventory(hosts=hosts, datastores=datastores, vms=vms)


def build_inventory(records: Mapping[str, Record]) -> Inventory:
    """All records of pyVmomi values -> one Inventory."""
    return assemble_inventory({mo: compact_record(r.kind, r.props) for mo, r in records.items()})
