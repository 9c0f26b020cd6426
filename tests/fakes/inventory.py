"""Model objects for tests: the lab's default topology as plain data, and the lab's faults as functions.

Names follow lab/README.md (clusters cl-a/cl-b, hosts esx-a01..b03, vmhba0 local, vmhba2/vmhba3 on
fabrics A/B, array A ports A-ctl0-p0.., LUNs gold01, silver01, span01+span02, bronze01, rdm01, replica
gold01-r, NFS nfs01), so a failing unit test reads like a lab scenario. Faults return a new Inventory.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable

from hypothesis import strategies as st

from datetime import datetime, timezone

from vsguesttruth.model import Datastore, DeviceEvent, Disk, Hba, Host, Inventory, Lun, Mount, Path, PathState, Vm
from vsguesttruth.truth import DiskTruth

EVENT_TIME = datetime(2024, 5, 1, 10, 42, 1, tzinfo=timezone.utc)  # when set_lun's faults began
EVENT_TYPES = {"pdl": "esx.problem.scsi.device.state.permanentloss", "apd": "esx.problem.storage.apd.start",
               "apd_timeout": "esx.problem.storage.apd.timeout"}

CLUSTERS = {"cl-a": ("esx-a01", "esx-a02", "esx-a03"), "cl-b": ("esx-b01", "esx-b02", "esx-b03")}
HOSTS = tuple(name for names in CLUSTERS.values() for name in names)

# lun name -> (array, lun id, media, vaai, clusters that see it)
ARRAY_LUNS = {
    "gold01": ("A", 1, "ssd", "vStorageSupported", ("cl-a", "cl-b")),
    "silver01": ("A", 2, "hdd", "vStorageUnsupported", ("cl-a", "cl-b")),
    "span01": ("A", 3, "hdd", "vStorageUnsupported", ("cl-a", "cl-b")),
    "span02": ("A", 4, "hdd", "vStorageUnsupported", ("cl-a", "cl-b")),
    "bronze01": ("A", 5, "hdd", "vStorageUnsupported", ("cl-b",)),
    "rdm01": ("A", 6, "ssd", "vStorageSupported", ("cl-a", "cl-b")),
    "gold01-r": ("B", 1, "ssd", "vStorageSupported", ("cl-a", "cl-b")),
}
LOCAL_LUN = "mpx.vmhba0:C0:T0:L0"  # like on real servers, the same name on every host
FABRIC_PORT = {"vmhba2": 0, "vmhba3": 1}  # fabric A reaches port 0 of each controller, fabric B port 1

# datastore name -> (kind, extents as lun names)
DATASTORES = {
    "ds-gold": ("VMFS", ("gold01",)),
    "ds-gold-replica": ("VMFS", ("gold01-r",)),
    "ds-silver": ("VMFS", ("silver01",)),
    "ds-span": ("VMFS", ("span01", "span02")),
    "ds-bronze": ("VMFS", ("bronze01",)),
    "nfs01": ("NFS", ()),
}

# vm name -> (host name, disks as (label, datastore names of the chain, newest first) or ("rdm", lun name))
VMS = {
    "web01": ("esx-a01", (("Hard disk 1", ("ds-gold",)), ("Hard disk 2", ("ds-silver",)))),
    "web02": ("esx-a02", (("Hard disk 1", ("ds-gold",)),)),
    "web03": ("esx-b01", (("Hard disk 1", ("ds-gold",)),)),
    "db01": ("esx-a01", (("Hard disk 1", ("ds-gold",)), ("Hard disk 2", ("rdm", "rdm01")))),
    "app01": ("esx-a02", (("Hard disk 1", ("ds-span",)),)),
    "snap01": ("esx-a03", (("Hard disk 1", ("ds-silver", "ds-gold")),)),
    "bk01": ("esx-b01", (("Hard disk 1", ("ds-bronze",)),)),
    "files01": ("esx-b02", (("Hard disk 1", ("nfs01",)),)),
    "local01": ("esx-a01", (("Hard disk 1", ("local-esx-a01",)),)),
}


def naa(lun: str) -> str:
    """The canonical name of a lab LUN: ``naa.`` and 32 hex digits, array and LUN id at the end."""
    if lun == LOCAL_LUN:
        return lun
    array, lun_id = ARRAY_LUNS[lun][:2]
    return f"naa.600601600a0b{'0a' if array == 'A' else '0b'}{'0' * 14}{lun_id:04x}"


def lun_uuid(lun: str) -> str:
    return "0200000000" + naa(lun).removeprefix("naa.") + "565241494420"


def host_moref(name: str) -> str:
    return f"host-{HOSTS.index(name) + 10}"


def ds_moref(name: str) -> str:
    if name.startswith("local-"):
        return f"datastore-{HOSTS.index(name.removeprefix('local-')) + 100}"
    return f"datastore-{list(DATASTORES).index(name) + 10}"


def vm_moref(name: str) -> str:
    return f"vm-{list(VMS).index(name) + 50}"


def array_paths(lun: str) -> tuple[Path, ...]:
    """The 4 paths of one host to an array LUN, as an asymmetric ALUA array under Round Robin reports them
    (lab/README.md, "Multipathing"): all ``active``; the owning controller's (optimized) carry I/O, the other
    controller's (non-optimized) wait. Array B is symmetric: every path optimized, every one carrying I/O."""
    array, lun_id = ARRAY_LUNS[lun][:2]
    owner = lun_id % 2
    first_target = 0 if array == "A" else 2
    return tuple(
        Path(
            name=f"{hba}:C0:T{first_target + ctl}:L{lun_id}", lun=naa(lun), hba=hba,
            target=f"{array}-ctl{ctl}-p{port}", state=PathState.ACTIVE, io=ctl == owner or array == "B",
            target_node=f"50:06:01:60:{'0a' if array == 'A' else '0b'}:00:00:00",
            target_port_name=f"{array}-ctl{ctl}-p{port}",
        )
        for hba, port in FABRIC_PORT.items()
        for ctl in (0, 1)
    )


