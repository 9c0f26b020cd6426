#!/usr/bin/env python3
"""Side by side: pyVmomi's SOAP deserializer vs vsguesttruth.vcenter.fastdecode, on large real responses.

Fetches each response body once from a simulated vCenter, then decodes the *same bytes* alternately with
``SoapResponseDeserializer(stub).Deserialize`` (what every pyVmomi call does) and ``fastdecode.decode``,
checks that both produce identical objects, and prints the times and the ratio. Then times the whole
call (request + server + decode) both ways: ``collector.RetrievePropertiesEx(...)`` vs
``fastdecode.invoke(...)``.

    scripts/bench_decode.py                       # starts lab/bin/vsgt-lab --hosts 100 --vms 2500
    scripts/bench_decode.py --hosts 50 --vms 500  # smaller
    scripts/bench_decode.py --url http://user:pass@127.0.0.1:8989/sdk   # any running simulator/vCenter (http)
    scripts/bench_decode.py --lab-binary /path/to/vsgt-lab --rounds 5 --json

Responses: hosts' storage (name, parent, connectionState, config.storageDevice, config.multipathState),
VMs' devices (name, instanceUuid, powerState, runtime.host, config.hardware.device, config.extraConfig),
datastores (name, summary, info, host).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl
from pyVmomi.SoapAdapter import SoapResponseDeserializer
from pyVmomi.VmomiSupport import DataObject, ManagedObject

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vsguesttruth.vcenter import fastdecode  # noqa: E402

PC = vmodl.query.PropertyCollector
ROOT = Path(__file__).resolve().parents[1]

QUERIES: dict[str, tuple[type, list[str]]] = {
    "hosts.storage": (
        vim.HostSystem,
        ["name", "parent", "runtime.connectionState", "config.storageDevice", "config.multipathState"],
    ),
    "vms.devices": (
        vim.VirtualMachine,
        ["name", "config.instanceUuid", "runtime.powerState", "runtime.host", "config.hardware.device",
         "config.extraConfig"],
    ),
    "datastores": (vim.Datastore, ["name", "summary", "info", "host"]),
}


def same(a: Any, b: Any, path: str = "$") -> None:
    """Raise AssertionError unless a and b are the same pyVmomi objects (classes, values, morefs)."""
    if type(a) is not type(b):
        raise AssertionError(f"{path}: {type(a).__name__} != {type(b).__name__}")
    if isinstance(a, ManagedObject):
        if vars(a) != vars(b):
            raise AssertionError(f"{path}: {vars(a)} != {vars(b)}")
    elif isinstance(a, DataObject):
        if list(vars(a)) != list(vars(b)):
            raise AssertionError(f"{path}: attributes differ")
        for key, val in vars(a).items():
            same(val, vars(b)[key], f"{path}.{key}")
    elif isinstance(a, list):
        if len(a) != len(b):
            raise AssertionError(f"{path}: {len(a)} != {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
    elif a != b:
        raise AssertionError(f"{path}: {a!r} != {b!r}")


def start_lab(binary: Path, hosts: int, vms: int) -> tuple[subprocess.Popen, str, str]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-decode-"))
    state = tmp / "state.json"
    proc = subprocess.Popen(
        [str(binary), "--http", "--hosts", str(hosts), "--vms", str(vms), "--state-file", str(state),
         "--tls-dir", str(tmp / "tls")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not state.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"{binary} did not start (exit {proc.returncode})")
        time.sleep(0.2)
    info = json.loads(state.read_text())
    return proc, info["url"], str(tmp)


def spec_for(content: Any, kind: type, paths: list[str]) -> tuple[Any, Any]:
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[
            PC.TraversalSpec(name="traverse", type=vim.view.ContainerView, path="view", skip=False)])],
        propSet=[PC.PropertySpec(type=kind, pathSet=paths, all=False)],
    )
    return view, spec


def timed(fn: Callable[[], Any], gc_off: bool = False) -> tuple[float, Any]:
    gc.collect()
    if gc_off:
        gc.disable()
    try:
        start = time.perf_counter()
        result = fn()
        return time.perf_counter() - start, result
    finally:
        gc.enable()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="http(s)://user:pass@host:port/sdk of a running endpoint (default: start the lab)")
    ap.add_argument("--lab-binary", type=Path, default=ROOT / "lab" / "bin" / "vsgt-lab")
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--vms", type=int, default=2500)
    ap.add_argument("--rounds", type=int, default=3, help="decodes of each body per decoder (median reported)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    proc, tmp = None, None
    if args.url:
        url = args.url
    else:
        proc, url, tmp = start_lab(args.lab_binary, args.hosts, args.vms)
    parts = urlsplit(url)
    si = SmartConnect(host=parts.hostname, port=parts.port or (443 if parts.scheme == "https" else 80),
                      user=parts.username or "user", pwd=parts.password or "pass",
                      protocol=parts.scheme, disableSslCertValidation=True)
    results: dict[str, Any] = {"url": url.replace(parts.password or "\0", "***"), "api_version": si._stub.version,
                               "queries": {}}
    try:
        stub = si._stub
        content = si.RetrieveContent()
        pc = content.propertyCollector
        info = pc._GetMethodInfo("RetrievePropertiesEx")
        for name, (kind, paths) in QUERIES.items():
            view, spec = spec_for(content, kind, paths)
            options = PC.RetrieveOptions()
            status, body = fastdecode._post(stub, pc, info, [[spec], options])
            assert status == 200, status
            fast = fastdecode.decode(body, info.result, stub)
            ref = SoapResponseDeserializer(stub).Deserialize(body, info.result)
            same(fast, ref)
            elements = body.count(b"</")
            row: dict[str, Any] = {"objects": len(ref.objects) if ref else 0, "bytes": len(body),
                                   "elements": elements}
            del fast, ref
            t_py, t_py_nogc, t_fast = [], [], []
            for _ in range(args.rounds):
                t_py.append(timed(lambda: SoapResponseDeserializer(stub).Deserialize(body, info.result))[0])
                t_py_nogc.append(timed(lambda: SoapResponseDeserializer(stub).Deserialize(body, info.result), True)[0])
                t_fast.append(timed(lambda: fastdecode.decode(body, info.result, stub))[0])
            row.update(
                pyvmomi_s=statistics.median(t_py), pyvmomi_gc_off_s=statistics.median(t_py_nogc),
                fast_s=statistics.median(t_fast),
            )
            row["ratio"] = row["pyvmomi_s"] / row["fast_s"]
            row["ratio_vs_gc_off"] = row["pyvmomi_gc_off_s"] / row["fast_s"]
            row["fast_us_per_element"] = row["fast_s"] / max(elements, 1) * 1e6
            row["pyvmomi_us_per_element"] = row["pyvmomi_s"] / max(elements, 1) * 1e6
            # whole calls: request + server + transfer + decode
            call_py = statistics.median(timed(lambda: pc.RetrievePropertiesEx([spec], options))[0] for _ in range(2))
            call_fast = statistics.median(
                timed(lambda: fastdecode.invoke(si, pc, "RetrievePropertiesEx", [spec], options))[0] for _ in range(2))
            row.update(call_pyvmomi_s=call_py, call_invoke_s=call_fast, call_ratio=call_py / call_fast)
            results["queries"][name] = row
            view.DestroyView()
    finally:
        try:
            Disconnect(si)
        except Exception:  # noqa: BLE001
            pass
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    rows = results["queries"].values()
    total_py = sum(r["pyvmomi_s"] for r in rows)
    total_fast = sum(r["fast_s"] for r in rows)
    results["total"] = {"pyvmomi_s": total_py, "fast_s": total_fast, "ratio": total_py / total_fast}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"endpoint {results['url']}  API {results['api_version']}  python {sys.version.split()[0]}  "
          f"cpus {os.cpu_count()}  rounds {args.rounds} (median)")
    print(f"{'response':<15}{'objects':>8}{'MB':>7}{'elements':>10}{'pyVmomi s':>11}{'(gc off)':>10}"
          f"{'fast s':>9}{'ratio':>8}{'(vs gc off)':>12}{'call pyVmomi':>14}{'invoke':>8}{'ratio':>7}")
    for name, r in results["queries"].items():
        print(f"{name:<15}{r['objects']:>8}{r['bytes'] / 1e6:>7.1f}{r['elements']:>10}{r['pyvmomi_s']:>11.3f}"
              f"{r['pyvmomi_gc_off_s']:>10.3f}{r['fast_s']:>9.3f}{r['ratio']:>7.1f}x{r['ratio_vs_gc_off']:>11.1f}x"
              f"{r['call_pyvmomi_s']:>14.3f}{r['call_invoke_s']:>8.3f}{r['call_ratio']:>6.1f}x")
    t = results["total"]
    print(f"{'total decode':<40}{t['pyvmomi_s']:>11.3f}{'':>10}{t['fast_s']:>9.3f}{t['ratio']:>7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
