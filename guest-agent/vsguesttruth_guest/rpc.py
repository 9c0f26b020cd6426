"""The guest side of the guestinfo channel: ``vmware-rpctool`` or ``vmtoolsd --cmd``.

Both tools send one RPC message to the VMX and print the reply: ``info-get guestinfo.KEY`` prints the
value (exit 0) or ``No value found`` (exit 1); ``info-set guestinfo.KEY VALUE`` sets it. They are run
with an argv list, never through a shell, and with a timeout: the value is one argv element, so no
character in it is ever interpreted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from vsguesttruth_guest import guestinfo
from vsguesttruth_guest.errors import NotInVm, RpcFailed, ToolsMissing

RPCTOOL = "vmware-rpctool"
VMTOOLSD = "vmtoolsd"
# where open-vm-tools and VMware Tools install them, for when PATH is minimal (cron, systemd)
SEARCH_DIRS = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/bin", "/sbin")
NO_VALUE = b"No value found"
NOT_IN_VM = b"inside a virtual machine"  # "... must be run inside a virtual machine (on a VMware hypervisor)"
DEFAULT_TIMEOUT = 10.0


def check_vmware(sysfs: Path | str = "/sys") -> None:
    """Raise NotInVm when the DMI system vendor says this is not a VMware virtual machine.

    Without DMI (no ``class/dmi/id/sys_vendor``) nothing can be told here; the RPC tool then decides.
    """
    vendor_file = Path(sysfs) / "class" / "dmi" / "id" / "sys_vendor"
    try:
        vendor = vendor_file.read_text(errors="replace").strip()
    except OSError:
        return
    if "vmware" not in vendor.lower():
        shown = vendor[:60] or "empty"
        raise NotInVm(f"not a VMware virtual machine: the system vendor is {shown!r} ({vendor_file})")


def find_tool(path: str | None = None) -> list[str]:
    """The argv prefix that sends one RPC command: ``[rpctool]`` or ``[vmtoolsd, "--cmd"]``.

    ``path`` (from ``--rpctool`` or ``VSGT_RPCTOOL``) may name either tool; without it, PATH and
    the usual install directories are searched, ``vmware-rpctool`` first.
    """
    if path:
        resolved = shutil.which(path) if os.sep not in path else path
        if not resolved or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
            raise ToolsMissing(f"the guest RPC tool {path!r} does not exist or is not executable")
        return _argv(resolved)
    for name in (RPCTOOL, VMTOOLSD):
        found = shutil.which(name)
        if found:
            return _argv(found)
        for folder in SEARCH_DIRS:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return _argv(candidate)
    raise ToolsMissing(
        f"VMware Tools missing: neither {RPCTOOL} nor {VMTOOLSD} found (install open-vm-tools, "
        "or give the tool with --rpctool / VSGT_RPCTOOL)"
    )


def _argv(tool: str) -> list[str]:
    return [tool, "--cmd"] if os.path.basename(tool).startswith(VMTOOLSD) else [tool]


class Rpc:
    """Reads and writes guestinfo keys through the RPC tool."""

    def __init__(self, argv: list[str], timeout: float = DEFAULT_TIMEOUT) -> None:
        self.argv = list(argv)
        self.timeout = timeout
        self.name = os.path.basename(argv[0])

    @classmethod
    def locate(cls, path: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> "Rpc":
        return cls(find_tool(path), timeout)

    def get(self, key: str) -> bytes | None:
        """The key's value (bytes, as the host sent them), or None when it has none."""
        proc = self._run(f"info-get {key}")
        if proc.returncode == 0:
            out = proc.stdout
            return out[:-1] if out.endswith(b"\n") else out  # the tool adds one newline
        if NO_VALUE in proc.stdout or NO_VALUE in proc.stderr:
            return None
        raise RpcFailed(f"{self.name} info-get {key} failed: {_first_line(proc)}")

    def set(self, key: str, value: str) -> None:
        """Set the key (an empty value clears it)."""
        command = f"info-set {key} {value}"
        if len(command.encode()) > guestinfo.RPC_LIMIT:
            raise RpcFailed(f"info-set {key}: {len(command.encode())} bytes is over the {guestinfo.RPC_LIMIT} byte RPC limit")
        proc = self._run(command)
        if proc.returncode != 0:
            raise RpcFailed(f"{self.name} info-set {key} failed: {_first_line(proc)}")

    def _run(self, command: str) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(
                [*self.argv, command], capture_output=True, stdin=subprocess.DEVNULL,
                timeout=self.timeout, shell=False, check=False,
            )
        except subprocess.TimeoutExpired:
            raise RpcFailed(f"{self.name} did not answer within {self.timeout:g} s") from None
        except OSError as err:
            raise ToolsMissing(f"cannot run the guest RPC tool {self.argv[0]}: {err.strerror or err}") from None
        if proc.returncode != 0 and (NOT_IN_VM in proc.stderr or NOT_IN_VM in proc.stdout):
            raise NotInVm(f"not a VMware virtual machine: {_first_line(proc)}")
        return proc


def _first_line(proc: subprocess.CompletedProcess) -> str:
    for stream in (proc.stderr, proc.stdout):
        text = stream.decode("utf-8", errors="replace").strip()
        if text:
            line = text.splitlines()[0]
            return "".join(c if c.isprintable() else "?" for c in line)[:200]
    return f"exit status {proc.returncode}"