def make_lun(lun: str) -> Lun:
    array, _, media, vaai = ARRAY_LUNS[lun][:4]
    return Lun(canonical_name=naa(lun), uuid=lun_uuid(lun), key=f"key-vim.host.ScsiDisk-{naa(lun)}",
               display_name=lun, vendor="DGC", model="VRAID", media=media, vaai=vaai, capacity_bytes=2**40,
               path_selection_policy="VMW_PSP_RR", satp="VMW_SATP_ALUA" if array == "A" else "VMW_SATP_DEFAULT_AA",
               claimed_by="NMP")


def make_host(name: str, cluster: str) -> Host:
    luns = [lun for lun, spec in ARRAY_LUNS.items() if cluster in spec[4]]
    local = Lun(canonical_name=LOCAL_LUN, uuid=f"0000000000766d686261303a303a30{HOSTS.index(name):02x}",
                display_name="Local disk", media="ssd", local=True, capacity_bytes=2**38,
                path_selection_policy="VMW_PSP_FIXED", satp="VMW_SATP_LOCAL", claimed_by="NMP")
    return Host(
        moref=host_moref(name), name=name, cluster=cluster,
        hbas=(
            Hba(device="vmhba0", key="key-vim.host.BlockHba-vmhba0", kind="sas", status="unknown"),
            Hba(device="vmhba2", key="key-vim.host.FibreChannelHba-vmhba2", kind="fc", status="online",
                wwpn=f"20:00:00:25:b5:0a:00:{HOSTS.index(name):02x}"),
            Hba(device="vmhba3", key="key-vim.host.FibreChannelHba-vmhba3", kind="fc", status="online",
                wwpn=f"20:00:00:25:b5:0b:00:{HOSTS.index(name):02x}"),
            Hba(device="vmhba1", key="key-vim.host.BlockHba-vmhba1", kind="block", status="unknown"),  # idle IDE
        ),
        luns=(local, *(make_lun(lun) for lun in luns)),
        paths=(Path("vmhba0:C0:T0:L0", LOCAL_LUN, "vmhba0", "", PathState.ACTIVE, io=True),
               *(p for lun in luns for p in array_paths(lun))),
    )


def make_disk(index: int, label: str, chain: tuple[str, ...], vm: str) -> Disk:
    disk = Disk(key=2000 + index, label=label, controller="pvscsi", bus=0, unit=index,
                capacity_bytes=40 * 2**30, uuid=f"6000C29{index:025x}")
    if chain[0] == "rdm":  # the mapping file lives on ds-gold; I/O goes to the LUN
        return replace(disk, backing="rdm_physical", lun_uuid=lun_uuid(chain[1]),
                       device_name=f"/vmfs/devices/disks/{naa(chain[1])}", files=(f"[ds-gold] {vm}/{vm}_1.vmdk",),
                       datastores=(ds_moref("ds-gold"),))
    files = tuple(f"[{ds}] {vm}/{vm}-{n:06d}.vmdk" for n, ds in enumerate(chain[:-1], 1)) + (
        f"[{chain[-1]}] {vm}/{vm}.vmdk",)
    return replace(disk, files=files, datastores=tuple(ds_moref(ds) for ds in chain))


