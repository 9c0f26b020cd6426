"""`make demo`: the main job on the embedded default, narrated like a terminal session.

Starts the lab (a simulated vCenter with a SAN) unless one runs, shows what vsguesttruth sees, pulls a
cable and fails an array port, shows the truth again, restores. The lab stays up for you to explore.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
CLI = str(BIN / "vsguesttruth")


def run(*args: str, check: bool = True) -> int:
    print(f"\n\033[1m$ vsguesttruth {shlex.join(args)}\033[0m", flush=True)
    result = subprocess.run([CLI, *args], env={**os.environ, "COLUMNS": "160"})
    if check and result.returncode not in (0, 1):
        sys.exit(f"demo: `vsguesttruth {shlex.join(args)}` failed with exit code {result.returncode}")
    return result.returncode


def say(text: str) -> None:
    print(f"\n\033[36m# {text}\033[0m", flush=True)


def main() -> None:
    if subprocess.run([CLI, "lab", "status"], capture_output=True).returncode != 0:
        say("Start the lab: a govmomi vCenter simulator with a real SAN behind it.")
        run("lab", "up")
    else:
        say("A lab is already running; using it.")
        run("lab", "restore")
    say("What the hosts see of their storage (the line storage admins ask for).")
    run("paths", "--lab")
    say("Every virtual disk, mapped to its LUNs and paths, and its verdict.")
    run("status", "--lab", "--cluster", "cl-a")
    say("Pull the cable of vmhba2 on esx-a01, and fail array port A-ctl1-p1 (every host loses those paths).")
    run("lab", "fault", "hba", "esx-a01", "vmhba2")
    run("lab", "fault", "target", "A-ctl1-p1")
    run("paths", "--lab", "--host", "esx-a01")
    say("The guests' truth now: VMs on esx-a01 keep going on fewer paths; every host lost its A-ctl1-p1 paths.")
    run("status", "--lab", "--verdict", "degraded")
    say("A LUN in permanent device loss and another in all-paths-down.")
    run("lab", "fault", "lun", "silver01", "--state", "pdl")
    run("lab", "fault", "lun", "bronze01", "--state", "apd")
    run("status", "--lab", "--verdict", "media_failure", "--verdict", "all_paths_down")
    say("One VM's whole chain, down to every path on every host.")
    run("map", "--lab", "web01")
    say("Restore the SAN.")
    run("lab", "restore")
    run("status", "--lab", "--vm", "web0*")
    say("The lab is still running: try `.venv/bin/vsguesttruth watch --lab` in one terminal and "
        "`.venv/bin/vsguesttruth lab fault hba esx-b01 vmhba3` in another; `.venv/bin/vsguesttruth lab down` stops it.")


if __name__ == "__main__":
    main()
