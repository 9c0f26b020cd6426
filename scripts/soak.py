"""`make soak`: `vsguesttruth serve` on a large lab under faults for minutes, with figures.

Starts the lab (default 2,000 hosts / 20,000 VMs, migrations that take seconds as on vCenter) and
`vsguesttruth serve --mode auto` against it, as its own process so its memory is its own; waits for the first
full publish; then, for --minutes:

  path flaps      --flaps-per-minute random paths go dead for 2-8 s and come back; every 20th flap takes
                  every path of one LUN on one host at once (a switch port bounce): shorter than the
                  hysteresis, so no migration may follow
  outage          both FC HBAs of one host down for the hysteresis + 60 s: its VMs must move, within the
                  guard rails (in flight <= max_concurrent, started <= max_per_hour)
  session expiry  every session of vCenter ended (--expiries times)
  vCenter restart the lab killed (SIGKILL) and started again with its state (--restarts times)

and measures: the lag from a fault to the guest's document showing it (sampled flaps, seen through a
WaitForUpdatesEx on the sample VMs' extraConfig), recovery after each vCenter fault, the service's RSS at the
start and the end, its writes (and writes with nothing happening: must be 0), its migrations.

Prints a table; --json FILE writes the figures; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import math
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import rss_mb  # noqa: E402  (scripts/ is on the path: the script's own folder)
from soak_figures import (  # noqa: E402
    PeakTasks, Profile, bucket_p99s, cpu_seconds, pacing_table, per_minute_p99, time_status, top, vcenter_section)
from vsguesttruth.config import PublishConfig  # noqa: E402
from vsguesttruth.lab import Lab, LabError  # noqa: E402


DEFAULT_PACING = PublishConfig().concurrency
SOAK_PACING = max(DEFAULT_PACING, 128)
SEEN_WITHIN = 60.0  # a sampled flap not in the guest's document by its end + this is missed


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


# -- the lab's shape, from its control API ---------------------------------------------------------

@dataclass
class Shape:
    """What the soak needs to know about the lab: shared paths per host, VMs and the LUNs their disks use."""

    paths: dict[str, list[tuple[str, str]]]  # host -> [(path name, lun canonical)] on shared LUNs
    fc_hbas: dict[str, list[str]]  # host -> FC HBA devices
    cluster_of: dict[str, str]
    vm_luns: dict[str, tuple[str, str, set[str]]]  # vm name -> (moref, host, lun canonicals)
    samples: dict[str, tuple[str, str]] = field(default_factory=dict)  # host -> (vm name, moref)

    @classmethod
    def of(cls, topo: dict) -> "Shape":
        ds_luns = {d["name"]: set(d.get("extents") or ()) for d in topo["datastores"] if not d.get("local")}
        paths, hbas, clusters = {}, {}, {}
        for h in topo["hosts"]:
            shared = {c for c in h["luns"]}
            paths[h["name"]] = [(p["name"], p["canonical_name"]) for p in h["paths"] if p.get("target")
                                and p["canonical_name"] in shared]
            hbas[h["name"]] = [a["device"] for a in h["hbas"] if a["kind"] == "fc"]
            clusters[h["name"]] = h.get("cluster", "")
        vm_luns = {}
        for vm in topo["vms"]:
            luns: set[str] = set()
            for disk in vm.get("disks") or ():
                for ds in disk.get("datastores") or ():
                    luns |= ds_luns.get(ds, set())
            vm_luns[vm["name"]] = (vm["moref"], vm["host"], luns)
        return cls(paths, hbas, clusters, vm_luns)

    def choose_samples(self, count: int, rng: random.Random) -> None:
        by_host: dict[str, list[str]] = {}
        for name, (moref, host, luns) in sorted(self.vm_luns.items()):
            if luns & {c for _, c in self.paths.get(host, ())}:
                by_host.setdefault(host, []).append(name)
        hosts = sorted(by_host)
        rng.shuffle(hosts)
        for host in hosts[:count]:
            name = by_host[host][0]
            self.samples[host] = (name, self.vm_luns[name][0])


# -- the service under test ------------------------------------------------------------------------

METRICS = ("vsguesttruth_publishes_total", "vsguesttruth_reconfigure_tasks_total", "vsguesttruth_migrations_total", "vsguesttruth_migrations_in_flight",
           "vsguesttruth_inventory_updates_total", "vsguesttruth_pass_running", "vsguesttruth_inventory_ready",
           "vsguesttruth_vcenter_errors_total", "vsguesttruth_write_seconds_bucket")


class Serve:
    """`vsguesttruth serve --mode auto` in its own process, configured by a file, observed through /metrics."""

    def __init__(self, run: Path, info, args) -> None:
        from vsguesttruth.web import self_signed

        self.run = run
        self.token = secrets.token_urlsafe(24)
        cert, key = self_signed(run)
        (run / "password").write_text(info.password)
        (run / "tokens").write_text(f"soak read {self.token}\n")
        for f in ("password", "tokens"):
            os.chmod(run / f, 0o600)
        self.port = _free_port()
        (run / "config.toml").write_text(f"""{vcenter_section(info, run)}
[publish]
concurrency = {args.pacing}
full_interval = {args.full_interval}

[remediation]
mode = "auto"
max_concurrent = {args.max_concurrent}
max_per_hour = {args.max_per_hour}
stable_seconds = {args.stable_seconds}
cooldown_minutes = 30
task_timeout_seconds = 120