def lab_inventory() -> Inventory:
    """The lab's default topology, every path and LUN fine."""
    hosts = {host_moref(h): make_host(h, cl) for cl, names in CLUSTERS.items() for h in names}
    datastores = {}
    for name, (kind, extents) in DATASTORES.items():
        clusters = set.intersection(*(set(ARRAY_LUNS[lun][4]) for lun in extents)) if extents else set(CLUSTERS)
        mounts = tuple(Mount(host=host_moref(h)) for cl in sorted(clusters) for h in CLUSTERS[cl])
        datastores[ds_moref(name)] = Datastore(
            moref=ds_moref(name), name=name, kind=kind, extents=tuple(naa(lun) for lun in extents),
            remote="nas01:/export/nfs01" if kind == "NFS" else "", mounts=mounts)
    for h in HOSTS:
        datastores[ds_moref(f"local-{h}")] = Datastore(
            moref=ds_moref(f"local-{h}"), name=f"local-{h}", kind="VMFS", extents=(LOCAL_LUN,),
            mounts=(Mount(host=host_moref(h)),))
    vms = {
        vm_moref(name): Vm(moref=vm_moref(name), name=name, uuid=f"5003{i:028x}", host=host_moref(host),
                           disks=tuple(make_disk(n, label, chain, name) for n, (label, chain) in enumerate(disks)))
        for i, (name, (host, disks)) in enumerate(VMS.items())
    }
    return Inventory(hosts=hosts, datastores=datastores, vms=vms)


# ---------------------------------------------------------------------------------------------------
# Faults, as the lab's control API injects them (lab/README.md, "Fault semantics")


def map_paths(inv: Inventory, change: Callable[[Host, Path], Path], hosts: Iterable[str] = HOSTS) -> Inventory:
    for name in hosts:
        host = inv.hosts[host_moref(name)]
        inv = inv.with_host(replace(host, paths=tuple(change(host, p) for p in host.paths)))
    return inv


def set_path(inv: Inventory, host: str, path: str, state: str) -> Inventory:
    """POST /v1/fault/path."""
    return map_paths(inv, lambda h, p: replace(p, state=PathState(state), io=p.io and state == "active")
                     if p.name == path else p, [host])


def set_hba(inv: Inventory, host: str, hba: str, state: str) -> Inventory:
    """POST /v1/fault/hba: cable pull, the HBA offline and its paths dead ("ok" undoes)."""
    h = inv.hosts[host_moref(host)]
    dead = state == "dead"
    inv = inv.with_host(replace(h, hbas=tuple(
        replace(a, status="offline" if dead else "online") if a.device == hba else a for a in h.hbas)))
    original = {p.name: p for p in make_host(host, h.cluster).paths}
    return map_paths(inv, lambda _, p: (replace(p, state=PathState.DEAD, io=False) if dead else original[p.name])
                     if p.hba == hba else p, [host])


def set_target(inv: Inventory, target: str, state: str) -> Inventory:
    """POST /v1/fault/target: array port or switch failure, its paths dead on every host."""
    return map_paths(inv, lambda h, p: replace(p, state=PathState(state), io=False) if p.target == target else p)


def set_lun(inv: Inventory, lun: str, state: str, operational_state: str = "", events: bool = True) -> Inventory:
    """POST /v1/fault/lun: ``pdl``, ``apd``, ``apd_timeout`` (``ok`` is left to ``lab_inventory()``): every path
    dead, the LUN's operational state (the documented default, or ``operational_state``), the mounts' reason,
    and (``events``) the storage events the hosts post: permanentloss for a PDL, apd.start (and apd.timeout)."""
    name = naa(lun)
    reason = {"pdl": "PermanentDeviceLoss", "apd": "AllPathsDown_Start", "apd_timeout": "AllPathsDown_Timeout"}[state]
    reading = operational_state or {"pdl": "lostCommunication", "apd": "ok", "apd_timeout": "error"}[state]
    inv = map_paths(inv, lambda h, p: replace(p, state=PathState.DEAD, io=False) if p.lun == name else p)
    opened = []
    for moref, host in inv.hosts.items():
        if host.lun(name) is None:
            continue
        inv = inv.with_host(replace(host, luns=tuple(
            replace(x, operational_state=(reading,)) if x.canonical_name == name else x for x in host.luns)))
        kinds = {"pdl": ("pdl",), "apd": ("apd",), "apd_timeout": ("apd_timeout",)}[state]
        opened += [DeviceEvent(host=moref, device=name, kind=k, since=EVENT_TIME, event_type=EVENT_TYPES[k], key=1)
                   for k in kinds]
    if events:
        by_key: dict = {}
        for event in opened:
            by_key.setdefault((event.host, event.device), []).append(event)
        inv = replace(inv, device_events={**inv.device_events, **{k: tuple(v) for k, v in by_key.items()}})
    for ds in list(inv.datastores.values()):
        if name in ds.extents:
            inv = inv.with_datastore(replace(ds, accessible=False, mounts=tuple(
                replace(m, accessible=False, inaccessible_reason=reason) for m in ds.mounts)))
    return inv


