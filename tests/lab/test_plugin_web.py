"""`vsguesttruth web --lab`: the standalone plugin server as a process, over HTTPS, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path


def test_web_command_serves_and_stops_gracefully(lab):
    env = {**os.environ, "VSGT_LAB_HOME": str(lab.run_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("VSGT_CONFIG", None)
    exe = Path(sys.executable).with_name("vsguesttruth")
    proc = subprocess.Popen([str(exe), "web", "--lab", "--port", "0"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("vsguesttruth web: https://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        assert "#token=" not in line and "web-ui-url" in line  # the token is in a file only we can read
        saved = Path(lab.run_dir) / "web-ui-url"
        assert saved.stat().st_mode & 0o077 == 0
        url, token = saved.read_text().strip().split("#token=")
        base = url.rsplit("/ui/", 1)[0]
        ctx = ssl.create_default_context(cafile=str(Path(lab.run_dir) / "web-cert.pem"))  # the self-signed cert
        with urllib.request.urlopen(base + "/plugin.json", context=ctx, timeout=10) as response:
            assert json.load(response)["manifestVersion"] == "1.0.0"
        request = urllib.request.Request(base + "/api/v1/status?after=0&wait=10",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, context=ctx, timeout=20) as response:
            status = json.load(response)
        assert status["total"] > 0 and status["version"] >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert "stopping" in err
