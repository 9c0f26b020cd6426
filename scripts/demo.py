"""`make demo`: the main job on the embedded default, narrated like a terminal session.

Starts a fresh lab (a simulated vCenter with a SAN), shows what vsguesttruth sees, publishes the truth into
the guests and shows one guest's view, pulls a cable and fails an array port, shows the truth again from
vCenter's side and from inside the guest, then runs the service in auto mode and pulls both cables of a host:
the affected VMs are live-migrated before their guests notice. Ends with the URL of the plugin UI; the lab and
the service keep running for you to explore.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
CLI = str(BIN / "vsguesttruth")
DEMO_CONFIG = """\
# the demo's config: remediation acts after a verdict held 2 s (default 30 s)
[remediation]
stable_seconds = 2
cooldown_minutes = 5
"""


def run(*args: str, check: bool = True) -> int:
    print(f"\n\033[1m$ vsguesttruth {shlex.join(args)}\033[0m", flush=True)
    result = subprocess.run([CLI, *args], env={**os.environ, "COLUMNS": "160"})
    if check and result.returncode not in (0, 1):
        sys.exit(f"demo: `vsguesttruth {shlex.join(args)}` failed with exit code {result.returncode}")
    return result.returncode


def say(text: str) -> None:
    print(f"\n\033[36m# {text}\033[0m", flush=True)


def lab_dir() -> Path:
    from vsguesttruth.lab import Lab

    return Lab().run_dir


def main() -> None:
    say("Start a fresh lab: a govmomi vCenter simulator with a real SAN behind it "
        "(2 clusters, 7 hosts, FC HBAs, an ALUA array, VMFS, NFS, RDM, a replica array, 21 VMs).")
    subprocess.run([CLI, "lab", "down"], capture_output=True)
    run("lab", "up")
    say("What the hosts see of their storage: the line storage admins ask for.")
    run("paths", "--lab")
    say("Every virtual disk of cluster cl-a, mapped to its LUNs and paths, and its verdict.")
    run("status", "--lab", "--cluster", "cl-a", "--disks")

    say("Publish the truth into every guest (guestinfo.vsguesttruth.state), and look from inside web01: "
        "the in-guest agent maps each disk to its /dev device.")
    run("publish", "--once", "--lab")
    run("lab", "guest", "web01")

    say("Pull the cable of vmhba2 on esx-a01, and fail array port A-ctl1-p1 (every host loses those paths).")
    run("lab", "fault", "hba", "esx-a01", "vmhba2")
    run("lab", "fault", "target", "A-ctl1-p1")
    run("paths", "--lab", "--host", "esx-a01")
    say("vCenter's side: VMs on esx-a01 keep going on fewer paths; every host lost its A-ctl1-p1 paths.")
    run("status", "--lab", "--verdict", "degraded", "--cluster", "cl-a")
    say("Only the VMs whose truth changed are rewritten; the guest sees it at once.")
    run("publish", "--once", "--lab")
    run("lab", "guest", "web01")

    say("A LUN in permanent device loss and another in all-paths-down: media failure vs wait-and-retry.")
    run("lab", "fault", "lun", "silver01", "--state", "pdl")
    run("lab", "fault", "lun", "bronze01", "--state", "apd")
    run("status", "--lab", "--verdict", "media_failure", "--verdict", "all_paths_down")
    say("One VM's whole chain, down to every path on every host.")
    run("map", "--lab", "web01")
    run("lab", "restore")

    say("Now the service, in auto mode: publish, remediate under guard rails, serve the vSphere Client plugin.")
    config = lab_dir() / "demo-config.toml"
    config.write_text(DEMO_CONFIG)
    log_path = lab_dir() / "demo-serve.log"
    env = {**os.environ, "VSGT_CONFIG": str(config)}
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the service's log: ours only
    os.fchmod(log_fd, 0o600)
    with open(log_fd, "w") as log:
        serve = subprocess.Popen([CLI, "serve", "--lab", "--mode", "auto", "--port", "0"], env=env,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (lab_dir() / "demo-serve.pid").write_text(str(serve.pid))
    ui = wait_for_ui(log_path, serve)
    print(f"\n\033[1m$ vsguesttruth serve --lab --mode auto &\033[0m   (pid {serve.pid}, log {log_path})", flush=True)
    print(log_path.read_text(), end="", flush=True)
    say("Pull BOTH cables of esx-a01: its SAN VMs lose every path there (connectivity_lost), other hosts are fine.")
    run("lab", "fault", "hba", "esx-a01", "vmhba2")
    run("lab", "fault", "hba", "esx-a01", "vmhba3")
    run("status", "--lab", "--host", "esx-a01")
    say("The service waits 2 s (the demo's hysteresis), then live-migrates them to healthy hosts and tells the guests.")
    wait_for_moves(log_path, serve)
    run("status", "--lab", "--vm", "web01", "--vm", "app01")
    run("lab", "guest", "web01")
    print(f"\n\033[1m$ tail {log_path.name}\033[0m")
    print("".join(log_path.read_text().splitlines(keepends=True)[-6:]), end="")

    say("The plugin UI (global view, VM and host views, the move action): open the URL in this file in a "
        "browser; it carries the lab's write token, so the file is readable by you only (the certificate is the "
        "lab's self-signed one):")
    print(f"\n    {lab_dir() / 'web-ui-url'}   ({ui} with the token)\n")
    say(f"The lab and the service keep running. Try `.venv/bin/vsguesttruth watch --lab`, "
        f"`.venv/bin/vsguesttruth lab fault hba esx-b01 vmhba3`, `.venv/bin/vsguesttruth plan --lab`. "
        f"`.venv/bin/vsguesttruth lab down` stops both.")


def wait_for_ui(log_path: Path, serve: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"plugin UI (\S+)", log_path.read_text())
        if found:
            return found.group(1)
        if serve.poll() is not None:
            sys.exit(f"demo: the service stopped: {log_path.read_text().strip().splitlines()[-1:]}")
        time.sleep(0.2)
    sys.exit(f"demo: the service did not start within {timeout:.0f} s; see {log_path}")


def wait_for_moves(log_path: Path, serve: subprocess.Popen, timeout: float = 60) -> None:
    """Until the VMs left esx-a01 (the status shows them elsewhere)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run([CLI, "status", "--lab", "--host", "esx-a01", "--json"], capture_output=True, text=True)
        if out.returncode == 0:
            return
        if serve.poll() is not None:
            sys.exit(f"demo: the service stopped; see {log_path}")
        time.sleep(1)
    print(f"demo: the VMs did not move within {timeout:.0f} s; see {log_path}")


if __name__ == "__main__":
    main()
