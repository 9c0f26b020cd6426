#!/usr/bin/env python3
"""A stand-in vmware-rpctool for the guest agent's tests without a vCenter: guestinfo as one file per key in
``VSGT_FAKE_GUESTINFO_DIR``, on the command line of the lab's stand-in (``vsguesttruth.lab.rpctool``), with
the test knobs a real guest cannot offer. Tests run it as a file and symlink it as ``vmtoolsd``; it needs the
standard library only, so whatever ``python3`` PATH finds will do.

``VSGT_FAKE_RPC_LOG``: append each argv as a JSON line. ``VSGT_FAKE_NOT_IN_VM=1``: answer like the real tool
outside a VM. ``VSGT_FAKE_RPC_SLEEP``: seconds to sleep first (timeouts). ``VSGT_FAKE_DATASETS``: a JSON file
``{"<data set>": {"guest": "READ_ONLY", "entries": {...}}}``: then ``vmtoolsd --cmd "datasets-..."`` answers from
it as the VMX does (lab/README.md, "VM data sets in the guest"); without it, "Unknown command" as VMware Tools
on a VM without data sets.
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, for vsguesttruth.lab.rpctool

from vsguesttruth.lab.rpctool import main  # noqa: E402


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


def datasets(argv: list[str]) -> int | None:
    """A data set command served from ``VSGT_FAKE_DATASETS`` (None: not one)."""
    command = argv[-1] if len(argv) >= 2 else ""
    if not command.startswith("datasets-") or not os.environ.get("VSGT_FAKE_DATASETS"):
        return None
    path = Path(os.environ["VSGT_FAKE_DATASETS"])
    sets = json.loads(path.read_text())
    name, _, arg = command.partition(" ")
    given = json.loads(arg) if arg else {}

    def answer(doc: dict) -> int:
        print(json.dumps(doc))
        return 0

    if name == "datasets-list":
        return answer({"result": True, "datasets": [{"name": n, "description": ""} for n in sets]})
    found = sets.get(given.get("dataset"))
    if found is None:
        return answer({"result": False, "error-id": "not-found", "error-message": "No data set."})
    if name == "datasets-get-entry":
        key = given["keys"][0]
        if key not in found["entries"]:
            return answer({"result": False, "error-id": "not-found", "error-message": f"No entry {key}."})
        return answer({"result": True, "entries": [{key: found["entries"][key]}]})
    if name == "datasets-set-entry":
        if found["guest"] != "READ_WRITE":
            return answer({"result": False, "error-id": "access-denied", "error-message": "read only"})
        for entry in given["entries"]:
            found["entries"][entry["key"]] = entry["value"]
        path.write_text(json.dumps(sets))
        return answer({"result": True})
    return answer({"result": False, "error-id": "invalid-argument", "error-message": "unknown"})


def fake_main(argv: list[str]) -> int:
    if os.environ.get("VSGT_FAKE_RPC_LOG"):
        with open(os.environ["VSGT_FAKE_RPC_LOG"], "a") as log:
            log.write(json.dumps(argv) + "\n")
    if os.environ.get("VSGT_FAKE_RPC_SLEEP"):
        time.sleep(float(os.environ["VSGT_FAKE_RPC_SLEEP"]))
    if os.environ.get("VSGT_FAKE_NOT_IN_VM"):
        sys.stderr.write(f"{os.path.basename(argv[0])} must be run inside a virtual machine on a VMware hypervisor product.\n")
        return 1
    served = datasets(argv)
    if served is not None:
        return served
    if not os.environ.get("VSGT_FAKE_GUESTINFO_DIR"):
        sys.stderr.write("fake rpctool: set VSGT_FAKE_GUESTINFO_DIR\n")
        return 1
    return main(argv, lambda: DirStore(os.environ["VSGT_FAKE_GUESTINFO_DIR"]))


if __name__ == "__main__":
    sys.exit(fake_main(sys.argv))
