"""Time the publish reconciler at scale on plain data: a full pass, a quiet pass, and a pass after a fault.

    .venv/bin/python scripts/bench_publish.py [--hosts 2000] [--vms 20000] [--luns 8]

Uses ``bench_truth.build`` (2,000 hosts x 8 shared LUNs x 4 paths, 20,000 VMs x 2 disks) and a writer that
applies writes the way the watch would show them (new VM objects), so the echo pass is timed too.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_truth import build  # noqa: E402

from vsguesttruth.config import Config  # noqa: E402
from vsguesttruth.model import PathState  # noqa: E402
from vsguesttruth.reconcile import Reconciler, WriteResult  # noqa: E402


class Sink:
    def __init__(self, inv):
        self.inv = inv
        self.count = 0

    def write(self, writes):
        vms = dict(self.inv.vms)
        for w in writes:
            vm = vms[w.vm]
            vms[w.vm] = replace(vm, guestinfo={**vm.guestinfo, **w.values})
        self.inv = replace(self.inv, vms=vms)
        self.count += len(writes)
        return [WriteResult(w, True) for w in writes]

    def refresh(self, hosts):
        return {}


def timed(label, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{label:<44} {time.perf_counter() - start:7.2f} s  examined {result.examined:6d}  "
          f"wrote {result.states:6d}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--vms", type=int, default=20000)
    parser.add_argument("--luns", type=int, default=8)
    args = parser.parse_args()
    sink = Sink(build(args.hosts, args.vms, args.luns))
    rec = Reconciler(Config(), sink)
    timed("first pass (every VM written)", lambda: rec.reconcile(sink.inv))
    timed("echo of the writes (every VM object new)", lambda: rec.reconcile(sink.inv))
    timed("nothing changed", lambda: rec.reconcile(sink.inv))
    host = sink.inv.hosts["host-0"]
    dead = replace(host, paths=tuple(replace(p, state=PathState.DEAD) if p.hba == "vmhba2" else p for p in host.paths))
    sink.inv = sink.inv.with_host(dead)
    timed("one host loses a fabric", lambda: rec.reconcile(sink.inv))
    timed("its echo", lambda: rec.reconcile(sink.inv))
    timed("full pass (safety net), nothing to write", lambda: rec.reconcile(sink.inv, full=True))


if __name__ == "__main__":
    main()