[web]
listen = "127.0.0.1"
port = {self.port}
cert_file = "{cert}"
key_file = "{key}"
api_tokens_file = "{run / 'tokens'}"
""")
        self.log = run / "serve.log"
        exe = Path(sys.executable).parent / "vsguesttruth"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([str(exe), "serve", "--config", str(run / "config.toml"), "--web"],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        import ssl

        self._ssl = ssl.create_default_context(cafile=str(cert))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def metrics(self, attempts: int = 5) -> dict[str, float]:
        """/metrics as {name{outcome=..}: value}; OSError when the service did not answer in 5 tries."""
        from prometheus_client.parser import text_string_to_metric_families

        # only what the soak reads: the truth of every disk would cost the service a second per scrape
        query = "&".join(f"name[]={n}" for n in METRICS)
        req = urllib.request.Request(f"https://127.0.0.1:{self.port}/metrics?{query}",
                                     headers={"Authorization": f"Bearer {self.token}"})
        for attempt in range(attempts):
            try:
                with urllib.request.urlopen(req, timeout=20, context=self._ssl) as res:
                    text = res.read().decode()
                break
            except OSError:
                if attempt == attempts - 1 or not self.alive():
                    raise
                time.sleep(1)
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name.endswith("_created"):
                    continue
                label = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k in ("outcome", "kind", "phase", "le"))
                out[s.name + (f"{{{label}}}" if label else "")] = s.value
        return out

    def writes(self) -> float:
        return self.metrics().get("vsguesttruth_publishes_total{outcome=ok}", 0.0)

    def stop(self) -> int | None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    def last_lines(self, n: int = 5) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- seeing what guests see ------------------------------------------------------------------------

class Sampler:
    """Follows the sample VMs' guestinfo state through WaitForUpdatesEx; times expectations against it.

    ``expect(vm, lun, at, until)`` registers "the document of vm shows a dead path on lun", made true at ``at``;
    the lag is the time the document that shows it arrived minus ``at``. Not seen by ``until``, it is missed
    (a later fault on the same LUN must not count as this one seen late).
    """

    def __init__(self, info, morefs: dict[str, str]) -> None:
        from vsguesttruth.vcenter import ConnectionSettings, connect

        logging.getLogger("vsguesttruth").setLevel(logging.ERROR)  # its reconnects during a restart are expected
        self.settings = ConnectionSettings(url=info.url, username=info.username, password=info.password,
                                           ca_file=info.cert, reconnect_timeout=600)
        self.conn = connect(self.settings)
        self.morefs = morefs  # moref -> vm name
        self.docs: dict[str, dict] = {}
        self.pending: dict[int, tuple[str, str, float, int, float]] = {}  # id -> (moref, lun, at, dead, until)
        self.lags: dict[int, float] = {}
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.errors = 0
        self._ids = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def expect(self, moref: str, lun: str, at: float, until: float = math.inf, dead: int = 1) -> int:
        with self.cond:
            self._ids += 1
            self.pending[self._ids] = (moref, lun, at, dead, until)
            self._check(self._ids, time.monotonic())
            return self._ids

    def wait(self, ident: int, timeout: float) -> float | None:
        with self.cond:
            self.cond.wait_for(lambda: ident in self.lags or self.stopping.is_set(), timeout)
            return self.lags.get(ident)

    def forget(self, ident: int) -> None:
        with self.cond:
            self.pending.pop(ident, None)

    def verdicts(self) -> dict[str, str]:
        with self.cond:
            return {self.morefs[m]: d.get("verdict", "?") for m, d in self.docs.items()}

    def shows_dead(self, moref: str, lun: str) -> bool:
        """Whether the VM's document shows a dead path on the LUN now (a flap there could not be seen)."""
        with self.cond:
            return self._dead(moref, lun) > 0

    def _dead(self, moref: str, lun: str) -> int:
        doc = self.docs.get(moref) or {}
        for disk in doc.get("disks") or ():
            for entry in disk.get("luns") or ():
                if entry.get("name") == lun:
                    return int((entry.get("paths") or {}).get("dead", 0))
        return 0

    def _check(self, ident: int, now: float) -> None:
        moref, lun, at, dead, until = self.pending[ident]
        if now > until:
            del self.pending[ident]  # missed
        elif self._dead(moref, lun) >= dead:
            self.lags[ident] = max(0.0, now - at)
            del self.pending[ident]
            self.cond.notify_all()

    def _run(self) -> None:
        from pyVmomi import vim, vmodl

        from vsguesttruth.guestinfo import STATE as STATE_KEY
        from vsguesttruth.guestinfo.document import read

        pc = vmodl.query.PropertyCollector
        version = None
        collector = None
        generation = -1
        while not self.stopping.is_set():
            try:
                if collector is None or generation != self.conn.generation:
                    generation = self.conn.generation
                    stub = self.conn.si._stub
                    collector = self.conn.content.propertyCollector.CreatePropertyCollector()
                    spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=vim.VirtualMachine(m, stub)) for m in self.morefs],
                                         propSet=[pc.PropertySpec(type=vim.VirtualMachine, pathSet=["config.extraConfig"])])
                    collector.CreateFilter(spec, partialUpdates=False)
                    version = ""
                update = collector.WaitForUpdatesEx(version, pc.WaitOptions(maxWaitSeconds=5))
                if update is None:
                    continue
                version = update.version
                now = time.monotonic()
                with self.cond:
                    for fs in update.filterSet or ():
                        for obj in fs.objectSet or ():
                            for change in obj.changeSet or ():
                                value = next((str(o.value) for o in (change.val or ()) if o.key == STATE_KEY), None)
                                self.docs[obj.obj._moId] = read(value) or {}
                    for ident in list(self.pending):
                        self._check(ident, now)
            except Exception as exc:  # noqa: BLE001 - vCenter restarts and expiries are the point
                if self.stopping.is_set():
                    return
                self.errors += 1
                collector = None
                try:
                    self.conn.reconnect(generation)
                except Exception:  # noqa: BLE001
                    time.sleep(1.0)
                _ = exc

    def close(self) -> None:
        self.stopping.set()
        with self.cond:
            self.cond.notify_all()
        self.conn.close()


# -- faults ----------------------------------------------------------------------------------------

