#!/usr/bin/env python3
"""A stand-in for VMware Tools' ``vmware-rpctool`` (and ``vmtoolsd --cmd``), for tests.

It speaks the same command line: one argument ``"info-get KEY"`` or ``"info-set KEY VALUE"`` (or
``--cmd`` and that argument, like vmtoolsd). ``info-get`` prints the value and a newline, or prints
``No value found`` on stderr and exits 1, as the real tool does. Where the values live:

- ``VSGT_FAKE_VC_URL`` set: in one VM's extraConfig on a vCenter (the lab), through pyVmomi, as the
  VMX would serve them: ``VSGT_FAKE_VC_USER``, ``VSGT_FAKE_VC_PASSWORD``, ``VSGT_FAKE_VC_CA`` (CA file),
  ``VSGT_FAKE_VM`` (the VM's managed object id, e.g. ``vm-96``). ``info-set`` is a ReconfigVM with one
  OptionValue (an empty value removes the key, as vCenter does).
- otherwise ``VSGT_FAKE_GUESTINFO_DIR``: one file per key.

The vCenter backend needs pyVmomi: put the test venv's ``bin`` first on PATH (the shebang is
``/usr/bin/env python3``). ``VSGT_FAKE_RPC_LOG``: append each argv as a JSON line. ``VSGT_FAKE_NOT_IN_VM=1``: answer like the real
tool outside a VM. ``VSGT_FAKE_RPC_SLEEP``: seconds to sleep first (timeouts).
"""

import json
import os
import sys
import time


def main(argv):
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
    store = VCenterStore() if os.environ.get("VSGT_FAKE_VC_URL") else DirStore(os.environ["VSGT_FAKE_GUESTINFO_DIR"])
    try:
        return serve(store, verb, rest)
    finally:
        store.close()


def serve(store, verb, rest):
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
    def __init__(self, folder):
        self.folder = folder

    def close(self):
        pass

    def _path(self, key):
        return os.path.join(self.folder, key.replace("/", "_"))

    def get(self, key):
        try:
            with open(self._path(key), encoding="utf-8", errors="surrogateescape") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def set(self, key, value):
        if value == "":
            try:
                os.unlink(self._path(key))
            except FileNotFoundError:
                pass
            return
        with open(self._path(key), "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(value)


class VCenterStore:
    def __init__(self):
        import ssl
        from urllib.parse import urlparse

        from pyVim.connect import SmartConnect
        from pyVmomi import vim, vmodl

        self.vim, self.vmodl = vim, vmodl
        url = urlparse(os.environ["VSGT_FAKE_VC_URL"])
        context = ssl.create_default_context(cafile=os.environ["VSGT_FAKE_VC_CA"])
        self.si = SmartConnect(
            host=url.hostname, port=url.port or 443, user=os.environ["VSGT_FAKE_VC_USER"],
            pwd=os.environ["VSGT_FAKE_VC_PASSWORD"], sslContext=context,
        )
        self.vm = vim.VirtualMachine(os.environ["VSGT_FAKE_VM"], self.si._stub)

    def close(self):
        try:
            self.si.content.sessionManager.Logout()
        except Exception:
            pass

    def get(self, key):
        pc = self.si.content.propertyCollector
        spec = self.vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[self.vmodl.query.PropertyCollector.ObjectSpec(obj=self.vm)],
            propSet=[self.vmodl.query.PropertyCollector.PropertySpec(type=self.vim.VirtualMachine, pathSet=["config.extraConfig"])],
        )
        for content in pc.RetrieveContents([spec]):
            for prop in content.propSet:
                for option in prop.val:
                    if option.key == key:
                        return str(option.value)
        return None

    def set(self, key, value):
        spec = self.vim.vm.ConfigSpec(extraConfig=[self.vim.option.OptionValue(key=key, value=value)])
        task = self.vm.ReconfigVM_Task(spec=spec)
        deadline = time.monotonic() + 30
        while task.info.state in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.02)
        if task.info.state != "success":
            raise SystemExit(f"ReconfigVM failed: {task.info.error}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
