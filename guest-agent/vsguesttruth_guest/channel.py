"""Where this guest's documents travel: the VM's data sets when the service publishes there, else guestinfo.

The agent reads and writes four values (``guestinfo.KEYS``) and does not care how they travel: a
:class:`Channel` has the guestinfo tool's ``get(key)``/``set(key, value)``. On first use it asks VMware Tools
(``vmtoolsd --cmd datasets-list``, as root) which data sets the VM has: with ``vsguesttruth`` the state
document and the answers are read there; with ``vsguesttruth-guest`` the policy and requests are written
there (and their answers read from ``vsguesttruth``). Without ``vmtoolsd``, on a VM older than vmx-20, with
VMware Tools that do not know the command, or without those data sets, everything goes through guestinfo
(``vmware-rpctool``/``vmtoolsd`` ``info-get``/``info-set``), as before. Commands and JSON: :mod:`.datasets`.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from vsguesttruth_guest import datasets, guestinfo
from vsguesttruth_guest.errors import RpcFailed
from vsguesttruth_guest.rpc import SEARCH_DIRS, VMTOOLSD, Rpc, _first_line


def find_vmtoolsd(rpc: Rpc) -> str | None:
    """``vmtoolsd`` for data set commands: the guestinfo tool itself when it is vmtoolsd, else the one beside
    it, on PATH or in the usual install folders (data sets need vmtoolsd: vmware-rpctool cannot send them)."""
    tool = rpc.argv[0]
    if os.path.basename(tool).startswith(VMTOOLSD):
        return tool
    beside = os.path.join(os.path.dirname(tool), VMTOOLSD)
    for candidate in (beside, shutil.which(VMTOOLSD), *(os.path.join(d, VMTOOLSD) for d in SEARCH_DIRS)):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class DataSetTool:
    """``vmtoolsd --cmd "datasets-..."``: one command, its JSON answer."""

    def __init__(self, path: str, timeout: float) -> None:
        self.argv = [path, "--cmd"]
        self.timeout = timeout

    def run(self, command: str) -> dict:
        """The command's answer; :class:`datasets.Failed` for ``"result": false``, ValueError when vmtoolsd did
        not answer like a data set command, RpcFailed when it could not be run in time."""
        try:
            proc = subprocess.run([*self.argv, command], capture_output=True, stdin=subprocess.DEVNULL,
                                  timeout=self.timeout, shell=False, check=False)
        except subprocess.TimeoutExpired:
            raise RpcFailed(f"vmtoolsd did not answer within {self.timeout:g} s") from None
        except OSError as err:
            raise RpcFailed(f"cannot run vmtoolsd: {err.strerror or err}") from None
        try:
            return datasets.parse_answer(proc.stdout.strip())
        except ValueError:
            raise ValueError(_first_line(proc)) from None


class Channel:
    """The guest's four values, over data sets where the service put them, else over guestinfo."""

    def __init__(self, rpc: Rpc, tool: DataSetTool | None = None) -> None:
        self.rpc = rpc
        self.tool = tool
        self._sets: set[str] | None = None if tool is not None else set()

    @classmethod
    def locate(cls, rpc: Rpc) -> "Channel":
        path = find_vmtoolsd(rpc)
        return cls(rpc, DataSetTool(path, rpc.timeout) if path else None)

    @property
    def sets(self) -> set[str]:
        """The VM's data sets as the guest sees them (asked once); empty when data sets cannot be used here."""
        if self._sets is None:
            try:
                self._sets = datasets.names_in(self.tool.run(datasets.LIST))
            except (ValueError, datasets.Failed, RpcFailed):
                self._sets = set()  # no data sets here: guestinfo
        return self._sets

    def where(self, key: str) -> tuple[str, str] | None:
        """``(data set, entry)`` of a guestinfo key when it travels in a data set here, else None."""
        dataset, entry = datasets.ENTRIES[key]
        if datasets.HOST_SET not in self.sets:
            return None
        if key == guestinfo.RESPONSE and datasets.GUEST_SET not in self.sets:
            return None  # requests go to guestinfo then, and are answered there
        return (dataset, entry) if dataset in self.sets else None

    @property
    def name(self) -> str:
        return "datasets" if datasets.HOST_SET in self.sets else "guestinfo"

    def get(self, key: str) -> bytes | None:
        """The value (UTF-8 bytes, as guestinfo gives them), or None when there is none."""
        found = self.where(key)
        if found is None:
            return self.rpc.get(key)
        dataset, entry = found
        try:
            answer = self.tool.run(datasets.get_command(dataset, entry))
        except datasets.Failed as err:
            if err.error_id == "not-found":
                return None
            raise RpcFailed(f"vmtoolsd {datasets.GET} {dataset}/{entry} failed: {err.error_id}: {err}") from None
        except ValueError as err:
            raise RpcFailed(f"vmtoolsd {datasets.GET} {dataset}/{entry} failed: {err}") from None
        value = datasets.value_in(answer, entry)
        return None if value is None else value.encode("utf-8", errors="surrogateescape")

    def set(self, key: str, value: str) -> None:
        """Set the value (an empty value clears it)."""
        found = self.where(key)
        if found is None:
            self.rpc.set(key, value)
            return
        dataset, entry = found
        command = datasets.set_command(dataset, entry, value)
        if len(command.encode()) > guestinfo.RPC_LIMIT:
            raise RpcFailed(f"{datasets.SET} {dataset}/{entry}: {len(command.encode())} bytes is over the "
                            f"{guestinfo.RPC_LIMIT} byte RPC limit")
        try:
            self.tool.run(command)
        except (datasets.Failed, ValueError) as err:
            reason = f"{err.error_id}: {err}" if isinstance(err, datasets.Failed) else str(err)
            raise RpcFailed(f"vmtoolsd {datasets.SET} {dataset}/{entry} failed: {reason}") from None