@dataclass
class Tally:
    injected: int = 0
    survived: int = 0
    note: str = ""
    times: list[float] = field(default_factory=list)


class Injector:
    """Path flaps on a schedule (a heap of (time, action)), from one thread; pauses while vCenter restarts."""

    def __init__(self, lab: Lab, shape: Shape, sampler: Sampler, rng: random.Random, per_minute: int,
                 sample_every: int, avoid: set[str]) -> None:
        self.lab, self.shape, self.sampler, self.rng = lab, shape, sampler, rng
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.sample_every = sample_every
        self.avoid = avoid  # hosts under a longer outage: no flaps there
        self.heap: list[tuple[float, int, str, tuple]] = []
        self.active: dict[tuple[str, str], int] = {}  # (host, path) -> refcount of scheduled "down"
        self.flaps = Tally()
        self.bursts = Tally()
        self.failed_calls = 0
        self.samples: list[tuple[int, float, float]] = []  # (sampler id, injected at, down seconds)
        self.sampled: dict[int, tuple[str, str]] = {}  # sampler id -> (host, sample VM)
        self.changes: dict[str, list[tuple[float, str]]] = {}  # host -> (when, LUN) of each path change made
        self.per_host = {"sample": 0, "other": 0}  # flaps made on the sample hosts, on the others
        self.missed = 0
        self.paused = threading.Event()
        self.stop = threading.Event()
        self._seq = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _push(self, at: float, kind: str, payload: tuple) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (at, self._seq, kind, payload))

    def _fault(self, host: str, path: str, state: str) -> bool:
        for _ in range(3):
            try:
                self.lab.fault("path", host=host, path=path, state=state)
                lun = next((c for p, c in self.shape.paths.get(host, ()) if p == path), "")
                self.changes.setdefault(host, []).append((time.monotonic(), lun))
                return True
            except LabError:
                self.failed_calls += 1
                time.sleep(0.5)
        return False

    def _new_flap(self, now: float) -> None:
        n = self.flaps.injected + self.bursts.injected + 1
        # the timed flaps go to the sample hosts, the others elsewhere: with one sample host in every
        # ``sample_every`` (the default) every host sees the same rate of flaps, and a sample VM's document is
        # no likelier than any other to be changing when its flap comes
        hosts = [h for h in self.shape.paths if h not in self.avoid and self.shape.paths[h]
                 and h not in self.shape.samples] or [h for h in self.shape.paths if h not in self.avoid]
        sampled = self.sample_every and n % self.sample_every == 0
        if sampled:
            hosts = [h for h in self.shape.samples if h not in self.avoid]
        host = self.rng.choice(hosts)
        self.per_host["sample" if host in self.shape.samples else "other"] += 1
        paths = self.shape.paths[host]
        if sampled:
            vm, moref = self.shape.samples[host]
            luns = sorted(self.shape.vm_luns[vm][2] & {c for _, c in paths})
            lun = self.rng.choice(luns)
            on_lun = [p for p, c in paths if c == lun]
            if any(self.active.get((host, p)) for p in on_lun) or self.sampler.shows_dead(moref, lun):
                # something else flaps there now, or the guest has not seen the last one end: the expectation
                # would be ambiguous (met before the flap is seen)
                sampled = False
            else:
                path, down = self.rng.choice(on_lun), 10.0
                if self._fault(host, path, "dead"):
                    at = time.monotonic()
                    ident = self.sampler.expect(moref, lun, at, until=at + down + SEEN_WITHIN)
                    self.samples.append((ident, at, down))
                    self.sampled[ident] = (host, vm)
                    self._down(host, [path], now, down, self.flaps)
                return
        if n % 20 == 5:  # a burst: every path of one LUN on this host
            lun = self.rng.choice(sorted({c for _, c in paths}))
            chosen = [p for p, c in paths if c == lun]
            tally, down = self.bursts, self.rng.uniform(3, 6)
        else:
            chosen = [self.rng.choice(paths)[0]]
            tally, down = self.flaps, self.rng.uniform(2, 8)
        done = [p for p in chosen if self._fault(host, p, "dead")]
        if done:
            self._down(host, done, now, down, tally)

    def before(self, ident: int, at: float) -> float | None:
        """Seconds from the latest path change on the sample's host, on a LUN of the sample VM, to its flap at
        ``at`` (None: none in the 10 s before): its document changed then, and its write may still have run."""
        host, vm = self.sampled[ident]
        luns = self.shape.vm_luns[vm][2]
        earlier = [t for t, lun in self.changes.get(host, ()) if lun in luns and at - 10 < t < at - 0.01]
        return round(at - max(earlier), 2) if earlier else None

    def _down(self, host: str, paths: list[str], now: float, seconds: float, tally: Tally) -> None:
        tally.injected += 1
        for p in paths:
            self.active[(host, p)] = self.active.get((host, p), 0) + 1
        self._push(now + seconds, "up", (host, tuple(paths)))

    def _up(self, host: str, paths: tuple[str, ...]) -> None:
        for p in paths:
            left = self.active.get((host, p), 1) - 1
            if left <= 0:
                self.active.pop((host, p), None)
                self._fault(host, p, "active")
            else:
                self.active[(host, p)] = left

    def _run(self) -> None:
        next_flap = time.monotonic()
        while True:
            now = time.monotonic()
            if self.paused.is_set():
                time.sleep(0.05)
                next_flap = now
                continue
            if self.heap and self.heap[0][0] <= now:
                _, _, kind, payload = heapq.heappop(self.heap)
                self._up(*payload)
                continue
            if self.stop.is_set():
                if not self.heap:
                    return
                time.sleep(min(0.05, max(0.0, self.heap[0][0] - now)))
                continue
            if self.interval and now >= next_flap:
                self._new_flap(now)
                next_flap += self.interval
                continue
            wake = min([next_flap] + [self.heap[0][0]] if self.heap else [next_flap])
            time.sleep(max(0.0, min(0.05, wake - now)))

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()


