"""The soak's load figures: the serve process's CPU, a py-spy profile of it, the lag per minute, and the
publish pacing trade-off (how fast a first publish goes for how many ReconfigVM tasks in flight in vCenter).

Kept apart from soak.py (the faults and the checks); soak.py calls these.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (its threads included); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def per_minute_p99(samples: list[tuple[float, float]], start: float, percentile) -> list[tuple[int, int, float]]:
    """``(minute, samples, p99)`` of the lags by the minute (from ``start``) their fault was injected at."""
    minutes: dict[int, list[float]] = {}
    for at, lag in samples:
        minutes.setdefault(int((at - start) // 60), []).append(lag)
    return [(m + 1, len(v), round(percentile(v, 99), 3)) for m, v in sorted(minutes.items())]


def bucket_p99s(snapshots: list[dict[str, float]], histogram: str, phase: str) -> list[tuple[int, int, float]]:
    """``(minute, count, p99)`` of a Prometheus histogram's ``phase`` between successive scrapes (one a minute):
    p99 is the upper bound of the bucket the 99th percentile falls in (math.inf past the last bound)."""
    def buckets(m: dict[str, float]) -> list[tuple[float, float]]:
        prefix = f"{histogram}_bucket{{"
        out = []
        for key, value in m.items():
            if key.startswith(prefix) and f"phase={phase}" in key:
                le = key[len(prefix):-1].split("le=")[1].split(",")[0]
                out.append((float(le), value))
        return sorted(out)

    rows = []
    for minute, (a, b) in enumerate(zip(snapshots, snapshots[1:]), start=1):
        before = dict(buckets(a))
        delta = [(le, n - before.get(le, 0.0)) for le, n in buckets(b)]
        total = delta[-1][1] if delta else 0.0
        if total <= 0:
            continue
        p99 = next(le for le, n in delta if n >= 0.99 * total)
        rows.append((minute, int(total), p99))
    return rows


# -- the profile ------------------------------------------------------------------------------------

class Profile:
    """``py-spy record`` on a process (raw, collapsed stacks) until :meth:`stop`; :func:`top` reads it."""

    def __init__(self, pid: int, out: Path, rate: int = 50) -> None:
        exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
        if exe is None:
            raise SystemExit("--profile needs py-spy: pip install '.[soak]' (make soak does)")
        self.out = out
        # --gil: only the thread holding the GIL, i.e. where the service's CPU goes (not its threads waiting on
        # vCenter's answers)
        self.proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate),
                                      "--nonblocking", "--gil", "--output", str(out)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def top(raw: Path, count: int = 15) -> dict:
    """The profile's top functions by own samples and by samples under them (percent of all samples)."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    try:
        lines = raw.read_text().splitlines()
    except OSError:
        return {"samples": 0, "self": [], "cumulative": []}
    for line in lines:
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        total += int(n)
        names = [_frame(f) for f in stack.split(";")[1:]]
        if names:
            own[names[-1]] += int(n)
        for name in set(names):
            under[name] += int(n)
    pct = (lambda c: [(name, round(100 * v / total, 1)) for name, v in c.most_common(count)]) if total else (
        lambda c: [])
    return {"samples": total, "self": pct(own), "cumulative": pct(under)}


def _frame(frame: str) -> str:
    """"fn (path/to/file.py:12)" -> "fn (file.py)"."""
    name, _, where = frame.strip().partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({file})" if file else name


# -- the publish pacing trade-off -------------------------------------------------------------------

def vcenter_section(info, run: Path) -> str:
    """A config file's [vcenter] for the lab (the password in ``run``/password)."""
    return f"""
[vcenter]
url = "{info.url}"
username = "{info.username}"
password_file = "{run / 'password'}"
ca_file = "{info.cert}"
"""


def pacing_table(lab, info, run: Path, names: list[str], pacings: list[int], slice_size: int) -> list[dict]:
    """A first publish of ``slice_size`` VMs (a slice of its own per pacing) with ``vsguesttruth publish
    --once`` at each ``[publish] concurrency``: seconds, documents written, ReconfigVM tasks (retries included),
    and the most of our reconfigure tasks vCenter ran and queued at once (the lab's resource manager)."""
    rows = []
    exe = Path(sys.executable).parent / "vsguesttruth"
    for i, pacing in enumerate(pacings):
        chunk = names[i * slice_size:(i + 1) * slice_size]
        if len(chunk) < slice_size:
            break
        config = run / f"pacing-{pacing}.toml"
        config.write_text(f"""{vcenter_section(info, run)}
[publish]
concurrency = {pacing}

[scope]
vms = {json.dumps(chunk)}
""")
        peak = PeakTasks(lab)
        start = time.monotonic()
        out = subprocess.run([str(exe), "publish", "--once", "--json", "-v", "--config", str(config)],
                             capture_output=True, text=True, timeout=3600)
        seconds = time.monotonic() - start
        running, queued = peak.stop()
        try:
            result = json.loads(out.stdout)
        except ValueError:
            raise SystemExit(f"publish --once at pacing {pacing} failed: {out.stderr.strip()[-300:]}") from None
        written = int(result.get("states", 0)) + int(result.get("responses", 0))
        retries = out.stderr.count("; retrying")
        rows.append({"pacing": pacing, "vms": len(chunk), "seconds": round(seconds, 1), "written": written,
                     "tasks": written + int(result.get("failed", 0)) + retries,
                     "max_running": running, "max_queued": queued,
                     "per_second": round(written / seconds, 1) if seconds else None})
    return rows


class PeakTasks:
    """The most of the lab's reconfigure/migration tasks running and queued at once, sampled every 0.2 s
    in a thread until :meth:`stop`."""

    def __init__(self, lab) -> None:
        self.lab = lab
        self.running = self.queued = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.2):
            try:
                t = self.lab.timing()
            except Exception:  # noqa: BLE001 - a missed sample
                continue
            self.running = max(self.running, int(t.get("running", 0)))
            self.queued = max(self.queued, int(t.get("queued", 0)))

    def stop(self) -> tuple[int, int]:
        self._done.set()
        self._thread.join()
        return self.running, self.queued


def time_status(config: Path, cold: bool = False, table: bool = False, command: str = "status") -> dict:
    """``vsguesttruth status --json`` (``table``: ``status``, the incidents and the disks that are not healthy;
    ``command`` "incidents": the incidents' table) against the running serve (or, ``cold``, a snapshot of vCenter):
    seconds, disks (incidents: the lines printed), and what it said on stderr (which way it went)."""
    exe = Path(sys.executable).parent / "vsguesttruth"
    start = time.monotonic()
    out = subprocess.run([str(exe), command, "--config", str(config)] + ([] if table else ["--json"])
                         + (["--snapshot"] if cold else []), capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - start
    try:
        if command != "status":
            disks = len(out.stdout.splitlines())
        else:
            disks = int(out.stdout.splitlines()[-1].split()[0]) if table else len(json.loads(out.stdout)["disks"])
    except (ValueError, KeyError, IndexError):
        disks = 0
    return {"seconds": round(seconds, 2), "disks": disks, "said": out.stderr.strip().splitlines()[-1:] or [""],
            "via": "snapshot" if cold else ("service" if "asked the vsguesttruth service" in out.stderr else "snapshot")}
