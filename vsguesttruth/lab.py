"""Lab control from Python: build, start, inspect, fault and stop the SAN lab (``lab/``).

The lab is a Go program on the govmomi vCenter simulator (see ``lab/README.md``). This module only
drives it: it builds the binary when its sources are newer, starts it in the background, waits for the
state file it writes once it answers, and speaks its HTTP control API. One lab per run directory; the
CLI uses ``~/.cache/vsguesttruth/lab``, tests use a temporary one.
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

from vsguesttruth.errors import VsgtError

GOPATH = "/usr/share/gocode"
GOVMOMI = Path(GOPATH, "src/github.com/vmware/govmomi/simulator")
INSTALL_HINT = "run `make setup` or `apt-get install golang-go golang-github-vmware-govmomi-dev`"
FAULT_KINDS = ("path", "hba", "target", "lun", "host")


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

    @classmethod
    def from_dict(cls, data: dict) -> "LabInfo":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def as_dict(self) -> dict:
        return asdict(self)


def source_dir() -> Path:
    """The lab's Go sources: ``$VSGT_LAB_SRC`` or ``lab/`` beside the package in a checkout."""
    env = os.environ.get("VSGT_LAB_SRC")
    path = Path(env) if env else Path(__file__).resolve().parent.parent / "lab"
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
    """One lab, identified by its run directory (state file, log, certificate)."""

    def __init__(self, run_dir: Path | str | None = None) -> None:
        self.run_dir = Path(run_dir) if run_dir else default_run_dir()
        self.state_file = self.run_dir / "state.json"
        self.log_file = self.run_dir / "lab.log"

    # -- lifecycle -----------------------------------------------------------------------------
    def info(self) -> LabInfo | None:
        """The running lab, or None (a stale state file of a dead lab is cleaned up)."""
        try:
            info = LabInfo.from_dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if not _pid_alive(info.pid):
            shutil.rmtree(self.run_dir, ignore_errors=True)
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
    ) -> LabInfo:
        """Start the lab in the background and wait until it answers."""
        running = self.info()
        if running:
            raise LabError(f"a lab is already running at {running.url} (pid {running.pid}): run `vsguesttruth lab down` first")
        if topology and not Path(topology).is_file():
            raise LabError(f"topology file {topology} not found")
        binary = build()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(binary),
            "--listen", f"127.0.0.1:{port}",
            "--control", f"127.0.0.1:{control_port}",
            "--state-file", str(self.state_file),
            "--tls-dir", str(self.run_dir / "tls"),
        ]
        if topology:
            args += ["--topology", str(Path(topology).resolve())]
        if hosts:
            args += ["--hosts", str(hosts)]
        if vms:
            args += ["--vms", str(vms)]
        if latency_ms:
            args += ["--latency-ms", str(latency_ms)]
        if http:
            args.append("--http")
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                shutil.rmtree(self.run_dir / "tls", ignore_errors=True)
                raise LabError(f"the lab exited during start: {self._last_log_line()}")
            info = self.info()
            if info:
                return info
            time.sleep(0.05)
        self._stop_pid(proc.pid)
        raise LabError(f"the lab did not answer within {timeout:.0f} s: see {self.log_file}")

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
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        try:  # reap it when it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

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
        return self._call("POST", "/v1/restore", {})