# -- the soak --------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--vms", type=int, default=20000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--flaps-per-minute", type=int, default=1000)
    parser.add_argument("--sample-every", type=int, default=10, help="every Nth flap is timed end to end")
    parser.add_argument("--samples", type=int, default=0,
                        help="sample VMs (one per host) the lag is read on; 0: one host in --sample-every (then "
                             "every host sees the same rate of flaps: the timed ones on the sample hosts, the others "
                             "on the rest)")
    parser.add_argument("--restarts", type=int, default=1, help="vCenter kills and restarts during the soak")
    parser.add_argument("--expiries", type=int, default=2, help="session expiries during the soak")
    parser.add_argument("--outage", action=argparse.BooleanOptionalAction, default=True,
                        help="a host loses both fabrics for the hysteresis + 60 s")
    parser.add_argument("--stable-seconds", type=int, default=30)
    parser.add_argument("--max-per-hour", type=int, default=10)
    parser.add_argument("--max-concurrent", type=int, default=2)
    parser.add_argument("--migration-ms", type=int, default=4000, help="how long a lab migration takes")
    parser.add_argument("--timing", action=argparse.BooleanOptionalAction, default=True,
                        help="the lab's reconfigures take time and queue as on vCenter (lab/README.md, Task timing)")
    parser.add_argument("--pacing", type=int, default=SOAK_PACING,
                        help="serve's [publish] concurrency: its ReconfigVM writes in flight at once (1,000 flaps a "
                             "minute make ~90 documents a second, of about a second each)")
    parser.add_argument("--pacing-table", metavar="N,N,..",
                        help="before serve starts: a first publish of --pacing-vms VMs at each of these ('' skips; "
                             "default 8,32,64 with the lab's task timing, none without: writes are instant then)")
    parser.add_argument("--pacing-vms", type=int, default=500, help="VMs per first publish of the pacing table")
    parser.add_argument("--quick-start", action="store_true",
                        help="serve's first full publish with the lab's task timing off (faster; not the figure)")
    parser.add_argument("--profile", metavar="FILE", help="py-spy record serve during the faults (raw stacks) "
                                                          "and print its top entries")
    parser.add_argument("--full-interval", type=int, default=600,
                        help="serve's [publish] full_interval: seconds between its checks of every VM (a sweep)")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--max-growth-mb", type=float, default=100.0, help="fail when RSS grows more than this")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    # SIGTERM (or Ctrl-C) ends the soak through its finally: the service and the lab are stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rng = random.Random(args.seed)
    duration = args.minutes * 60

    run = Path(tempfile.mkdtemp(prefix="vsgt-soak-"))
    lab = Lab(run / "lab")
    serve = sampler = injector = None
    figures: dict = {"hosts": args.hosts, "vms": args.vms, "minutes": args.minutes}
    faults: dict[str, Tally] = {}
    failures: list[str] = []
    t_lab = time.monotonic()
    say(f"starting the lab: {args.hosts} hosts, {args.vms} VMs")
    info = lab.up(hosts=args.hosts, vms=args.vms, timeout=900, timing=args.timing)
    figures["lab_start_s"] = round(time.monotonic() - t_lab, 1)
    try:
        lab.task_mode("slow", duration_ms=args.migration_ms)
        shape = Shape.of(lab.topology())
        shape.choose_samples(args.samples or max(1, round(args.hosts / max(1, args.sample_every))), rng)
        outage_host = pick_outage_host(shape, args) if args.outage else ""
        names = sorted(shape.vm_luns)
        table = args.pacing_table if args.pacing_table is not None else "8,32,64" if args.timing else ""
        pacings = [int(p) for p in table.split(",") if p.strip()]
        (run / "password").write_text(info.password)
        os.chmod(run / "password", 0o600)
        if pacings:
            say(f"lab ready in {figures['lab_start_s']} s; publish pacing: a first publish of {args.pacing_vms} VMs "
                f"at {', '.join(map(str, pacings))} writes in flight")
            figures["pacing"] = pacing_table(lab, info, run, names, pacings, args.pacing_vms)
        if args.quick_start:
            patient(lab.timing, enabled=False)
        say(f"starting serve ({args.pacing} writes in flight)")
        serve = Serve(run, info, args)
        t0 = time.monotonic()
        sampler = Sampler(info, {moref: vm for vm, moref in shape.samples.values()})
        first = FirstPublish(lab, serve)
        wait_first_pass(serve, args.vms - sum(r["written"] for r in figures.get("pacing") or ()))
        figures["first_pass_s"] = round(time.monotonic() - t0, 1)
        figures["first_publish"] = first.stop(args)
        if args.quick_start:
            patient(lab.timing, enabled=True)
        time.sleep(5)
        rss_start = rss_mb(serve.proc.pid)
        writes_start = serve.writes()
        inventories_start = serve.metrics().get("vsguesttruth_inventory_updates_total", 0.0)
        say(f"first pass done in {figures['first_pass_s']} s ({writes_start:.0f} writes), serve RSS {rss_start:.0f} MB")

        injector = Injector(lab, shape, sampler, rng, args.flaps_per_minute, args.sample_every,
                            {outage_host} if outage_host else set())
        monitor = Monitor(serve)
        start = time.monotonic()
        vfaults = VcenterFaults(vcenter_faults(args, duration), lab, injector, sampler, shape, rng, start)
        vfaults.pid = serve.proc.pid
        outage = Tally()
        outage_at = duration * 0.15 if outage_host else None
        outage_end = None
        cpu_start = cpu_seconds(serve.proc.pid)
        profile = Profile(serve.proc.pid, Path(args.profile)) if args.profile else None
        injector.start()
        vfaults.start()
        # `status` through the service near the end of the faults; the memory it costs the service (the pages'
        # views of 40,000 disks) is reported apart from the growth the soak checks (measured just before it)
        status_during: dict = {}
        table_during: dict = {}
        incidents_during: dict = {}
        rss_before_status: list[float] = []

        def status_probe() -> None:
            time.sleep(duration * 0.9)
            rss_before_status.append(rss_mb(serve.proc.pid))
            table_during.update(time_status(run / "config.toml", table=True))  # the first ask: views built cold
            incidents_during.update(time_status(run / "config.toml", table=True, command="incidents"))
            status_during.update(time_status(run / "config.toml"))

        status_thread = threading.Thread(target=status_probe, daemon=True)
        status_thread.start()
        while time.monotonic() - start < duration or vfaults.thread.is_alive():
            now = time.monotonic()
            elapsed = now - start
            if not serve.alive():
                failures.append(f"serve exited: {serve.last_lines(3)}")
                break
            if elapsed >= duration and not injector.stop.is_set():
                injector.stop.set()  # the flaps end on time; the vCenter faults finish their recovery
            if outage_at is not None and elapsed >= outage_at:
                for hba in shape.fc_hbas[outage_host]:
                    patient(lab.fault, "hba", host=outage_host, hba=hba, state="offline")
                outage.injected += 1
                outage_end, outage_at = now + args.stable_seconds + 60, None
                say(f"{elapsed:5.0f}s outage: {outage_host} lost both fabrics")
            if outage_end is not None and now >= outage_end:
                for hba in shape.fc_hbas[outage_host]:
                    patient(lab.fault, "hba", host=outage_host, hba=hba, state="online")
                outage_end = None
            time.sleep(0.5)
        injector.finish()
        cpu_soak = cpu_seconds(serve.proc.pid) - cpu_start
        if profile is not None:
            profile.stop()
            figures["profile"] = top(Path(args.profile))
        vfaults.thread.join()
        failures.extend(vfaults.failures)
        faults = vfaults.tallies
        if outage_end is not None:
            for hba in shape.fc_hbas[outage_host]:
                patient(lab.fault, "hba", host=outage_host, hba=hba, state="online")
        rss_after_status = rss_mb(serve.proc.pid)
        rss_end = rss_before_status[0] if rss_before_status else rss_after_status
        monitor.stop()
        rss_series = monitor.rss
        in_flight_max = monitor.in_flight_max
        figures["write_p99_by_minute"] = {phase: bucket_p99s(monitor.write_buckets, "vsguesttruth_write_seconds", phase)
                                          for phase in ("waiting", "writing")}
        m = serve.metrics()
        writes_soak = serve.writes() - writes_start
        figures["inventories_per_s"] = round(
            (m.get("vsguesttruth_inventory_updates_total", 0.0) - inventories_start) / duration, 1)

        # settle, then nothing happens: nothing may be written
        patient(lab.restore)
        patient(lab.task_mode, "slow", duration_ms=args.migration_ms)
        settle(serve)
        status_thread.join(600)
        figures["status"] = {"during the faults": status_during, "settled": time_status(run / "config.toml"),
                             "cold snapshot": time_status(run / "config.toml", cold=True)}
        figures["status_table"] = {"during the faults": table_during,
                                   "settled": time_status(run / "config.toml", table=True)}
        figures["incidents_table"] = {"during the faults": incidents_during,
                                      "settled": time_status(run / "config.toml", table=True, command="incidents")}
        w0 = serve.writes()
        time.sleep(args.idle_seconds)
        idle_writes = serve.writes() - w0
        verdicts = sampler.verdicts()
        unhealthy = {vm: v for vm, v in verdicts.items() if v != "healthy"}

        # samples whose flap overlapped a vCenter fault's recovery are reported apart: while vCenter is down or
        # the service resyncs, a 10 s flap may come and go unseen, and rightly so (level-triggered)
        steady = [(i, at, down) for i, at, down in injector.samples if not vfaults.overlaps(at, at + down)]
        lags = [sampler.lags[i] for i, _, _ in steady if i in sampler.lags]
        flaps = injector.flaps.injected + injector.bursts.injected
        figures["lag_p99_by_minute"] = per_minute_p99(
            [(at, sampler.lags[i]) for i, at, _ in steady if i in sampler.lags], start, percentile)
        # the slowest timed flaps, when (seconds into the faults, and the clock time serve's log uses)
        to_wall = time.time() - time.monotonic()
        by_lag = sorted(((sampler.lags[i], at, i) for i, at, _ in steady if i in sampler.lags), reverse=True)
        slowest = by_lag[:8]  # and each minute's slowest two
        for minute in {int((at - start) // 60) for _, at, _ in by_lag}:
            slowest += [x for x in by_lag if int((x[1] - start) // 60) == minute and x not in slowest][:2]
        figures["lag_slowest"] = [
            (round(at - start, 1), time.strftime("%H:%M:%S", time.localtime(at + to_wall)), round(lag, 2),
             injector.before(i, at)) for lag, at, i in sorted(slowest, key=lambda x: x[1])]
        # the timed flaps whose VM's document had changed just before (a path change on its host, on one of its
        # LUNs, in the 2 s before): its write of that change may still run, and vCenter runs one task at a time
        # per VM; apart from the others
        after = [(lag, injector.before(i, at)) for lag, at, i in by_lag]
        close = [lag for lag, before in after if before is not None and before < 2.0]
        others = [lag for lag, before in after if before is None or before >= 2.0]
        figures["lag_after_a_change"] = {
            "samples": len(close), "p50_s": round(percentile(close, 50), 3) if close else None,
            "others": len(others), "others_p99_s": round(percentile(others, 99), 3) if others else None}
        # how often a host flapped: the sample hosts as often as the others, or the lag is measured on busier VMs
        rest = len([h for h in shape.paths if h not in shape.samples and h != outage_host]) or 1
        figures["flaps_per_host_minute"] = {
            "sample": round(injector.per_host["sample"] / max(1, len(shape.samples)) / args.minutes, 2),
            "other": round(injector.per_host["other"] / rest / args.minutes, 2), "sample_hosts": len(shape.samples)}
        figures["serve_cpu_s"] = round(cpu_soak, 1)
        figures["cpu_s_per_1000_flaps"] = round(cpu_soak / flaps * 1000, 1) if flaps else None
        missed = len(steady) - len(lags)
        recovering = [sampler.lags.get(i) for i, at, down in injector.samples if vfaults.overlaps(at, at + down)]
        injector.flaps.survived = injector.flaps.injected if serve.alive() else 0
        injector.bursts.survived = injector.bursts.injected if serve.alive() else 0
        migrated = m.get("vsguesttruth_migrations_total{outcome=done}", 0.0)
        failed_moves = m.get("vsguesttruth_migrations_total{outcome=failed}", 0.0)
        outage.survived = outage.injected if migrated <= args.max_per_hour and in_flight_max <= args.max_concurrent else 0
        rows = {"path flaps": injector.flaps, "LUN bursts": injector.bursts, "fabric outage": outage, **faults}
        figures.update({
            "faults": {k: {"injected": t.injected, "survived": t.survived,
                           "recovery_s": [round(x, 1) for x in t.times]} for k, t in rows.items()},
            "lag_samples": len(lags), "lag_missed": missed,
            "during_recovery_samples": len(recovering),
            "during_recovery_seen": len([x for x in recovering if x is not None]),
            "lag_p50_s": round(percentile(lags, 50), 3), "lag_p99_s": round(percentile(lags, 99), 3),
            "lag_max_s": round(max(lags), 3) if lags else None,
            "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(rss_end, 1),
            "rss_after_first_recovery_mb": round(vfaults.rss_after_first, 1) if vfaults.rss_after_first else None,
            "rss_max_mb": round(max(r for _, r in rss_series), 1), "rss_series": rss_series,
            "rss_after_status_mb": round(rss_after_status, 1),
            "writes": int(writes_soak), "idle_writes": int(idle_writes),
            "migrations": int(migrated), "migration_failures": int(failed_moves),
            "max_in_flight": int(in_flight_max), "failed_control_calls": injector.failed_calls,
            "sampler_reconnects": sampler.errors, "unhealthy_after_restore": unhealthy,
            "serve_rss_now_mb": round(rss_mb(serve.proc.pid), 1),
        })
        if missed > max(1, len(steady) // 50):
            failures.append(f"{missed} of {len(steady)} timed faults never reached the guest")
        if idle_writes:
            failures.append(f"{idle_writes:.0f} writes while nothing changed")
        if migrated > args.max_per_hour:
            failures.append(f"{migrated:.0f} migrations: more than the budget of {args.max_per_hour} an hour")
        if in_flight_max > args.max_concurrent:
            failures.append(f"{in_flight_max:.0f} migrations in flight at once (max {args.max_concurrent})")
        if outage_host and migrated < 1:
            failures.append(f"the outage of {outage_host} moved no VM")
        # Flat: from the first full publish to the end, through every fault (a resync reads vCenter 100 objects
        # a reply and keeps what did not change, so it leaves no high-water mark behind).
        if rss_end - rss_start > args.max_growth_mb:
            failures.append(f"serve RSS grew {rss_end - rss_start:.0f} MB ({rss_start:.0f} -> {rss_end:.0f})")
        if unhealthy:
            failures.append(f"not healthy after restore: {unhealthy}")
        if not serve.alive():
            failures.append("serve is not running at the end")
    except Exception as exc:  # noqa: BLE001 - the figures so far, and why it stopped
        failures.append(f"the soak stopped: {type(exc).__name__}: {exc}")
    finally:
        if injector is not None:
            injector.stop.set()
        if sampler is not None:
            sampler.close()
        if serve is not None:
            serve.stop()
            figures["serve_log"] = str(serve.log)
        lab.down()
    figures["failures"] = failures
    report(figures, args)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 1 if failures else 0


def patient(call, *args, timeout: float = 900.0, **kwargs):
    """A control API call that waits out a vCenter restart in progress (the lab is down meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call(*args, **kwargs)
        except LabError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


def say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def pick_outage_host(shape: Shape, args) -> str:
    """A host with VMs on shared LUNs and peers in its cluster, the one with the most such VMs."""
    count: dict[str, int] = {}
    for _, host, luns in shape.vm_luns.values():
        if luns:
            count[host] = count.get(host, 0) + 1
    for host in sorted(count, key=lambda h: (-count[h], h)):
        peers = [h for h, c in shape.cluster_of.items() if c == shape.cluster_of[host] and h != host]
        if peers and len(shape.fc_hbas.get(host, ())) >= 2 and host not in shape.samples:
            return host
    return ""


def vcenter_faults(args, duration: float) -> list[tuple[float, str]]:
    """Expiries and restarts spread over the soak, alternating, the first after a fifth of it."""
    kinds = []
    for i in range(max(args.expiries, args.restarts)):
        kinds += ["session expiry"] * (i < args.expiries) + ["vCenter restart"] * (i < args.restarts)
    n = len(kinds)
    return [(duration * (0.2 + 0.6 * i / max(n - 1, 1)) if n > 1 else duration * 0.3, k) for i, k in enumerate(kinds)]


class VcenterFaults:
    """The vCenter-level faults on their schedule, in a thread: each one, then a probe (a path fault on a sample
    VM) timed until a guest sees it: the recovery time. Windows from the fault to that moment are remembered."""

    def __init__(self, schedule: list[tuple[float, str]], lab: Lab, injector: Injector, sampler: Sampler,
                 shape: Shape, rng: random.Random, start: float) -> None:
        self.schedule, self.lab, self.injector, self.sampler = schedule, lab, injector, sampler
        self.shape, self.rng, self.start_at = shape, rng, start
        self.tallies: dict[str, Tally] = {}
        self.windows: list[tuple[float, float]] = []
        self.failures: list[str] = []
        self.pid = 0  # the service's: its RSS once the first fault is recovered from (shown: a resync leaves no step)
        self.rss_after_first: float | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def overlaps(self, a: float, b: float) -> bool:
        return any(a < end and start < b for start, end in self.windows)

    def _run(self) -> None:
        for at, kind in self.schedule:
            time.sleep(max(0.0, self.start_at + at - time.monotonic()))
            tally = self.tallies.setdefault(kind, Tally())
            tally.injected += 1
            began = time.monotonic()
            self.windows.append((began, float("inf")))
            try:
                recovered = self._one(kind)
            except Exception as exc:  # noqa: BLE001 - reported as a failed check
                recovered = None
                self.failures.append(f"{kind}: {exc}")
            self.windows[-1] = (began, time.monotonic())
            if recovered is not None and self.rss_after_first is None and self.pid:
                self.rss_after_first = rss_mb(self.pid)
            if recovered is not None:
                tally.survived += 1
                tally.times.append(recovered)
                say(f"{began - self.start_at:5.0f}s {kind}: guests saw the next fault {recovered:.1f} s after it")
            else:
                self.failures.append(f"{kind}: no fault reached a guest within 300 s after it")

    def _one(self, kind: str) -> float | None:
        lab, injector, shape = self.lab, self.injector, self.shape
        at = time.monotonic()
        if kind == "session expiry":
            lab.expire_sessions()
        else:
            injector.paused.set()
            try:
                lab.restart(down_s=2.0, timeout=900)
            finally:
                injector.paused.clear()
        # a probe: one path of a sample VM's LUN, on a sample host nothing else flaps on
        for _ in range(50):
            host = self.rng.choice(sorted(shape.samples))
            vm, moref = shape.samples[host]
            lun = sorted(shape.vm_luns[vm][2] & {c for _, c in shape.paths[host]})[0]
            on_lun = [p for p, c in shape.paths[host] if c == lun]
            if not any(injector.active.get((host, p)) for p in on_lun) and host not in injector.avoid:
                break
        path = on_lun[0]
        injector.avoid.add(host)
        try:
            lab.fault("path", host=host, path=path, state="dead")
            ident = self.sampler.expect(moref, lun, time.monotonic())
            seen = self.sampler.wait(ident, 300)
            lab.fault("path", host=host, path=path, state="active")
        finally:
            injector.avoid.discard(host)
        if seen is None:
            self.sampler.forget(ident)
            return None
        return time.monotonic() - at


class Monitor:
    """The service's RSS every 10 s, its migrations in flight every 0.5 s and its write timings (the
    ``vsguesttruth_write_seconds`` buckets) each minute, in a thread."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.rss: list[tuple[float, float]] = []
        self.in_flight_max = 0.0
        self.write_buckets: list[dict[str, float]] = []  # at the start of each minute (and at the end)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        start = next_rss = next_minute = time.monotonic()
        while not self._stop.wait(0.5):
            now = time.monotonic()
            if now >= next_rss:
                self.rss.append((round(now - start, 1), rss_mb(self.serve.proc.pid)))
                next_rss += 10
            try:
                m = self.serve.metrics(attempts=1)
            except OSError:
                continue
            self.in_flight_max = max(self.in_flight_max, m.get("vsguesttruth_migrations_in_flight", 0.0))
            if now >= next_minute:
                self.write_buckets.append(m)
                next_minute += 60

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()
        try:
            self.write_buckets.append(self.serve.metrics(attempts=1))
        except OSError:
            pass
        self.rss.append((self.rss[-1][0] + 1 if self.rss else 0.0, rss_mb(self.serve.proc.pid)))


class FirstPublish:
    """serve's first full publish: how long, how many ReconfigVM tasks, how many in flight at most."""

    def __init__(self, lab: Lab, serve: Serve) -> None:
        self.peak = PeakTasks(lab)
        self.start = time.monotonic()
        self.serve = serve

    def stop(self, args) -> dict:
        seconds = time.monotonic() - self.start
        running, queued = self.peak.stop()
        m = self.serve.metrics()
        written = m.get("vsguesttruth_publishes_total{outcome=ok}", 0.0)
        return {"pacing": args.pacing, "vms": args.vms, "seconds": round(seconds, 1), "written": int(written),
                "tasks": int(m.get("vsguesttruth_reconfigure_tasks_total", written)), "max_running": running,
                "max_queued": queued, "per_second": round(written / seconds, 1) if seconds else None,
                "timing": not args.quick_start}


def wait_first_pass(serve: Serve, vms: int, timeout: float = 900) -> None:
    """Until the first pass has written every VM (or the writes stop growing after the inventory is in)."""
    deadline = time.monotonic() + timeout
    last, still = -1.0, 0
    while time.monotonic() < deadline:
        if not serve.alive():
            raise SystemExit(f"serve exited during start: {serve.last_lines(3)}")
        try:
            m = serve.metrics()
        except OSError:
            time.sleep(1)
            continue
        writes = m.get("vsguesttruth_publishes_total{outcome=ok}", 0.0)
        if writes >= vms:
            return
        ready = m.get("vsguesttruth_inventory_ready", 0.0)
        still = still + 1 if ready and writes == last and writes > 0 else 0
        if still >= 10:
            return
        last = writes
        time.sleep(1)
    raise SystemExit(f"serve did not finish its first pass within {timeout:.0f} s")


def settle(serve: Serve, quiet: float = 10.0, timeout: float = 600.0) -> None:
    """Until the service heard no change, ran no pass and wrote nothing for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        m = serve.metrics()
        now = (m.get("vsguesttruth_inventory_updates_total"), m.get("vsguesttruth_publishes_total{outcome=ok}"))
        if now != last or m.get("vsguesttruth_pass_running"):
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(1)


def report(f: dict, args) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=110)
    table = Table(title=f"soak: {f['hosts']} hosts, {f['vms']} VMs, {f['minutes']:g} min, "
                        f"{args.flaps_per_minute} flaps/min")
    for col in ("fault", "injected", "survived", "recovery"):
        table.add_column(col, justify="right" if col != "fault" else "left")
    for name, t in (f.get("faults") or {}).items():
        rec = ", ".join(f"{x:.0f} s" for x in t["recovery_s"]) or "-"
        table.add_row(name, str(t["injected"]), str(t["survived"]), rec)
    console.print(table)
    figures = Table(show_header=False, box=None)
    rows = [
        ("lab start / first full publish", f"{f.get('lab_start_s', '?')} s / {f.get('first_pass_s', '?')} s"),
        ("lag fault -> guest p50 / p99 / max",
         f"{f.get('lag_p50_s', '?')} / {f.get('lag_p99_s', '?')} / {f.get('lag_max_s', '?')} s "
         f"({f.get('lag_samples', 0)} timed, {f.get('lag_missed', 0)} missed)"),
        ("flaps during a vCenter recovery", f"{f.get('during_recovery_seen', 0)} of "
                                            f"{f.get('during_recovery_samples', 0)} timed ones reached the guest"),
        ("serve RSS start / after 1st recovery / end / max",
         f"{f.get('rss_start_mb', '?')} / {f.get('rss_after_first_recovery_mb') or '-'} / {f.get('rss_end_mb', '?')} / "
         f"{f.get('rss_max_mb', '?')} MB (end: before the status probe; after it {f.get('rss_after_status_mb', '?')})"),
        ("writes during the soak / while idle", f"{f.get('writes', '?')} / {f.get('idle_writes', '?')}"),
        ("migrations (failed) / max in flight",
         f"{f.get('migrations', '?')} ({f.get('migration_failures', '?')}) / {f.get('max_in_flight', '?')} "
         f"(guard rails: {args.max_per_hour}/h, {args.max_concurrent} at once)"),
    ]
    minutes = f.get("lag_p99_by_minute") or []
    rows += [
        ("lag p99 by minute", "  ".join(f"{m}: {p99:.2f} s" for m, _, p99 in minutes) or "-"),
        *((f"writes' {phase} p99 by minute", "  ".join(f"{m}: " + (f"<= {p99:g} s" if p99 < math.inf else "> 120 s") + f" ({n})"
                                                       for m, n, p99 in p99s) or "-")
          for phase, p99s in (f.get("write_p99_by_minute") or {}).items()),
        ("slowest timed flaps", "  ".join(
            f"{lag:.2f} s at {t:.0f} s ({clock}" + (f"; its VM's LUNs changed {before:g} s before" if before else "")
            + ")" for t, clock, lag, before in f.get("lag_slowest") or ()) or "-"),
        ("flaps a host a minute: sample hosts / others", "{sample} / {other} ({sample_hosts} sample hosts)".format(
            **f["flaps_per_host_minute"]) if f.get("flaps_per_host_minute") else "-"),
        ("timed flaps just after a change of theirs", "{samples} (p50 {p50_s} s); the others' p99 {others_p99_s} s".format(
            **f["lag_after_a_change"]) if f.get("lag_after_a_change") else "-"),
        ("serve CPU during the faults", f"{f.get('serve_cpu_s', '?')} s, {f.get('cpu_s_per_1000_flaps', '?')} s "
                                        f"per 1,000 flaps; {f.get('inventories_per_s', '?')} inventories a second"),
    ]
    for what, key in (("status", "status_table"), ("incidents", "incidents_table"), ("status --json", "status")):
        for when, st in (f.get(key) or {}).items():
            if st:
                rows.append((f"{what} ({when})", f"{st['seconds']} s, {st['disks']} "
                                                 f"{'lines' if what == 'incidents' else 'disks'}, via {st['via']}"))
    for k, v in rows:
        figures.add_row(k, v)
    console.print(figures)
    pacing = list(f.get("pacing") or ()) + ([f["first_publish"]] if f.get("first_publish") else [])
    if pacing:
        table = Table(title="publish pacing: a first publish (ReconfigVM_Task per VM) by writes in flight")
        for col in ("writes in flight", "VMs", "seconds", "written", "vCenter tasks", "docs/s",
                    "max running / queued in vCenter"):
            table.add_column(col, justify="right")
        for r in pacing:
            what = "serve, every VM" + ("" if r.get("timing", True) else " (task timing off)") if r is pacing[-1] \
                and f.get("first_publish") else "publish --once"
            table.add_row(f"{r['pacing']} ({what})", str(r["vms"]), str(r["seconds"]), str(r["written"]),
                          str(r["tasks"]), str(r["per_second"]), f"{r['max_running']} / {r['max_queued']}")
        console.print(table)
    prof = f.get("profile")
    if prof and prof.get("samples"):
        table = Table(title=f"serve under the faults: py-spy --gil, {prof['samples']} samples (where its CPU goes)")
        table.add_column("own %", justify="right")
        table.add_column("function (own samples)")
        table.add_column("under %", justify="right")
        table.add_column("function (samples under it)")
        for (a, pa), (b, pb) in zip(prof["self"], prof["cumulative"]):
            table.add_row(f"{pa}", a, f"{pb}", b)
        console.print(table)
    for failure in f.get("failures") or ():
        console.print(f"[red]FAILED[/red] {failure}")
    if not f.get("failures"):
        console.print("[green]all checks passed[/green]")


if __name__ == "__main__":
    sys.exit(main())
