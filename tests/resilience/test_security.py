"""Secure by default, proven on the running product: the password never reaches a log (at debug level, through
reconnects, expired sessions, a vCenter crash and failing migrations), a process list, an error message; the
plugin API refuses writes without the right credentials; TLS verification is on unless opted out.

(The guest agent's hooks never see a shell: tests/e2e/test_guest_agent.py::
test_hook_gets_host_text_as_data_never_through_a_shell runs a hook with shell syntax in the host's text.)
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from vsguesttruth.vcenter import snapshot
from vsguesttruth.web import self_signed

from .conftest import doc_of, wait_for

pytestmark = pytest.mark.lab

CLI = str(Path(sys.executable).parent / "vsguesttruth")
SECRET = "Zq9-" + secrets.token_hex(8)  # distinctive: a grep for it finds nothing else
LAB_OPTIONS = {"password": SECRET}
TOKEN_READ, TOKEN_WRITE = secrets.token_urlsafe(24), secrets.token_urlsafe(24)


@pytest.fixture
def serve(own_lab, own_conn, tmp_path):
    """`vsguesttruth serve -vv --mode auto` with the plugin server, the password in a file."""
    info = own_lab.info
    assert info.password == SECRET
    cert, key = self_signed(tmp_path)
    password_file = tmp_path / "password"
    password_file.write_text(SECRET + "\n")
    tokens = tmp_path / "tokens"
    tokens.write_text(f"reader read {TOKEN_READ}\nadmin write {TOKEN_WRITE}\n")
    for f in (password_file, tokens):
        os.chmod(f, 0o600)
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f"""
[vcenter]
url = "{info.url}"
username = "{info.username}"
password_file = "{password_file}"
ca_file = "{info.cert}"
[remediation]
mode = "auto"
stable_seconds = 1
retry_seconds = 1
[web]
listen = "127.0.0.1"
port = {port}
cert_file = "{cert}"
key_file = "{key}"
api_tokens_file = "{tokens}"
""")
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    with open(log, "w") as out:
        proc = subprocess.Popen([CLI, "serve", "-vv", "--config", str(config)], stdout=out,
                                stderr=subprocess.STDOUT, env=env)
    context = ssl.create_default_context(cafile=str(cert))
    try:
        yield proc, log, f"https://127.0.0.1:{port}", context
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, context, method: str = "GET", token: str | None = None, headers: dict | None = None,
         body: dict | None = None) -> tuple[int, dict]:
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as res:
            return res.status, json.loads(res.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_the_password_never_reaches_logs_process_lists_or_errors(own_lab, own_conn, serve, tmp_path):
    proc, log, base, context = serve
    conn, lab = own_conn, own_lab.lab
    wait_for(lambda: all(doc_of(snapshot(conn), vm.name) for vm in snapshot(conn).vms.values()), 30,
             "the first publish")
    for path in (f"/proc/{proc.pid}/cmdline", f"/proc/{proc.pid}/environ"):
        assert SECRET.encode() not in Path(path).read_bytes(), path
    # everything that makes a service log about its connection: a failing migration, an expired session,
    # vCenter killed and restarted
    lab.task_mode("fail")
    inv = snapshot(conn)
    host = inv.hosts[inv.vm_by_name("web11").host].name
    lab.fault("hba", host=host, hba="vmhba2", state="dead")
    lab.fault("hba", host=host, hba="vmhba3", state="dead")
    wait_for(lambda: "failed" in log.read_text(), 30, "a failed migration in the log")
    lab.expire_sessions()
    time.sleep(2)
    lab.restart(down_s=1.0)
    wait_for(lambda: log.read_text().count("reconnected to") >= 2, 60, "the service to reconnect twice")
    lab.task_mode("normal")
    # the CLI's errors: a wrong password, a password inside the URL, a vCenter that is not there
    info = own_lab.info
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VSGT_", "GOVC_"))}
    outputs = []
    for args, extra in (
        (["status", "--url", info.url, "--ca-file", info.cert, "-u", info.username], {"VSGT_PASSWORD": SECRET[::-1]}),
        (["status", "--url", info.url.replace("https://", f"https://{info.username}:{SECRET}@"), "--thumbprint",
          ":".join(["AB"] * 20)], {}),  # a pin that does not match: the error names the URL
        (["status", "--url", f"https://{info.username}:{SECRET}@127.0.0.1:1/sdk"], {}),
        (["status", "--url", info.url, "-u", info.username, "--password-stdin"], {}),  # untrusted certificate
    ):
        out = subprocess.run([CLI, *args], env={**env, **extra}, capture_output=True, text=True, timeout=60,
                             input=SECRET + "\n")
        assert out.returncode == 3 and "Traceback" not in out.stderr, out
        outputs.append(out.stdout + out.stderr)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    text = log.read_text()
    assert "DEBUG" in text and "reconnected" in text and "failed" in text  # the log did cover all of it
    for where, content in [("serve -vv log", text), ("lab log", own_lab.lab.log_file.read_text()),
                           *[(f"CLI output {i}", o) for i, o in enumerate(outputs)]]:
        assert SECRET not in content, where
        assert SECRET[::-1] not in content, where
        assert "vmware_soap_session" not in content, where  # nor the session cookie


def test_the_plugin_api_refuses_writes_without_the_right_credentials(own_lab, own_conn, serve):
    proc, _, base, context = serve
    def ready():
        try:
            return call(f"{base}/readyz", context)[0] == 200
        except OSError:
            return False
    wait_for(ready, 30, "the plugin server")
    inv = snapshot(own_conn)
    before = {vm.name: vm.host for vm in inv.vms.values()}
    here = inv.hosts[inv.vm_by_name("web01").host]
    target = next(h.name for h in inv.hosts.values() if h.cluster == here.cluster and h.moref != here.moref)
    url = f"{base}/api/v1/vms/web01/migrate"
    body = {"to_host": target}
    assert call(url, context, "POST", body=body)[0] == 401  # anonymous
    assert call(url, context, "POST", token="not-a-token", body=body)[0] == 401
    assert call(url, context, "POST", token=TOKEN_READ, body=body)[0] == 403  # read scope
    # a vSphere Client session cookie that vCenter does not know
    assert call(url, context, "POST", headers={"vmware-api-session-id": "forged", "Cookie": "vmware_soap_session=forged"},
                body=body)[0] == 401
    assert call(f"{base}/api/v1/status", context)[0] == 401  # reads need credentials too
    assert {vm.name: vm.host for vm in snapshot(own_conn).vms.values()} == before
    status, answer = call(url, context, "POST", token=TOKEN_WRITE, body={**body, "dry_run": True})
    assert status == 200 and answer.get("dry_run"), answer
    assert {vm.name: vm.host for vm in snapshot(own_conn).vms.values()} == before
    # plain HTTP to the TLS port is not served
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(base.replace("https://", "http://") + "/api/v1/status", timeout=10).read()
