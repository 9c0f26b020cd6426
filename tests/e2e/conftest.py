"""`vsguesttruth serve --lab` as a fixture, for the tests that read its JSON API and /metrics; guests' documents
wiped before and after a test."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from fakes.serve import CLI, TOKEN, stop, wait_for
from vsguesttruth.guestinfo import KEYS
from vsguesttruth.reconcile import Write
from vsguesttruth.vcenter import Publisher, snapshot


@pytest.fixture
def serving(request, lab, tmp_path):
    """`vsguesttruth serve --lab` with a read API token (fakes.serve.TOKEN); yields the plugin server's base URL.
    Extra config for the run: ``request.param`` (TOML appended), when parametrized indirectly."""
    tokens = tmp_path / "api-tokens"
    tokens.write_text(f"prometheus read {TOKEN}\n")
    tokens.chmod(0o600)
    config = tmp_path / "config.toml"
    config.write_text(f'[web]\napi_tokens_file = "{tokens}"\n' + getattr(request, "param", ""))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    env = {**base, "VSGT_LAB_HOME": str(lab.run_dir), "VSGT_CONFIG": str(config)}
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([CLI, "serve", "--lab", "--port", "0"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                text=True)
    try:
        found = wait_for(lambda: re.search(r"plugin UI (https://127\.0\.0\.1:\d+)/", log.read_text()), 60,
                         "serve's plugin server")
        yield found.group(1)
    finally:
        stop(proc)
    assert proc.returncode == 0, log.read_text()[-2000:]


@pytest.fixture
def clean(lab, conn):
    """No VM carries a state document before the test, nor after it."""
    def wipe() -> None:
        with Publisher(conn) as pub:
            pub.write([Write(vm.moref, vm.name, {k: "" for k in KEYS}) for vm in snapshot(conn).vms.values()
                       if any(k.lower() in KEYS for k in vm.guestinfo)])

    wipe()
    yield
    wipe()