def set_host(inv: Inventory, host: str, state: str) -> Inventory:
    """POST /v1/fault/host."""
    return inv.with_host(replace(inv.hosts[host_moref(host)], connection_state=state))


def set_mount(inv: Inventory, ds: str, host: str, accessible: bool, reason: str = "") -> Inventory:
    d = inv.datastores[ds_moref(ds)]
    return inv.with_datastore(replace(d, mounts=tuple(
        replace(m, accessible=accessible, inaccessible_reason=reason) if m.host == host_moref(host) else m
        for m in d.mounts)))


def drop_paths(inv: Inventory, host: str, hba: str) -> Inventory:
    """Zoning without one fabric: the host has no paths at all through ``hba``."""
    h = inv.hosts[host_moref(host)]
    return inv.with_host(replace(h, paths=tuple(p for p in h.paths if p.hba != hba)))


def move_vm(inv: Inventory, vm: str, host: str) -> Inventory:
    return inv.with_vm(replace(inv.vms[vm_moref(vm)], host=host_moref(host)))


# ---------------------------------------------------------------------------------------------------
# Looking results up by name


def find(truths: Iterable[DiskTruth], vm: str, label: str = "Hard disk 1") -> DiskTruth:
    return next(t for t in truths if t.vm_name == vm and t.label == label)


def verdicts(truths: Iterable[DiskTruth]) -> dict[tuple[str, str], str]:
    """(vm name, disk label) -> verdict value: compact to compare whole inventories."""
    return {(t.vm_name, t.label): t.verdict.value for t in truths}


# ---------------------------------------------------------------------------------------------------
# Any sequence of the lab's faults, for property tests (hypothesis)

FAULTS = st.lists(st.one_of(
    st.tuples(st.just("hba"), st.sampled_from(HOSTS), st.sampled_from(["vmhba2", "vmhba3"]), st.sampled_from(["dead", "ok"])),
    st.tuples(st.just("path"), st.sampled_from(HOSTS), st.sampled_from(list(ARRAY_LUNS)), st.integers(0, 3),
              st.sampled_from(["dead", "disabled", "active"])),
    st.tuples(st.just("target"), st.sampled_from(["A-ctl0-p0", "A-ctl0-p1", "A-ctl1-p0", "A-ctl1-p1"]), st.just("dead")),
    st.tuples(st.just("lun"), st.sampled_from(list(ARRAY_LUNS)), st.sampled_from(["pdl", "apd", "apd_timeout"])),
    st.tuples(st.just("host"), st.sampled_from(HOSTS), st.sampled_from(["disconnected", "notResponding", "connected"])),
    st.tuples(st.just("move"), st.sampled_from(list(VMS)), st.sampled_from(HOSTS)),
    st.tuples(st.just("mount"), st.sampled_from(["ds-gold", "ds-silver", "ds-span", "nfs01"]), st.sampled_from(HOSTS),
              st.booleans(), st.sampled_from(["", "AllPathsDown_Start", "PermanentDeviceLoss"])),
), max_size=4)


def apply(inv: Inventory, fault: tuple) -> Inventory:
    """One fault drawn from FAULTS, applied."""
    kind, *args = fault
    if kind == "hba":
        return set_hba(inv, *args)
    if kind == "target":
        return set_target(inv, *args)
    if kind == "lun":
        return set_lun(inv, *args)
    if kind == "path":  # one path of a host to a LUN (a flap), if the host sees the LUN
        host, lun, index, state = args
        return set_path(inv, host, array_paths(lun)[index].name, state)
    if kind == "host":
        return set_host(inv, *args)
    if kind == "mount":
        return set_mount(inv, *args)
    return move_vm(inv, *args)


def with_faults(current: Inventory, faults: Iterable[tuple]) -> Inventory:
    """The lab inventory with ``faults`` applied, keeping the guestinfo ``current`` holds (what was written)."""
    inv = lab_inventory()
    for fault in faults:
        inv = apply(inv, fault)
    return replace(inv, vms={m: replace(vm, guestinfo=current.vms[m].guestinfo) if m in current.vms else vm
                             for m, vm in inv.vms.items()})
