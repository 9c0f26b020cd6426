"""Which block device of this guest is which virtual disk of the state document.

Everything comes from sysfs (its root is configurable, so tests use a fake tree):

1. **By identity** when the disk's backing uuid is exposed to the guest (``disk.EnableUUID = TRUE``; an
   RDM in physical mode always shows the array LUN's own id). VMware presents the uuid
   ``6000C29f-dbaf-1b95-9e04-c95da08b305f`` as the SCSI NAA id ``naa.6000c29fdbaf1b959e04c95da08b305f``
   (``/sys/block/sdX/device/wwid``, VPD page 0x83) and as the unit serial (VPD page 0x80); NVMe shows it
   as the namespace's NGUID/EUI (``/sys/block/nvmeXnY/wwid``, ``nguid``). Methods ``wwid`` and ``serial``.
2. **By address** otherwise. ``/sys/block/sdX/device`` is the SCSI device ``H:C:T:L``; the SCSI host's
   driver (``/sys/class/scsi_host/hostH/proc_name``: ``vmw_pvscsi`` for pvscsi, ``mptspi`` for lsilogic,
   ``mptsas``/``mpt2sas``/``mpt3sas`` for lsilogic-sas, ``BusLogic``, ``ahci`` for SATA, ``ata_piix`` for
   IDE) gives the controller type. Kernel host numbers follow probe order, not the VM's bus numbers, so
   the controllers of one type are ordered by PCI address (VMware assigns PCI slots in bus order) and the
   disk's bus picks the Nth of them, N being the bus's rank among that type's buses in the document.
   The target is the unit number (SATA: the port is the unit, IDE: the channel is the bus; for
   lsilogic-sas the SAS driver numbers targets in discovery order, taken to follow the units). When the
   document gives the capacity, a device of another size is never taken; when the preferred controller
   has no fitting device, a unique device of that type at the same unit and of the same size is. NVMe:
   the Nth NVMe controller by PCI address, namespace id = unit + 1. Method ``scsi-address`` /
   ``nvme-address``. Otherwise ``unmatched``, with the reason in ``note``.

Pure stdlib; reads files only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PCI_RE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
HCTL_RE = re.compile(r"^(\d+):(\d+):(\d+):(\d+)$")
HOST_RE = re.compile(r"^host(\d+)$")
SD_RE = re.compile(r"^sd[a-z]+$")
NVME_RE = re.compile(r"^nvme(\d+)n(\d+)$")
NVME_CTRL_RE = re.compile(r"^nvme(\d+)$")
HEX_RE = re.compile(r"^[0-9a-f]+$")

# the document's controller types and the Linux drivers that drive them
DRIVERS: dict[str, tuple[str, ...]] = {
    "pvscsi": ("vmw_pvscsi",),
    "lsilogic": ("mptspi",),
    "lsilogic-sas": ("mptsas", "mpt2sas", "mpt3sas"),
    "buslogic": ("BusLogic",),
    "sata": ("ahci",),
    "ide": ("ata_piix",),
    "nvme": ("nvme",),
}
KIND_OF_DRIVER = {driver: kind for kind, drivers in DRIVERS.items() for driver in drivers}
SCSI_KINDS = ("pvscsi", "lsilogic", "lsilogic-sas", "buslogic")

WWID, SERIAL, SCSI_ADDRESS, NVME_ADDRESS, UNMATCHED = "wwid", "serial", "scsi-address", "nvme-address", "unmatched"
METHODS = (WWID, SERIAL, SCSI_ADDRESS, NVME_ADDRESS, UNMATCHED)


@dataclass(frozen=True)
class BlockDevice:
    """One whole-disk block device of the guest and what sysfs says about it."""

    name: str  # sda, nvme0n1
    kind: str = ""  # the controller type it hangs off (DRIVERS keys), "" when unknown
    driver: str = ""
    pci: str = ""  # PCI address of its controller
    host: int | None = None  # SCSI address H:C:T:L
    channel: int | None = None
    target: int | None = None
    lun: int | None = None
    controller: str = ""  # NVMe controller (nvme0)
    nsid: int | None = None
    size: int | None = None  # bytes
    ids: tuple[str, ...] = ()  # normalized identifiers: NAA/EUI/NGUID hex
    serials: tuple[str, ...] = ()  # normalized serial numbers

    @property
    def path(self) -> str:
        return f"/dev/{self.name}"

    def as_dict(self) -> dict:
        address = f"{self.host}:{self.channel}:{self.target}:{self.lun}" if self.host is not None else ""
        return {
            "device": self.path, "kind": self.kind, "driver": self.driver, "pci": self.pci,
            "address": address, "controller": self.controller, "nsid": self.nsid, "size": self.size,
            "ids": list(self.ids), "serials": list(self.serials),
        }


@dataclass(frozen=True)
class Controller:
    """A storage controller of the guest: one PCI function, with its SCSI hosts (ahci/ata_piix: several)."""

    kind: str
    driver: str
    pci: str
    hosts: tuple[int, ...] = ()
    name: str = ""  # nvme0


@dataclass(frozen=True)
class GuestStorage:
    devices: tuple[BlockDevice, ...] = ()
    controllers: tuple[Controller, ...] = ()

    def of_kind(self, kind: str) -> list[Controller]:
        return [c for c in self.controllers if c.kind == kind]


@dataclass(frozen=True)
class Match:
    """Where one disk of the document is in this guest."""

    device: str | None  # /dev/sdb, or None
    method: str  # one of METHODS
    note: str = ""


@dataclass
class _Work:
    claimed: set[str] = field(default_factory=set)


# -- reading sysfs ------------------------------------------------------------------------------

def scan(sysfs: Path | str = "/sys") -> GuestStorage:
    """Every whole disk (sd*, nvme*n*) and storage controller under ``sysfs``."""
    root = Path(sysfs)
    controllers = _scsi_controllers(root) + _nvme_controllers(root)
    devices = []
    for name in _listdir(root / "block"):
        if SD_RE.match(name):
            devices.append(_scsi_device(root, name))
        elif NVME_RE.match(name):
            devices.append(_nvme_device(root, name))
    controllers.sort(key=lambda c: (c.pci or "~", c.hosts, c.name))
    return GuestStorage(tuple(devices), tuple(controllers))


def _scsi_controllers(root: Path) -> list[Controller]:
    grouped: dict[tuple[str, str], list[int]] = {}
    for name in _listdir(root / "class" / "scsi_host"):
        m = HOST_RE.match(name)
        if not m:
            continue
        driver = _read(root / "class" / "scsi_host" / name / "proc_name")
        pci = _pci_of(os.path.realpath(root / "class" / "scsi_host" / name))
        grouped.setdefault((driver, pci), []).append(int(m.group(1)))
    return [
        Controller(KIND_OF_DRIVER.get(driver, ""), driver, pci, tuple(sorted(hosts)))
        for (driver, pci), hosts in grouped.items()
    ]


def _nvme_controllers(root: Path) -> list[Controller]:
    out = []
    for name in _listdir(root / "class" / "nvme"):
        if NVME_CTRL_RE.match(name):
            out.append(Controller("nvme", "nvme", _nvme_pci(root, name), (), name))
    return out


def _scsi_device(root: Path, name: str) -> BlockDevice:
    base = root / "block" / name
    real = os.path.realpath(base / "device")
    m = HCTL_RE.match(os.path.basename(real))
    host = channel = target = lun = None
    driver = pci = ""
    if m:
        host, channel, target, lun = (int(x) for x in m.groups())
        driver = _read(root / "class" / "scsi_host" / f"host{host}" / "proc_name")
        pci = _pci_of(real)
    ids = []
    wwid = _normalize(_read(base / "device" / "wwid"))
    if wwid:
        ids.append(wwid)
    ids += [i for i in _vpd83(_read_bytes(base / "device" / "vpd_pg83")) if i not in ids]
    serial = _normalize(_vpd80(_read_bytes(base / "device" / "vpd_pg80")))
    return BlockDevice(
        name=name, kind=KIND_OF_DRIVER.get(driver, ""), driver=driver, pci=pci, host=host, channel=channel,
        target=target, lun=lun, size=_size(base), ids=tuple(ids), serials=(serial,) if serial else (),
    )


def _nvme_device(root: Path, name: str) -> BlockDevice:
    m = NVME_RE.match(name)
    assert m
    base = root / "block" / name
    controller = f"nvme{m.group(1)}"
    try:
        nsid = int(_read(base / "nsid") or m.group(2))
    except ValueError:
        nsid = int(m.group(2))
    ids = []
    for attr in ("wwid", "nguid", "eui", "uuid"):
        value = _normalize(_read(base / attr))
        if value and value not in ids and set(value) != {"0"}:
            ids.append(value)
    serial = _normalize(_read(root / "class" / "nvme" / controller / "serial"))
    return BlockDevice(
        name=name, kind="nvme", driver="nvme", pci=_nvme_pci(root, controller) or _pci_of(os.path.realpath(base)),
        controller=controller, nsid=nsid, size=_size(base), ids=tuple(ids), serials=(serial,) if serial else (),
    )


def _nvme_pci(root: Path, controller: str) -> str:
    return _pci_of(os.path.realpath(root / "class" / "nvme" / controller / "device"))


def _pci_of(path: str) -> str:
    """The last PCI address in a sysfs device path: the function the device hangs off."""
    found = [part for part in path.split("/") if PCI_RE.match(part)]
    return found[-1] if found else ""


def _size(base: Path) -> int | None:
    try:
        return int(_read(base / "size")) * 512
    except ValueError:
        return None


def _listdir(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(4096)
    except OSError:
        return b""


def _read(path: Path) -> str:
    return _read_bytes(path).decode("utf-8", errors="replace").strip().strip("\x00").strip()


def _normalize(value: str) -> str:
    """An identifier in comparable form: lower case, no ``naa.``/``eui.``/``0x`` prefix, no dashes."""
    value = value.strip().strip("\x00").strip().lower()
    for prefix in ("naa.", "eui.", "uuid.", "wwn-0x", "0x"):
        if value.startswith(prefix):
            value = value[len(prefix):]
            break
    compact = value.replace("-", "").replace(" ", "")
    return compact if HEX_RE.match(compact) else value


def _vpd83(data: bytes) -> list[str]:
    """NAA and EUI-64 designators of the logical unit from a raw VPD page 0x83."""
    if len(data) < 4 or data[1] != 0x83:
        return []
    body = data[4:4 + int.from_bytes(data[2:4], "big")]
    out, i = [], 0
    while i + 4 <= len(body):
        association, kind, length = (body[i + 1] >> 4) & 0x3, body[i + 1] & 0x0F, body[i + 3]
        ident = body[i + 4:i + 4 + length]
        i += 4 + length
        if association != 0:  # 0: the logical unit itself (not its port or target)
            continue
        if kind in (2, 3):  # EUI-64, NAA: binary
            value = ident.hex()
        elif kind == 8:  # SCSI name string, e.g. "naa.6000..."
            value = _normalize(ident.decode("ascii", errors="replace"))
        else:
            continue
        if value and value not in out:
            out.append(value)
    return out


def _vpd80(data: bytes) -> str:
    """The unit serial number from a raw VPD page 0x80."""
    if len(data) < 4 or data[1] != 0x80:
        return ""
    return data[4:4 + int.from_bytes(data[2:4], "big")].decode("ascii", errors="replace").strip(" \x00")


# -- mapping ------------------------------------------------------------------------------------

def disk_ids(disk: Mapping) -> list[str]:
    """What the guest would show as this disk's identity: its backing uuid; a physical RDM's LUN id."""
    out = []
    uuid = _normalize(str(disk.get("uuid") or ""))
    if len(uuid) == 32 and HEX_RE.match(uuid):
        out.append(uuid)
    if disk.get("backing") == "rdm_physical":
        for lun in disk.get("luns") or ():
            name = _normalize(str(lun.get("name") or "")) if isinstance(lun, Mapping) else ""
            if name and HEX_RE.match(name) and name not in out:
                out.append(name)
    return out


def map_disks(disks: Sequence[Mapping], guest: GuestStorage) -> list[Match]:
    """One Match per disk of the document, in order; a device is given to one disk at most."""
    work = _Work()
    matches: list[Match | None] = [None] * len(disks)
    for method, attr in ((WWID, "ids"), (SERIAL, "serials")):
        for i, disk in enumerate(disks):
            if matches[i] is not None:
                continue
            for ident in disk_ids(disk):
                found = [d for d in guest.devices if ident in getattr(d, attr) and d.name not in work.claimed]
                if found:
                    work.claimed.add(found[0].name)
                    matches[i] = Match(found[0].path, method)
                    break
    # by address: first every disk at its preferred place, then the unique fallbacks
    for fallback in (False, True):
        for i, disk in enumerate(disks):
            if matches[i] is None:
                matches[i] = _by_address(disk, disks, guest, work, fallback)
    return [m or Match(None, UNMATCHED, "no device with its uuid, and its address is not in the guest") for m in matches]


def _by_address(disk: Mapping, disks: Sequence[Mapping], guest: GuestStorage, work: _Work, fallback: bool) -> Match | None:
    kind, bus, unit = disk.get("controller"), disk.get("bus"), disk.get("unit")
    if not isinstance(bus, int) or not isinstance(unit, int) or bus < 0 or unit < 0:
        return Match(None, UNMATCHED, "vCenter gave no bus/unit for this disk") if fallback else None
    capacity = disk.get("capacity") if isinstance(disk.get("capacity"), int) else None
    if kind not in DRIVERS:
        return Match(None, UNMATCHED, f"controller type {kind!r} cannot be located in the guest") if fallback else None
    controllers = guest.of_kind(kind)
    if not controllers:
        if fallback:
            return Match(None, UNMATCHED, f"no {kind} controller ({'/'.join(DRIVERS[kind])}) in the guest")
        return None
    buses = sorted({d.get("bus") for d in disks if d.get("controller") == kind and isinstance(d.get("bus"), int) and d.get("bus") >= 0})
    rank = buses.index(bus)
    method = NVME_ADDRESS if kind == "nvme" else SCSI_ADDRESS

    def fits(dev: BlockDevice) -> bool:
        return dev.name not in work.claimed and (capacity is None or dev.size is None or dev.size == capacity)

    if not fallback:
        if kind == "ide":  # one PIIX function, a SCSI host per channel: the bus is the channel
            hosts = [h for c in controllers for h in c.hosts]
            found = _scsi_at(guest, hosts[bus], unit) if bus < len(hosts) else None
        elif rank >= len(controllers):
            return None
        else:
            found = _at(guest, controllers[rank], kind, unit)
        if found is None or not fits(found):
            return None
        work.claimed.add(found.name)
        note = "" if len(controllers) == len(buses) or kind == "ide" else (
            f"{len(controllers)} {kind} controllers in the guest, {len(buses)} in the document: "
            f"assumed PCI order follows bus order"
        )
        return Match(found.path, method, note)
    if capacity is None or kind == "ide":
        return Match(None, UNMATCHED, f"no device at {kind} {bus}:{unit} in the guest")
    candidates = [d for d in (_at(guest, c, kind, unit) for c in controllers) if d is not None and fits(d)]
    if len(candidates) == 1:
        work.claimed.add(candidates[0].name)
        return Match(candidates[0].path, method, f"{kind} {bus}:{unit} found by unit and size on another {kind} controller")
    why = "several candidates of the same size" if candidates else "no device of its size at that unit"
    return Match(None, UNMATCHED, f"{kind} {bus}:{unit}: {why}")


def _at(guest: GuestStorage, controller: Controller, kind: str, unit: int) -> BlockDevice | None:
    if kind == "nvme":
        return next((d for d in guest.devices if d.controller == controller.name and d.nsid == unit + 1), None)
    if kind == "sata":  # AHCI: one SCSI host per port, in port order
        return _scsi_at(guest, controller.hosts[unit], 0) if unit < len(controller.hosts) else None
    for host in controller.hosts:
        found = _scsi_at(guest, host, unit)
        if found:
            return found
    return None


def _scsi_at(guest: GuestStorage, host: int, target: int) -> BlockDevice | None:
    return next(
        (d for d in guest.devices if d.host == host and (d.channel or 0) == 0 and d.target == target and (d.lun or 0) == 0),
        None,
    )
