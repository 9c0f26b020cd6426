"""Time truth.disk_truths on a synthetic inventory: 2,000 hosts x 8 shared LUNs x 4 paths, 20,000 VMs x 2 disks.

    .venv/bin/python scripts/bench_truth.py [--hosts 2000] [--vms 20000] [--luns 8]

Every host sees every array LUN (like ``vsgt-lab --hosts N``), so a disk's "who else reaches it" question
spans all 2,000 hosts: the case the indexes in ``TruthContext`` exist for. Some faults are injected so
that the non-healthy branches (and their explanations) are timed too.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter

from vsguesttruth.model import Datastore, Disk, Hba, Host, Inventory, Lun, Mount, Path, PathState, Vm
from vsguesttruth.truth import TruthContext, disk_truths, to_json


def build(n_hosts: int, n_vms: int, n_luns: int, seed: int = 1) -> Inventory:
    rnd = random.Random(seed)
    names = [f"naa.600601600a0b0a{i:018x}" for i in range(1, n_luns + 1)]
    hosts = {}
    for h in range(n_hosts):
        paths = []
        for lun_id, name in enumerate(names, 1):
            for hba, port in (("vmhba2", 0), ("vmhba3", 1)):
                for ctl in (0, 1):
                    state = PathState.ACTIVE if ctl == lun_id % 2 else PathState.STANDBY
                    if rnd.random() < 0.01:
                        state = PathState.DEAD
                    paths.append(Path(f"{hba}:C0:T{ctl}:L{lun_id}", name, hba, f"A-ctl{ctl}-p{port}", state))
        hosts[f"host-{h}"] = Host(
            moref=f"host-{h}", name=f"esx-{h:04d}", cluster=f"cl-{h // 32}",
            connection_state="notResponding" if rnd.random() < 0.005 else "connected",
            hbas=(Hba("vmhba2", "k2", "fc", "online"), Hba("vmhba3", "k3", "fc", "online")),
            luns=tuple(Lun(name, uuid="02" + name[4:]) for name in names), paths=tuple(paths),
        )
    mounts = tuple(Mount(host=m) for m in hosts)
    datastores = {f"datastore-{i}": Datastore(f"datastore-{i}", f"ds-{i}", "VMFS", extents=(name,), mounts=mounts)
                  for i, name in enumerate(names)}
    datastores["datastore-nfs"] = Datastore("datastore-nfs", "nfs01", "NFS", mounts=mounts)
    ds_ids = list(datastores)
    vms = {}
    for v in range(n_vms):
        disks = []
        for k in range(2):
            if k == 1 and v % 10 == 0:
                disks.append(Disk(2000 + k, f"Hard disk {k + 1}", "pvscsi", 0, k, backing="rdm_physical",
                                  lun_uuid="02" + rnd.choice(names)[4:]))
            else:
                disks.append(Disk(2000 + k, f"Hard disk {k + 1}", "pvscsi", 0, k, datastores=(rnd.choice(ds_ids),)))
        vms[f"vm-{v}"] = Vm(f"vm-{v}", f"vm{v:05d}", host=f"host-{rnd.randrange(n_hosts)}", disks=tuple(disks))
    return Inventory(hosts=hosts, datastores=datastores, vms=vms)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--vms", type=int, default=20000)
    parser.add_argument("--luns", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    inv = build(args.hosts, args.vms, args.luns)
    times, cpu = [], []
    for _ in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        truths = disk_truths(inv)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    print(f"{args.hosts} hosts, {args.vms} VMs, {len(truths)} disks, "
          f"{sum(len(h.paths) for h in inv.hosts.values())} paths")
    print(f"disk_truths: best {min(times):.3f} s, worst {max(times):.3f} s over {args.repeat} runs "
          f"(CPU time best {min(cpu):.3f} s: wall time suffers when the machine is busy)")
    print("verdicts:", dict(Counter(t.verdict.value for t in truths)))
    ctx = TruthContext(inv)
    start = time.perf_counter()
    ctx.vm_truths()
    print(f"vm_truths on a fresh context: {time.perf_counter() - start:.3f} s")
    start = time.perf_counter()
    ctx.host_summary("host-0")
    print(f"host_summary (warm context): {time.perf_counter() - start:.4f} s")
    start = time.perf_counter()
    to_json(truths[0])
    print(f"to_json of one disk (evidence from {args.hosts} hosts): {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
