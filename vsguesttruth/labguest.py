"""The SAN lab's simulated guests: a lab VM seen from inside, for the guest agent without a real guest.

A simulated guest is what ``vsguesttruth-guest`` needs from a VM, built from the lab VM's virtual hardware
in vCenter:

- a fake sysfs tree (:class:`FakeSys`) with the layout Linux gives VMware disks: one SCSI host per
  controller (probed in reverse bus order, as kernels may), ``/dev/sdX`` per disk with the wwid and VPD
  serial Linux derives from the disk uuid, a physical RDM with its LUN's own ``naa.*`` id;
- a stand-in for VMware Tools' ``vmware-rpctool`` (:func:`rpctool_main`) serving ``info-get`` and
  ``info-set`` from the VM's extraConfig through the vCenter edge (``vsguesttruth.vcenter``), the way the
  VMX serves guestinfo.

``vsguesttruth lab guest VM [ARGS...]`` builds one in the lab's run directory and runs the agent in it
(:func:`run_agent`); the tests build them with :func:`build`.

The stand-in rpctool speaks the real tool's command line: one argument ``"info-get KEY"`` or
``"info-set KEY VALUE"`` (or ``--cmd`` and that argument, like ``vmtoolsd``). ``info-get`` prints the value
and a newline, or ``No value found`` on stderr and exits 1, as the real tool does. Where the values live
(configured through the environment only, never argv, so no password shows in a process list):

- ``VSGT_FAKE_VC_URL`` set: in one VM's extraConfig on a vCenter (the lab): ``VSGT_FAKE_VC_USER``,
  ``VSGT_FAKE_VC_PASSWORD``, ``VSGT_FAKE_VC_CA`` (CA file; TLS is verified), ``VSGT_FAKE_VM`` (the VM's
  managed object id, e.g. ``vm-96``). ``info-set`` is a ReconfigVM with one OptionValue (an empty value
  removes the key, as vCenter does).
- otherwise ``VSGT_FAKE_GUESTINFO_DIR``: one file per key (tests of the agent without a vCenter).

``VSGT_FAKE_RPC_LOG``: append each argv as a JSON line. ``VSGT_FAKE_NOT_IN_VM=1``: answer like the real
tool outside a VM. ``VSGT_FAKE_RPC_SLEEP``: seconds to sleep first (timeouts).

Only the standard library is imported at module level: the rpctool's directory backend runs on any
Python 3; the vCenter edge (``vsguesttruth.vcenter``) is imported where vCenter is spoken to.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from vsguesttruth.errors import VsgtError

VMWARE = "VMware, Inc."
BRIDGE = "0000:00:15.0"  # VMware's first PCIe root port; devices on bus 00 hang off the root directly
DRIVERS = {"pvscsi": "vmw_pvscsi", "lsilogic": "mptspi", "lsilogic-sas": "mptsas", "buslogic": "BusLogic"}
# the PCI functions VMware gives SCSI controllers 0..3 (pciSlotNumber 16 / 160, 224, 256, 1184)
PCI = {0: "0000:03:00.0", 1: "0000:0b:00.0", 2: "0000:13:00.0", 3: "0000:1b:00.0"}
LEGACY_LSILOGIC = "0000:00:10.0"
FAKE_PREFIX = "VSGT_FAKE_"
RPCTOOL_NAME = "vmware-rpctool"


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


# -- a lab VM's disks, and the guest built from them -----------------------------------------------

@dataclass(frozen=True)
class VDisk:
    label: str
    controller: str  # pvscsi, lsilogic, ...
    bus: int
    unit: int
    uuid: str
    capacity: int
    lun: str  # a physical RDM's LUN (naa.*), else ""


def vm_disks(conn, name: str) -> tuple[str, list[VDisk]]:
    """The managed object id and virtual disks of the VM called ``name`` (``conn``: a
    ``vsguesttruth.vcenter.connect.Connection`` on the lab), from one inventory snapshot."""
    from vsguesttruth.vcenter.inventory import snapshot

    inv = snapshot(conn)
    vm = inv.vm_by_name(name)
    if vm is None:
        raise LabGuestError(f"no VM named {name!r} in the lab: see `vsguesttruth lab topology` for its VMs")
    # a physical RDM's LUN by its uuid: the VM's own host first (every host names a LUN alike)
    hosts = sorted(inv.hosts.values(), key=lambda h: h.moref != vm.host)
    luns: dict[str, str] = {}
    for host in reversed(hosts):
        luns.update({lun.uuid: lun.canonical_name for lun in host.luns if lun.uuid})
    disks = [
        VDisk(d.label, "" if d.controller == "other" else d.controller, d.bus, d.unit, d.uuid, d.capacity_bytes,
              luns.get(d.lun_uuid, "") if d.backing == "rdm_physical" and d.lun_uuid else "")
        for d in vm.disks
    ]
    return vm.moref, disks


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


def write_rpctool(path: Path) -> Path:
    """An executable stand-in ``vmware-rpctool`` at ``path`` that runs :func:`rpctool_main` on this interpreter
    (``sys.executable``, which has vsguesttruth's dependencies: never whatever ``python3`` PATH finds)."""
    package_parent = str(Path(__file__).resolve().parent.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(
        f"#!{sys.executable}\n"
        '"""vsguesttruth lab: a stand-in vmware-rpctool serving guestinfo from a lab VM (vsguesttruth.labguest)."""\n'
        "import sys\n"
        f"sys.path.insert(0, {package_parent!r})\n"
        "from vsguesttruth.labguest import rpctool_main\n"
        "sys.exit(rpctool_main(sys.argv))\n"
    )
    tmp.chmod(0o755)
    os.replace(tmp, path)  # an agent running it meanwhile never sees half a script
    return path


def agent_command() -> list[str]:
    """How to run ``vsguesttruth-guest`` with this interpreter: its console script beside it, else the module."""
    script = Path(sys.executable).parent / "vsguesttruth-guest"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "import sys; from vsguesttruth.guest.cli import main; sys.argv[0] = 'vsguesttruth-guest'; main()"]


@dataclass
class Guest:
    """A lab VM seen from inside: its sysfs, the devices its disks became, and the agent to run in it."""

    name: str
    moref: str
    disks: list[VDisk]
    sysfs: Path
    rpctool: Path
    devices: dict[str, tuple[str, str]]  # label -> (/dev/sdX, how the agent should find it)
    env: dict[str, str] = field(repr=False)  # what the agent adds to its environment (holds the lab password)

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: ours) without stand-in settings of its own, plus this guest's."""
        base = dict(os.environ if base is None else base)
        return {**{k: v for k, v in base.items() if not k.startswith(FAKE_PREFIX)}, **self.env}

    def run(self, *args: str, env: dict | None = None, timeout: float | None = 60, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([*agent_command(), *args], env={**self.environment(), **(env or {})},
                              capture_output=True, text=True, timeout=timeout, **kw)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([*agent_command(), *args], env=self.environment(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def status(self) -> tuple[int, dict | None]:
        result = self.run("status", "--json")
        return result.returncode, json.loads(result.stdout) if result.stdout.strip() else None


def build(conn, root: Path | str, name: str, lab, hide_uuid: set[str] | frozenset[str] = frozenset(),
          vendor: str | None = VMWARE) -> Guest:
    """The simulated guest of lab VM ``name`` in ``root`` (``root/sys``, ``root/bin/vmware-rpctool``).

    ``conn``: a ``vsguesttruth.vcenter.connect.Connection`` on the lab; ``lab``: how the rpctool reaches it
    (a ``LabInfo`` or anything with ``url``, ``username``, ``password``, ``cert``). ``root/sys`` is rebuilt
    from scratch.
    """
    root = Path(root)
    moref, disks = vm_disks(conn, name)
    sysfs = root / "sys"
    fresh = root / f".sys-new-{os.getpid()}"
    shutil.rmtree(fresh, ignore_errors=True)
    fs, devices = build_sysfs(fresh, disks, hide_uuid, vendor)
    _install(fresh, sysfs)
    rpctool = write_rpctool(root / "bin" / RPCTOOL_NAME)
    env = {
        "VSGT_RPCTOOL": str(rpctool), "VSGT_SYSFS": str(sysfs),
        "VSGT_FAKE_VC_URL": lab.url, "VSGT_FAKE_VC_USER": lab.username, "VSGT_FAKE_VC_PASSWORD": lab.password,
        "VSGT_FAKE_VC_CA": lab.cert or "", "VSGT_FAKE_VM": moref,
    }
    return Guest(name, moref, disks, sysfs, rpctool, devices, env)


def _install(fresh: Path, sysfs: Path) -> None:
    """Put the tree ``fresh`` in place of ``sysfs`` by renames, so an agent already running on ``sysfs`` sees
    the old tree or the new one, never half of one."""
    old = sysfs.parent / f".sys-old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    try:
        sysfs.rename(old)
    except FileNotFoundError:
        pass
    try:
        fresh.rename(sysfs)
    except OSError:  # another `lab guest` of this VM installed its tree meanwhile: built from the same VM
        shutil.rmtree(fresh, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def connect(lab):
    """A ``vsguesttruth.vcenter.connect.Connection`` on the lab, TLS verified against its certificate (or
    plain http); raises a one-line ``VsgtError``."""
    from vsguesttruth.vcenter.connect import ConnectionSettings
    from vsguesttruth.vcenter.connect import connect as vcenter_connect

    return vcenter_connect(ConnectionSettings(url=lab.url, username=lab.username, password=lab.password,
                                              ca_file=lab.cert or None))


def guest_folder(name: str) -> str:
    """A VM name as one safe directory name (no ``/``, not hidden, not ``..``)."""
    folder = urllib.parse.quote(name, safe=" +,=@")
    return "%2E" + folder[1:] if folder.startswith(".") else folder or "%00"


def run_agent(name: str, args: list[str] | tuple[str, ...], lab_dir: Path | str | None = None) -> int:
    """``vsguesttruth lab guest``: build VM ``name``'s guest in ``<run_dir>/guests/<name>/``, run the agent
    there with ``args`` (its stdin, stdout and stderr are ours), return its exit code."""
    from vsguesttruth.lab import Lab

    lab = Lab(lab_dir)
    info = lab.require()
    try:
        conn = connect(info)
    except VsgtError as err:  # already one line
        raise LabGuestError(f"cannot connect to the lab's vCenter: {err}") from None
    try:
        guest = build(conn, lab.run_dir / "guests" / guest_folder(name), name, info)
    finally:
        conn.close()
    agent = subprocess.Popen([*agent_command(), *args], env=guest.environment())
    while True:
        try:
            return agent.wait()
        except KeyboardInterrupt:  # the agent (same process group) got it too: its exit code says how it ended
            continue


# -- the stand-in rpctool ----------------------------------------------------------------------------

def rpctool_main(argv: list[str]) -> int:
    if os.environ.get("VSGT_FAKE_RPC_LOG"):
        with open(os.environ["VSGT_FAKE_RPC_LOG"], "a") as log:
            log.write(json.dumps(argv) + "\n")
    if os.environ.get("VSGT_FAKE_RPC_SLEEP"):
        time.sleep(float(os.environ["VSGT_FAKE_RPC_SLEEP"]))
    if os.environ.get("VSGT_FAKE_NOT_IN_VM"):
        sys.stderr.write(f"{os.path.basename(argv[0])} must be run inside a virtual machine on a VMware hypervisor product.\n")
        return 1
    args = argv[1:]
    if args and args[0] == "--cmd":
        args = args[1:]
    if len(args) != 1:
        sys.stderr.write("usage: rpctool 'info-get KEY' | 'info-set KEY VALUE'\n")
        return 2
    verb, _, rest = args[0].partition(" ")
    if os.environ.get("VSGT_FAKE_VC_URL"):
        try:
            store = VCenterStore()
        except Exception as err:  # the real tool fails with one line when the VMX does not answer
            sys.stderr.write(f"Failed sending message to VMware (lab vCenter: {err}).\n")
            return 1
    elif os.environ.get("VSGT_FAKE_GUESTINFO_DIR"):
        store = DirStore(os.environ["VSGT_FAKE_GUESTINFO_DIR"])
    else:
        sys.stderr.write("stand-in rpctool: set VSGT_FAKE_VC_URL (and the rest) or VSGT_FAKE_GUESTINFO_DIR\n")
        return 1
    try:
        return serve(store, verb, rest)
    finally:
        store.close()


def serve(store, verb: str, rest: str) -> int:
    if verb == "info-get" and rest and " " not in rest:
        value = store.get(rest)
        if value is None:
            sys.stderr.write("No value found\n")
            return 1
        sys.stdout.write(value + "\n")
        return 0
    if verb == "info-set" and rest:
        key, _, value = rest.partition(" ")
        if not key.startswith("guestinfo."):
            sys.stderr.write("Invalid key\n")
            return 1
        store.set(key, value)
        return 0
    sys.stderr.write("Unknown command\n")
    return 1


class DirStore:
    """guestinfo as one file per key in a folder."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def close(self) -> None:
        pass

    def _path(self, key: str) -> str:
        return os.path.join(self.folder, key.replace("/", "_"))

    def get(self, key: str) -> str | None:
        try:
            with open(self._path(key), encoding="utf-8", errors="surrogateescape") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def set(self, key: str, value: str) -> None:
        if value == "":
            try:
                os.unlink(self._path(key))
            except FileNotFoundError:
                pass
            return
        with open(self._path(key), "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(value)


class VCenterStore:
    """guestinfo as one VM's extraConfig on a vCenter, as the VMX serves it (through the vCenter edge)."""

    def __init__(self) -> None:
        self.conn = connect(_EnvLab())
        self.vm = os.environ["VSGT_FAKE_VM"]

    def close(self) -> None:
        self.conn.close()

    def get(self, key: str) -> str | None:
        from vsguesttruth.vcenter.publish import get_extra_config

        return get_extra_config(self.conn, self.vm, key)

    def set(self, key: str, value: str) -> None:
        from vsguesttruth.vcenter.publish import set_extra_config

        try:
            set_extra_config(self.conn, self.vm, key, value, timeout=30)
        except VsgtError as err:
            raise SystemExit(f"ReconfigVM failed: {err}") from None


class _EnvLab:
    """The lab's connection details from the stand-in's environment."""

    def __init__(self) -> None:
        self.url = os.environ["VSGT_FAKE_VC_URL"]
        self.username = os.environ["VSGT_FAKE_VC_USER"]
        self.password = os.environ["VSGT_FAKE_VC_PASSWORD"]
        self.cert = os.environ.get("VSGT_FAKE_VC_CA", "")


if __name__ == "__main__":
    sys.exit(rpctool_main(sys.argv))
