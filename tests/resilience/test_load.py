"""Load: the soak (`make soak`, scripts/soak.py) for two minutes, at the full 2,000 hosts / 20,000 VMs, with
1,000 path flaps a minute, a fabric outage, an expired session and vCenter killed and restarted.

The soak checks itself (exit 1 on a failed check: faults that never reached a guest, writes while nothing
changed, migrations beyond the guard rails, memory growth, VMs not healthy after restore); this test runs it
as `make soak` would and asserts on the figures it writes. `VSGT_LOAD_SCALE=small` runs it on 200 hosts /
2,000 VMs for a quick look.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

SOAK = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


@pytest.mark.timeout(1500)
def test_two_minutes_of_1000_path_flaps_a_minute_at_full_scale(tmp_path):
    small = os.environ.get("VSGT_LOAD_SCALE") == "small"
    scale = ["--hosts", "200", "--vms", "2000"] if small else []
    out_file = tmp_path / "soak.json"
    out = subprocess.run([sys.executable, str(SOAK), "--minutes", "2", "--flaps-per-minute", "1000",
                          "--restarts", "1", "--expiries", "1", "--idle-seconds", "15", "--json", str(out_file),
                          "--no-timing", *scale], capture_output=True, text=True, timeout=1500)
    print(out.stdout[-4000:], out.stderr[-3000:])
    figures = json.loads(out_file.read_text())
    assert out.returncode == 0, (figures["failures"], out.stderr[-2000:])
    faults = figures["faults"]
    assert faults["path flaps"]["injected"] + faults["LUN bursts"]["injected"] >= 1200  # 2,000 less the restart
    assert all(f["survived"] == f["injected"] for f in faults.values()), faults
    assert faults["vCenter restart"]["injected"] == 1 and faults["session expiry"]["injected"] == 1
    assert figures["lag_samples"] >= 30 and figures["lag_missed"] <= max(1, figures["lag_samples"] // 50)
    assert figures["idle_writes"] == 0
    assert 1 <= figures["migrations"] <= 10 and figures["max_in_flight"] <= 2
    assert figures["rss_end_mb"] - figures["rss_start_mb"] < 100  # flat, through the expiry and the restart
