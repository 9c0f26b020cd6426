"""`make bench`'s delivery parts: the first full publish of every VM through guestinfo and through VM data sets,
side by side, and what polling the guests' data sets costs at that scale.

Each part runs in its own process on a fresh lab (``scripts/bench.py`` starts them: a guestinfo publish would
leave documents a data set publish removes, so they never share a lab). Measured:

  publish    writes, seconds (snapshot, first reads of the data sets, the pass), vCenter tasks created
             (ReconfigVM_Task calls: one per guestinfo write; an entry set is no task), Automation API calls;
             then the next publish after an array port failure changes every SAN VM's document
  polls      one read of every data-set VM's guest data set as fast as the publish's concurrency allows (what a
             sweep costs, calls a second reached), then the same under the default budget for a while (the
             budget holds: calls a second spent), and how long a sweep of all of them takes at that budget

    .venv/bin/python scripts/bench_delivery.py --info '{"url": ...}' --channel datasets
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def publish(info: dict, channel: str, budget_seconds: float = 10.0) -> dict:
    from vsguesttruth.config import Config, DeliveryConfig
    from vsguesttruth.delivery import open_delivery
    from vsguesttruth.reconcile import Reconciler
    from vsguesttruth.vcenter import ConnectionSettings, Publisher, connect, snapshot

    conn = connect(ConnectionSettings(url=info["url"], username=info["username"], password=info["password"],
                                      ca_file=info.get("cert") or None))
    config = Config(delivery=DeliveryConfig(channel=channel))
    publisher = Publisher(conn, concurrency=config.publish.concurrency, attempts=config.publish.attempts,
                          task_timeout=config.publish.task_timeout)
    rec = Reconciler(config, publisher)
    delivery = open_delivery(conn, config, rec.scope_includes)
    if delivery is not None:
        rec.writer = delivery.writer(publisher)
    t0 = time.perf_counter()
    inv = snapshot(conn)
    t1 = time.perf_counter()
    planned = delivery.prepare(inv) if delivery is not None else inv
    t2 = time.perf_counter()
    result = rec.reconcile(planned, full=True)
    t3 = time.perf_counter()
    on_sets = len(delivery.held) if delivery is not None else 0
    out = {
        "channel": channel, "vms": len(inv.vms), "seconds": t3 - t0, "snapshot_s": t1 - t0, "first_reads_s": t2 - t1,
        "pass_s": t3 - t2, "states": result.states, "failed": result.failed, "tasks": publisher.tasks,
        "guestinfo_writes": publisher.writes, "datasets_vms": on_sets,
        "dataset_entries": delivery.writes if delivery else 0, "datasets_created": delivery.creates if delivery else 0,
        "api_calls": delivery.calls if delivery else 0,
    }
    out["rss_after_publish_mb"] = peak_rss_mb()
    out["next"] = change_everything(info, conn, rec, delivery, publisher)
    out["rss_after_next_mb"] = peak_rss_mb()
    if delivery is not None and on_sets:
        out["polls"] = polls(delivery, budget_seconds)
        delivery.close()
    publisher.close()
    conn.close()
    out["rss_mb"] = peak_rss_mb()
    return out


def change_everything(info: dict, conn, rec, delivery, publisher) -> dict:
    """The next publish after a change of every VM's document: an array port fails (every host loses a path
    to every LUN of array A: the disks on it turn degraded), then a fresh snapshot and a pass."""
    import urllib.request

    from vsguesttruth.vcenter import snapshot

    calls, tasks = (delivery.calls if delivery else 0), publisher.tasks
    entries = delivery.writes if delivery else 0
    request = urllib.request.Request(info["control"] + "/v1/fault/target", method="POST",
                                     data=json.dumps({"target": "A-ctl0-p0", "state": "dead"}).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=600).read()  # 2,000 hosts lose a path each: slow on a busy machine
    t0 = time.perf_counter()
    inv = snapshot(conn)
    planned = delivery.prepare(inv) if delivery is not None else inv
    result = rec.reconcile(planned)
    return {"seconds": time.perf_counter() - t0, "states": result.states, "failed": result.failed,
            "tasks": publisher.tasks - tasks, "api_calls": (delivery.calls if delivery else 0) - calls,
            "dataset_entries": (delivery.writes if delivery else 0) - entries}


def polls(delivery, budget_seconds: float) -> dict:
    """What reading the guests' data sets costs: one sweep of every VM as fast as it goes, then the default
    budget for ``budget_seconds`` seconds."""
    from vsguesttruth.config import DeliveryConfig
    from vsguesttruth.delivery import PollSchedule

    vms = sorted(delivery.held)
    # as fast as the concurrency allows: every VM due now, an unlimited budget
    delivery.schedule = PollSchedule(1_000_000, sweep=0.001, window=0)
    now = time.monotonic()
    for vm in vms:
        delivery.schedule.read(vm, now - 1)
    calls0, t0 = delivery.calls, time.perf_counter()
    while delivery.schedule.reads < len(vms):
        delivery.poll()
    sweep_s = time.perf_counter() - t0
    sweep_calls = delivery.calls - calls0
    # the default budget: calls a second spent while every VM is overdue
    budget = DeliveryConfig().poll_budget
    delivery.schedule = PollSchedule(budget, sweep=0.001, window=0)
    now = time.monotonic()
    for vm in vms:
        delivery.schedule.read(vm, now - 1)
    delivery.schedule._refill(time.monotonic())
    delivery.schedule.tokens = 0.0  # start empty: count only what the budget refills
    calls1, t1 = delivery.calls, time.perf_counter()
    while time.perf_counter() - t1 < budget_seconds:
        wake = delivery.schedule.next_wake()
        if wake is not None and wake > time.monotonic():
            time.sleep(min(wake - time.monotonic(), 0.5))
        delivery.poll()
    spent = time.perf_counter() - t1
    rate = (delivery.calls - calls1) / spent
    per_vm = sweep_calls / len(vms)
    return {"vms": len(vms), "sweep_s": sweep_s, "sweep_calls": sweep_calls, "max_calls_per_s": sweep_calls / sweep_s,
            "calls_per_vm": per_vm, "budget": budget, "budget_calls_per_s": rate,
            "sweep_at_budget_s": len(vms) * per_vm / budget, "lag_s": delivery.schedule.lag}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--info", required=True)
    parser.add_argument("--channel", choices=("guestinfo", "datasets"), required=True)
    parser.add_argument("--budget-seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(json.dumps(publish(json.loads(args.info), args.channel, args.budget_seconds)))


if __name__ == "__main__":
    main()
