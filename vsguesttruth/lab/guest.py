"""The SAN lab's simulated guests: a lab VM seen from inside, for the guest agent without a real guest.

A simulated guest is what ``vsguesttruth-guest`` needs from a VM, built from the lab VM's virtual hardware
in vCenter: a fake sysfs tree (:mod:`.sysfs`) and stand-ins for VMware Tools' ``vmware-rpctool`` and
``vmtoolsd`` (:mod:`.rpctool`) serving ``info-get`` and ``info-set`` from the VM's extraConfig through the
vCenter edge, and the data set commands (``vmtoolsd --cmd "datasets-..."``) through the lab's guest door, so
the agent runs its real code path for both channels.

``vsguesttruth lab guest VM [ARGS...]`` builds one in the lab's run directory and runs the agent in it
(:func:`run_agent`); the tests build them with :func:`build`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from vsguesttruth.errors import VsgtError

from .rpctool import FAKE_PREFIX, RPCTOOL_NAME, VMTOOLSD_NAME, connect
from .sysfs import VMWARE, LabGuestError, VDisk, build_sysfs


def vm_disks(conn, name: str) -> tuple[str, list[VDisk]]:
    """The managed object id and virtual disks of the VM called ``name`` (``conn``: a
    ``vsguesttruth.vcenter.Connection`` on the lab), from one inventory snapshot."""
    from vsguesttruth.vcenter import snapshot

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


def write_rpctool(path: Path) -> Path:
    """An executable stand-in ``vmware-rpctool`` (or ``vmtoolsd``) at ``path`` that runs :func:`.rpctool.main` on
    this interpreter (``sys.executable``, which has vsguesttruth's dependencies: never whatever ``python3`` PATH
    finds)."""
    package_parent = str(Path(__file__).resolve().parents[2])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(
        f"#!{sys.executable}\n"
        '"""vsguesttruth lab: a stand-in VMware Tools command serving a lab VM (vsguesttruth.lab.rpctool)."""\n'
        "import sys\n"
        f"sys.path.insert(0, {package_parent!r})\n"
        "from vsguesttruth.lab.rpctool import main\n"
        "sys.exit(main(sys.argv))\n"
    )
    tmp.chmod(0o755)
    os.replace(tmp, path)  # an agent running it meanwhile never sees half a script
    return path


def agent_command() -> list[str]:
    """How to run ``vsguesttruth-guest`` with this interpreter: its console script beside it, else the module."""
    script = Path(sys.executable).parent / "vsguesttruth-guest"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "import sys; from vsguesttruth_guest.cli import main; sys.argv[0] = 'vsguesttruth-guest'; main()"]


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


def build_guest(conn, root: Path | str, name: str, lab, hide_uuid: set[str] | frozenset[str] = frozenset(),
                vendor: str | None = VMWARE) -> Guest:
    """The simulated guest of lab VM ``name`` in ``root`` (``root/sys``, ``root/bin/vmware-rpctool``,
    ``root/bin/vmtoolsd``).

    ``conn``: a ``vsguesttruth.vcenter.Connection`` on the lab; ``lab``: how the stand-ins reach it
    (a ``LabInfo`` or anything with ``url``, ``username``, ``password``, ``cert``, ``control``). ``root/sys`` is rebuilt
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
    write_rpctool(root / "bin" / VMTOOLSD_NAME)  # beside the rpctool, where the agent looks for it
    env = {
        "VSGT_RPCTOOL": str(rpctool), "VSGT_SYSFS": str(sysfs), "VSGT_FAKE_LAB_CONTROL": lab.control,
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

def guest_folder(name: str) -> str:
    """A VM name as one safe directory name (no ``/``, not hidden, not ``..``)."""
    folder = urllib.parse.quote(name, safe=" +,=@")
    return "%2E" + folder[1:] if folder.startswith(".") else folder or "%00"


def run_agent(name: str, args: list[str] | tuple[str, ...], lab_dir: Path | str | None = None,
              agent: str | None = None) -> int:
    """``vsguesttruth lab guest``: build VM ``name``'s guest in ``<run_dir>/guests/<name>/``, run the agent
    there with ``args`` (its stdin, stdout and stderr are ours), return its exit code. ``agent``: the
    ``vsguesttruth-guest`` to run (e.g. one installed alone in a guest's venv); default: :func:`agent_command`."""
    from .control import Lab

    lab = Lab(lab_dir)
    info = lab.require()
    try:
        conn = connect(info)
    except VsgtError as err:  # already one line
        raise LabGuestError(f"cannot connect to the lab's vCenter: {err}") from None
    try:
        guest = build_guest(conn, lab.run_dir / "guests" / guest_folder(name), name, info)
    finally:
        conn.close()
    process = subprocess.Popen([*([agent] if agent else agent_command()), *args], env=guest.environment())
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:  # the agent (same process group) got it too: its exit code says how it ended
            continue
