"""The stand-in ``vmware-rpctool`` and ``vmtoolsd`` of the lab's simulated guests: guestinfo served from a lab
VM's extraConfig, VM data sets from the lab's guest door.

It speaks the real tools' command line: one argument ``"info-get KEY"`` or ``"info-set KEY VALUE"`` (or
``--cmd`` and that argument, like ``vmtoolsd``). ``info-get`` prints the value and a newline, or ``No value
found`` on stderr and exits 1, as the real tool does; ``info-set`` is a ReconfigVM with one OptionValue (an
empty value removes the key, as vCenter does), the way the VMX serves guestinfo. As ``vmtoolsd --cmd``, the
data set commands (``datasets-list``, ``datasets-get-entry``, ...) go to the lab's ``POST /v1/guest/datasets``,
which answers what the VMX would: their JSON is printed as it comes; a VM the door refuses (powered off,
hardware older than vmx-20) fails like an RPC the VMX does not know, one line on stderr and exit 1.

Where the VM is comes from the environment only, never argv, so no password shows in a process list:
``VSGT_FAKE_VC_URL``, ``VSGT_FAKE_VC_USER``, ``VSGT_FAKE_VC_PASSWORD``, ``VSGT_FAKE_VC_CA`` (CA file; TLS is
verified), ``VSGT_FAKE_VM`` (the VM's managed object id, e.g. ``vm-96``), ``VSGT_FAKE_LAB_CONTROL`` (the lab's
control API, for the data set commands).

Only the standard library is imported at module level: :func:`main` and :func:`serve` run with any store
(the guest agent's tests serve a folder, ``tests/fakes/rpctool.py``); the vCenter edge is imported where
vCenter is spoken to.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any, Callable

from vsguesttruth.errors import VsgtError

FAKE_PREFIX = "VSGT_FAKE_"
RPCTOOL_NAME = "vmware-rpctool"
VMTOOLSD_NAME = "vmtoolsd"
DATASETS = "datasets-"


def main(argv: list[str], store: Callable[[], Any] | None = None) -> int:
    """Run one rpctool command line against ``store()`` (default: the lab VM named by the environment)."""
    args = argv[1:]
    if args and args[0] == "--cmd":
        args = args[1:]
    if len(args) != 1:
        sys.stderr.write("usage: rpctool 'info-get KEY' | 'info-set KEY VALUE'\n")
        return 2
    verb, _, rest = args[0].partition(" ")
    if verb.startswith(DATASETS) and store is None:
        return guest_door(args[0])
    if store is None and not os.environ.get("VSGT_FAKE_VC_URL"):
        sys.stderr.write("stand-in rpctool: set VSGT_FAKE_VC_URL and the rest of the lab VM's settings\n")
        return 1
    try:
        opened = (store or VCenterStore)()
    except Exception as err:  # the real tool fails with one line when the VMX does not answer
        sys.stderr.write(f"Failed sending message to VMware (lab vCenter: {err}).\n")
        return 1
    try:
        return serve(opened, verb, rest)
    finally:
        opened.close()


def guest_door(command: str) -> int:
    """A data set command, answered by the lab's guest door for the VM of ``VSGT_FAKE_VM``."""
    control, vm = os.environ.get("VSGT_FAKE_LAB_CONTROL", ""), os.environ.get("VSGT_FAKE_VM", "")
    if not control or not vm:
        sys.stderr.write("Unknown command\n")  # no lab behind this stand-in: like VMware Tools without data sets
        return 1
    request = urllib.request.Request(control.rstrip("/") + "/v1/guest/datasets", method="POST",
                                     data=json.dumps({"vm": vm, "cmd": command}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            sys.stdout.write(answer.read().decode("utf-8", errors="replace") + "\n")
            return 0
    except urllib.error.HTTPError as err:
        try:
            reason = json.loads(err.read().decode("utf-8", errors="replace")).get("error", "")
        except ValueError:
            reason = ""
        sys.stderr.write(f"Unknown command ({reason or err.code})\n" if err.code != 400 else f"{reason}\n")
        return 1
    except OSError as err:
        sys.stderr.write(f"Failed sending message to VMware (lab control API: {err}).\n")
        return 1


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


class VCenterStore:
    """guestinfo as one VM's extraConfig on a vCenter, as the VMX serves it (through the vCenter edge)."""

    def __init__(self) -> None:
        self.conn = connect(_EnvLab())
        self.vm = os.environ["VSGT_FAKE_VM"]

    def close(self) -> None:
        self.conn.close()

    def get(self, key: str) -> str | None:
        from vsguesttruth.vcenter import get_extra_config

        return get_extra_config(self.conn, self.vm, key)

    def set(self, key: str, value: str) -> None:
        from vsguesttruth.vcenter import set_extra_config

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



def connect(lab: Any) -> Any:
    """A ``vsguesttruth.vcenter.Connection`` on the lab, TLS verified against its certificate (or plain
    http); raises a one-line ``VsgtError``."""
    from vsguesttruth.vcenter import ConnectionSettings, connect as vcenter_connect

    return vcenter_connect(ConnectionSettings(url=lab.url, username=lab.username, password=lab.password,
                                              ca_file=lab.cert or None))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
