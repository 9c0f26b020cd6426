"""Lab control from Python: build, start, inspect, fault and stop the SAN lab (``lab/``).

The lab is a Go program on the govmomi vCenter simulator (see ``lab/README.md``). This module only
drives it: it builds the binary when its sources are newer, starts it in the background, waits for the
state file it writes once it answers, and speaks its HTTP control API. One lab per run directory; the
CLI uses ``~/.cache/vsguesttruth/lab``, tests use a temporary one.

Every lab keeps a journal (``journal.jsonl``) and its start arguments (``args.json``) in the run
directory, so it can be killed and restarted like a vCenter whose vpxd crashed: same port, control
port and certificate, same state (extraConfig, placement, events, extensions, custom attributes,
injected faults), sessions and running tasks gone. ``down()`` removes it all.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

from vsguesttruth.errors import VsgtError

GOPATH = "/usr/share/gocode"
GOVMOMI = Path(GOPATH, "src/github.com/vmware/govmomi/simulator")
INSTALL_HINT = "run `make setup` or `apt-get install golang-go golang-github-vmware-govmomi-dev`"
FAULT_KINDS = ("path", "hba", "target", "lun", "host", "fabric")
TASK_MODES = ("normal", "slow", "hang", "fail")


class LabError(VsgtError):
    """Something about the lab went wrong; the message is one line that says what to do."""


@dataclass(frozen=True)
class LabInfo:
    """How to reach a running lab (the lab's state file)."""

    url: str
    username: str
    password: str
    control: str
    pid: int
    cert: str = ""
    thumbprint: str = ""
    hosts: int = 0
    vms: int = 0
    started_in_s: float = 0.0
    readonly_username: str = ""
    readonly_password: str = ""
    journal: str = ""
    replayed: int = 0

    @classmethod
    def from_dict(cls, data: dict) -> "LabInfo":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def as_dict(self) -> dict:
        return asdict(self)


def source_dir() -> Path:
    """The lab's Go sources: ``$VSGT_LAB_SRC`` or ``lab/`` beside the package in a checkout."""
    env = os.environ.get("VSGT_LAB_SRC")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "lab"
    if not (path / "main.go").exists():
        raise LabError(f"lab sources not found in {path}: run from a vsguesttruth checkout or set VSGT_LAB_SRC")
    return path


def default_run_dir() -> Path:
    base = os.environ.get("VSGT_LAB_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "vsguesttruth", "lab")
    return Path(base)


def binary_path() -> Path:
    return source_dir() / "bin" / "vsgt-lab"


def build(force: bool = False) -> Path:
    """Build the lab binary if it is missing or older than its sources; return its path."""
    src = source_dir()
    binary = src / "bin" / "vsgt-lab"
    sources = [p for p in src.iterdir() if p.suffix in (".go", ".json")]
    newest = max((p.stat().st_mtime for p in sources), default=0)
    if not force and binary.exists() and binary.stat().st_mtime >= newest:
        return binary
    go = shutil.which("go")
    if go is None:
        raise LabError(f"no Go toolchain to build the lab: {INSTALL_HINT}")
    if not GOVMOMI.is_dir():
        raise LabError(f"govmomi sources missing in {GOVMOMI}: {INSTALL_HINT}")
    env = {**os.environ, "GOPATH": GOPATH, "GO111MODULE": "off"}
    result = subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=src, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise LabError(f"building the lab failed: {last}")
    return binary


def _reap(pid: int) -> None:
    """Collect the exit status of a lab we started (else it stays a zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.chmod(tmp, 0o600)  # it may hold the lab's password
    os.replace(tmp, path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


class Lab:
    """One lab, identified by its run directory (state file, log, certificate, journal, start arguments)."""

    def __init__(self, run_dir: Path | str | None = None) -> None:
        self.run_dir = Path(run_dir) if run_dir else default_run_dir()
        self.state_file = self.run_dir / "state.json"
        self.log_file = self.run_dir / "lab.log"
        self.journal_file = self.run_dir / "journal.jsonl"
        self.args_file = self.run_dir / "args.json"

    # -- lifecycle -----------------------------------------------------------------------------
    def info(self) -> LabInfo | None:
        """The running lab, or None. The state file of a lab that died is removed; its journal, start
        arguments and certificate stay for ``restart()`` until ``down()``."""
        try:
            info = LabInfo.from_dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if not _pid_alive(info.pid):
            _reap(info.pid)
            try:  # unless a new lab wrote its own meanwhile
                if json.loads(self.state_file.read_text()).get("pid") == info.pid:
                    self.state_file.unlink()
            except (OSError, ValueError, AttributeError):
                pass
            return None
        return info

    def up(
        self,
        topology: str | None = None,
        hosts: int | None = None,
        vms: int | None = None,
        latency_ms: int = 0,
        http: bool = False,
        port: int = 0,
        control_port: int = 0,
        timeout: float = 180.0,
        readonly_user: str | None = None,
        password: str | None = None,
        timing: bool | None = None,
    ) -> LabInfo:
        """Start a fresh lab in the background and wait until it answers (what a killed lab left in the
        run directory is discarded). ``readonly_user`` is ``NAME:PASSWORD`` (default: the lab's
        ``readonly:readonly``). ``password``: the login password instead of the lab's ``pass`` (handed over in
        the environment, never on the lab's command line). ``timing``: tasks take time and queue as on
        vCenter (``True``), or finish at once (``False``, fast test runs); ``None``: the lab's default (on)."""
        running = self.info()
        if running:
            raise LabError(f"a lab is already running at {running.url} (pid {running.pid}): run `vsguesttruth lab down` first")
        if topology and not Path(topology).is_file():
            raise LabError(f"topology file {topology} not found")
        for stale in (self.journal_file, self.args_file, self.state_file):
            try:
                stale.unlink()
            except OSError:
                pass
        shutil.rmtree(self.run_dir / "tls", ignore_errors=True)
        saved = {
            "topology": str(Path(topology).resolve()) if topology else None,
            "hosts": hosts or 0, "vms": vms or 0, "latency_ms": latency_ms, "http": http,
            "port": port, "control_port": control_port, "readonly_user": readonly_user,
            "password": password, "timing": timing,
        }
        try:
            return self._start(saved, timeout)
        except LabError:
            shutil.rmtree(self.run_dir / "tls", ignore_errors=True)
            try:
                self.args_file.unlink()
            except OSError:
                pass
            raise

    def _start(self, saved: dict, timeout: float) -> LabInfo:
        """Start the lab binary with the saved arguments and the run directory's journal; wait until
        it answers; remember the arguments with the ports it got (a restart takes the same)."""
        binary = build()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(binary),
            "--listen", f"127.0.0.1:{int(saved.get('port') or 0)}",
            "--control", f"127.0.0.1:{int(saved.get('control_port') or 0)}",
            "--state-file", str(self.state_file),
            "--tls-dir", str(self.run_dir / "tls"),
            "--journal", str(self.journal_file),
        ]
        if saved.get("topology"):
            args += ["--topology", str(saved["topology"])]
        if saved.get("hosts"):
            args += ["--hosts", str(saved["hosts"])]
        if saved.get("vms"):
            args += ["--vms", str(saved["vms"])]
        if saved.get("latency_ms"):
            args += ["--latency-ms", str(saved["latency_ms"])]
        if saved.get("http"):
            args.append("--http")
        if saved.get("timing") is not None:
            args.append(f"--timing={'true' if saved['timing'] else 'false'}")
        if saved.get("readonly_user") is not None:
            args += ["--readonly-user", str(saved["readonly_user"])]
        with open(self.log_file, "ab") as log:
            env = {**os.environ, "VSGT_LAB_PASSWORD": saved["password"]} if saved.get("password") else None
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LabError(f"the lab exited during start: {self._last_log_line()}")
            info = self.info()
            if info and info.pid == proc.pid:
                saved = {**saved, "port": urlparse(info.url).port, "control_port": urlparse(info.control).port}
                _write_json(self.args_file, saved)
                return info
            time.sleep(0.05)
        self._stop_pid(proc.pid)
        raise LabError(f"the lab did not answer within {timeout:.0f} s: see {self.log_file}")

    def kill(self) -> bool:
        """SIGKILL the lab, as a crash of vCenter: wait until it is gone, keep the run directory (journal,
        start arguments, certificate) for ``restart()``. False when no lab was running."""
        info = self.info()
        if info is None:
            return False
        self._kill_pid(info.pid)
        self.info()  # drops the dead lab's state file
        return True

    def restart(self, down_s: float = 0.0, kill: bool = True, timeout: float = 180.0) -> LabInfo:
        """Stop the lab (SIGKILL, or SIGTERM with ``kill=False``), keep it down ``down_s`` seconds with its
        ports closed, start it again with the same arguments, ports, certificate and journal, and wait
        until it answers. Works on a lab that was killed before too."""
        try:
            saved = json.loads(self.args_file.read_text())
        except (OSError, ValueError):
            raise LabError(f"no lab to restart in {self.run_dir}: start one with `vsguesttruth lab up`") from None
        if down_s < 0:
            raise LabError("the down time must not be negative")
        info = self.info()
        if info is not None:
            if kill:
                self._kill_pid(info.pid)
            else:
                self._stop_pid(info.pid)
            self.info()
        if down_s:
            time.sleep(down_s)
        return self._start(saved, timeout)

    def down(self) -> bool:
        """Stop the lab (and what runs beside it: ``*.pid`` files in the run directory, like the demo's
        service) and remove its run directory; False when no lab was running."""
        info = self.info()
        for pid_file in self.run_dir.glob("*.pid"):
            try:
                pid = int(pid_file.read_text().strip())
                if b"vsguesttruth" in Path(f"/proc/{pid}/cmdline").read_bytes():  # never a reused pid
                    self._stop_pid(pid)
            except (OSError, ValueError):
                pass
        if info:
            self._stop_pid(info.pid)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        return info is not None

    def _stop_pid(self, pid: int, grace: float = 15.0) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.05)
        self._kill_pid(pid)  # if it is still there; reaps it either way

    def _kill_pid(self, pid: int, wait: float = 15.0) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.02)
        _reap(pid)
        if _pid_alive(pid):
            raise LabError(f"the lab (pid {pid}) did not die within {wait:.0f} s of SIGKILL")

    def _last_log_line(self) -> str:
        try:
            lines = [line for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        return lines[-1] if lines else "no output"

    # -- control API ---------------------------------------------------------------------------
    def require(self) -> LabInfo:
        info = self.info()
        if info is None:
            raise LabError("no lab is running: start one with `vsguesttruth lab up`")
        return info

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        info = self.require()
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            info.control + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            try:
                message = json.loads(err.read()).get("error") or err.reason
            except ValueError:
                message = err.reason
            raise LabError(f"lab refused {path.rsplit('/', 1)[-1]}: {message}") from None
        except (urllib.error.URLError, OSError) as err:
            raise LabError(f"lab control API at {info.control} unreachable: {err}") from None

    def topology(self) -> dict:
        return self._call("GET", "/v1/topology")

    def fault(self, kind: str, **body: str) -> dict:
        """Inject a fault: ``fault("path", host="esx-a01", path="vmhba2:C0:T0:L1", state="dead")``."""
        if kind not in FAULT_KINDS:
            raise LabError(f"unknown fault kind {kind!r}: one of {', '.join(FAULT_KINDS)}")
        return self._call("POST", f"/v1/fault/{kind}", body)

    def restore(self) -> dict:
        """Undo every fault and set the task mode back to normal."""
        return self._call("POST", "/v1/restore", {})

    def task_mode(self, mode: str, duration_ms: int = 0, message: str = "") -> dict:
        """How the MigrateVM_Task/RelocateVM_Task started from now on run: ``normal``, ``slow`` (running
        ``duration_ms`` with progress, then the move), ``hang`` (running until CancelTask) or ``fail``
        (error after ``duration_ms``, with ``message`` or a vMotion failure). Returns the lab's task status."""
        if mode not in TASK_MODES:
            raise LabError(f"unknown task mode {mode!r}: one of {', '.join(TASK_MODES)}")
        body: dict = {"mode": mode}
        if duration_ms:
            body["duration_ms"] = int(duration_ms)
        if message:
            body["message"] = message
        return self._call("POST", "/v1/tasks", body)

    def tasks(self) -> dict:
        """The current task mode and the migrations in flight."""
        return self._call("GET", "/v1/tasks")

    def timing(self, **changes: bool | int) -> dict:
        """Task timing (``lab/README.md``): with no argument its current settings; else change them, e.g.
        ``timing(enabled=True)``, ``timing(vmotion_ms=2000, host_max_cost=4)``. Returns the settings."""
        if not changes:
            return self._call("GET", "/v1/timing")
        return self._call("POST", "/v1/timing", dict(changes))

    def vmotion_from_host_without_paths(self, outcome: str) -> dict:
        """Whether a vMotion from a host that lost every path to the VM's datastore ``succeed``s or ``fail``s."""
        if outcome not in ("succeed", "fail"):
            raise LabError(f"unknown outcome {outcome!r}: succeed or fail")
        return self._call("POST", "/v1/vmotion", {"from_host_without_paths": outcome})

    def expire_sessions(self) -> int:
        """End every SOAP session, as vCenter does when sessions time out; returns how many ended."""
        return int(self._call("POST", "/v1/sessions/expire", {}).get("expired", 0))
