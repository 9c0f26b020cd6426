"""Helpers for tests that run `vsguesttruth serve` as a user does: waiting for it, and its JSON API and /metrics
read with an API token over HTTPS (the certificate serve made for the lab)."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

CLI = str(Path(sys.executable).parent / "vsguesttruth")
TOKEN = "prometheus-" + "p" * 24  # a read token (the tokens file serve is given names it)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """``predicate()``'s first true value, polled ``every`` seconds; an AssertionError naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def fetch(base: str, path: str, cafile: str, **params: Any) -> bytes:
    """GET ``path`` from serve's web server with the token."""
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params, doseq=True)}" if params else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=cafile), timeout=30) as answer:
        return answer.read()


def get_json(base: str, path: str, cafile: str, **params: Any) -> Any:
    return json.loads(fetch(base, path, cafile, **params))


def ready_json(base: str, path: str, cafile: str, **params: Any) -> Any:
    """``get_json``, or None while the server answers 503 (no inventory from vCenter yet): for ``wait_for``."""
    try:
        return get_json(base, path, cafile, **params)
    except urllib.error.HTTPError as err:
        if err.code == 503:
            return None
        raise


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, as systemd stops a service; killed if it has not ended within 30 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
