"""The sysfs of a lab VM's simulated guest: the tree Linux builds for VMware virtual disks, as real files.

A :class:`FakeSys` is what the guest agent (``vsguesttruth-guest``) reads to map the state document's disks
to ``/dev`` devices: one SCSI host per controller (probed in reverse bus order, as kernels may), a
``/dev/sdX`` per disk with the wwid and VPD serial Linux derives from the disk uuid (``disk.EnableUUID``),
a physical RDM with its LUN's own ``naa.*`` id. :func:`build_sysfs` lays one out for a lab VM's disks; the
guest agent's tests build their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vsguesttruth.errors import VsgtError

VMWARE = "VMware, Inc."
BRIDGE = "0000:00:15.0"  # VMware's first PCIe root port; devices on bus 00 hang off the root directly
DRIVERS = {"pvscsi": "vmw_pvscsi", "lsilogic": "mptspi", "lsilogic-sas": "mptsas", "buslogic": "BusLogic"}
# the PCI functions VMware gives SCSI controllers 0..3 (pciSlotNumber 16 / 160, 224, 256, 1184)
PCI = {0: "0000:03:00.0", 1: "0000:0b:00.0", 2: "0000:13:00.0", 3: "0000:1b:00.0"}
LEGACY_LSILOGIC = "0000:00:10.0"


class LabGuestError(VsgtError):
    """A simulated guest cannot be built (unknown VM, hardware the simulation does not model)."""

# -- the fake sysfs -------------------------------------------------------------------------------

class FakeSys:
    """A fake sysfs tree; real paths and symlinks, relative, so ``os.path.realpath`` walks them as on Linux::

        block/sda -> ../devices/pci0000:00/0000:00:15.0/0000:03:00.0/host2/target2:0:1/2:0:1:0/block/sda
        block/sda/device -> ../../../2:0:1:0            (wwid, vpd_pg80, vpd_pg83 live there)
        class/scsi_host/host2 -> ../../devices/.../0000:03:00.0/host2/scsi_host/host2   (proc_name)
        class/nvme/nvme0 -> ../../devices/.../0000:0b:00.0/nvme/nvme0   (device -> ../../../0000:0b:00.0)
        block/nvme0n1 -> ../devices/.../0000:0b:00.0/nvme/nvme0/nvme0n1  (nsid, wwid, nguid)
    """

    def __init__(self, root: Path | str, vendor: str | None = VMWARE) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        for folder in ("block", "class/scsi_host", "class/nvme"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        if vendor is not None:
            self._write("class/dmi/id/sys_vendor", vendor + "\n")
        self._hosts: dict[int, str] = {}  # host -> its device dir (relative to root)
        self._nvme: dict[int, str] = {}

    # -- controllers -----------------------------------------------------------------------------
    def scsi_host(self, host: int, driver: str, pci: str) -> "FakeSys":
        """A SCSI host (one per controller; ahci/ata_piix: one per port/channel on the same pci)."""
        folder = f"{self._pci_dir(pci)}/host{host}"
        self._write(f"{folder}/scsi_host/host{host}/proc_name", driver + "\n")
        self._link(f"class/scsi_host/host{host}", f"{folder}/scsi_host/host{host}")
        self._hosts[host] = folder
        return self

    def nvme_controller(self, index: int, pci: str, serial: str = "VMware NVME_0000") -> "FakeSys":
        pci_dir = self._pci_dir(pci)
        folder = f"{pci_dir}/nvme/nvme{index}"
        self._write(f"{folder}/serial", serial + "\n")
        self._link(f"{folder}/device", pci_dir)
        self._link(f"class/nvme/nvme{index}", folder)
        self._nvme[index] = folder
        return self

    # -- disks -----------------------------------------------------------------------------------
    def scsi_disk(self, name: str, host: int, target: int, size: int, wwid: str | None = None,
                  serial: str | None = None, naa: str | None = None, lun: int = 0) -> "FakeSys":
        """A disk at host:0:target:lun. ``wwid``: the wwid file's text; ``naa``: hex for VPD page 0x83;
        ``serial``: VPD page 0x80; size in bytes."""
        sdev = f"{self._hosts[host]}/target{host}:0:{target}/{host}:0:{target}:{lun}"
        self._write(f"{sdev}/block/{name}/size", f"{size // 512}\n")
        self._link(f"{sdev}/block/{name}/device", sdev)
        self._link(f"block/{name}", f"{sdev}/block/{name}")
        if wwid is not None:
            self._write(f"{sdev}/wwid", wwid + "\n")
        if naa is not None:
            ident = bytes.fromhex(naa)
            desc = bytes([0x01, 0x03, 0x00, len(ident)]) + ident  # binary, LU association, NAA
            self._write_bytes(f"{sdev}/vpd_pg83", bytes([0, 0x83]) + len(desc).to_bytes(2, "big") + desc)
        if serial is not None:
            data = serial.encode()
            self._write_bytes(f"{sdev}/vpd_pg80", bytes([0, 0x80]) + len(data).to_bytes(2, "big") + data)
        return self

    def nvme_namespace(self, controller: int, nsid: int, size: int, nguid: str | None = None,
                       wwid: str | None = None) -> "FakeSys":
        name = f"nvme{controller}n{nsid}"
        folder = f"{self._nvme[controller]}/{name}"
        self._write(f"{folder}/size", f"{size // 512}\n")
        self._write(f"{folder}/nsid", f"{nsid}\n")
        if nguid is not None:
            self._write(f"{folder}/nguid", nguid + "\n")
        if wwid is not None:
            self._write(f"{folder}/wwid", wwid + "\n")
        self._link(f"block/{name}", folder)
        return self

    # -- helpers ---------------------------------------------------------------------------------
    def _pci_dir(self, pci: str) -> str:
        bus = pci.split(":")[1]
        return f"devices/pci0000:00/{pci}" if bus == "00" else f"devices/pci0000:00/{BRIDGE}/{pci}"

    def _write(self, rel: str, text: str) -> None:
        self._write_bytes(rel, text.encode())

    def _write_bytes(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def _link(self, rel: str, target_rel: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        (self.root / target_rel).mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        path.symlink_to(os.path.relpath(self.root / target_rel, path.parent))


def naa_of(uuid: str) -> str:
    """How Linux shows a VMware disk uuid: 6000C29f-dbaf-... -> 6000c29fdbaf..."""
    return uuid.replace("-", "").lower()


@dataclass(frozen=True)
class VDisk:
    label: str
    controller: str  # pvscsi, lsilogic, ...
    bus: int
    unit: int
    uuid: str
    capacity: int
    lun: str  # a physical RDM's LUN (naa.*), else ""



def build_sysfs(root: Path, disks: list[VDisk], hide_uuid: set[str] | frozenset[str] = frozenset(),
                vendor: str | None = VMWARE) -> tuple[FakeSys, dict[str, tuple[str, str]]]:
    """The sysfs of a guest with these disks; and label -> (/dev/sdX, how the agent should find it).

    Disks in ``hide_uuid`` do not expose their uuid (a VM without disk.EnableUUID): found by address.
    """
    unsupported = sorted({d.controller or "unknown" for d in disks if d.controller not in DRIVERS})
    if unsupported:
        raise LabGuestError(f"simulated guests model SCSI controllers only, not {', '.join(unsupported)}")
    fs = FakeSys(root, vendor=vendor)
    buses = sorted({(d.bus, d.controller) for d in disks})
    # the kernel numbers SCSI hosts in probe order, which need not follow the bus order: reverse it
    hosts = {}
    for host, (bus, kind) in zip(range(len(buses) - 1, -1, -1), buses):
        pci = LEGACY_LSILOGIC if (kind, bus) == ("lsilogic", 0) else PCI[bus]
        fs.scsi_host(host, DRIVERS[kind], pci)
        hosts[bus] = host
    devices = {}
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    for d in sorted(disks, key=lambda d: (hosts[d.bus], d.unit)):
        dev = f"sd{next(letters)}"
        if d.lun:  # a physical RDM: the guest sees the array LUN's own identity
            fs.scsi_disk(dev, hosts[d.bus], d.unit, d.capacity, wwid=d.lun)
            devices[d.label] = (f"/dev/{dev}", "wwid")
        elif d.label in hide_uuid or not d.uuid:
            fs.scsi_disk(dev, hosts[d.bus], d.unit, d.capacity)
            devices[d.label] = (f"/dev/{dev}", "scsi-address")
        else:
            fs.scsi_disk(dev, hosts[d.bus], d.unit, d.capacity, wwid=f"naa.{naa_of(d.uuid)}", serial=naa_of(d.uuid))
            devices[d.label] = (f"/dev/{dev}", "wwid")
    return fs, devices
