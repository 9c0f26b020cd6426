"""A large body sent to the plugin server costs it no memory: refused from the headers, or cut off at the cap.

The server runs in its own process (uvicorn, as ``serve`` runs it); bodies of 300 MB go over a raw socket in
1 MiB pieces, with an honest, lying or no Content-Length and chunked, without credentials and with a write
token, one at a time and four at once. The server's peak RSS (VmHWM, reset before each case) may grow by
at most 20 MB.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

TOKEN = "w" * 32
BODY = 300 * 2**20
PIECE = b"[" * 2**20
GROWTH_LIMIT = 20 * 2**20
SERVER = f"""
import sys, time
from vsguesttruth.web import Auth, StaticSource, TokenStore, WebServer, create_app
app = create_app(StaticSource(), Auth(TokenStore({{"{TOKEN}": ("ops", "write")}})), migrate=lambda *a, **k: {{}})
server = WebServer(app, "127.0.0.1", 0).start()
print(server.port, flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def server():
    process = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        port = int(process.stdout.readline())
        yield process, port
    finally:
        process.stdin.close()
        process.kill()
        process.wait(10)


def kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(field)


def send(port: int, headers: str, chunked: bool) -> tuple[int, str]:
    """Send a 300 MB body (or as much as the server takes before it closes); (bytes sent, status line)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent = 0
    try:
        sock.sendall(f"POST /api/v1/vms/web01/migrate HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        while sent < BODY:
            sock.sendall(b"100000\r\n" + PIECE + b"\r\n" if chunked else PIECE)
            sent += len(PIECE)
    except OSError:
        pass  # the server refused and closed: what we want
    try:
        reply = sock.recv(4096).decode("latin-1")
    except OSError:
        reply = ""
    sock.close()
    return sent, reply.split("\r\n", 1)[0]


CASES = {
    "no credentials, honest Content-Length": (f"Content-Length: {BODY}\r\n", False),
    "no credentials, chunked": ("Transfer-Encoding: chunked\r\n", True),
    "no credentials, lying Content-Length": ("Content-Length: 100\r\n", False),
    "no credentials, no Content-Length": ("", False),
    "bad session id, chunked": ("vmware-api-session-id: sess-0000-forged\r\nTransfer-Encoding: chunked\r\n", True),
    "write token, honest Content-Length": (f"Authorization: Bearer {TOKEN}\r\nContent-Length: {BODY}\r\n", False),
    "write token, chunked": (f"Authorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n", True),
    "write token, lying Content-Length": (f"Authorization: Bearer {TOKEN}\r\nContent-Length: 10\r\n", False),
}


def peak_growth(pid: int, run) -> int:
    time.sleep(0.2)
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak RSS (VmHWM) to the RSS now
    before = kb(pid, "VmRSS")
    run()
    time.sleep(0.2)
    return kb(pid, "VmHWM") - before


@pytest.mark.parametrize("case", list(CASES))
def test_a_300mb_body_costs_the_server_no_memory(server, case):
    process, port = server
    headers, chunked = CASES[case]
    result = {}
    growth = peak_growth(process.pid, lambda: result.update(zip(("sent", "status"), send(port, headers, chunked))))
    print(f"\n{case}: peak RSS +{growth / 2**20:.1f} MB, {result['sent'] / 2**20:.0f} MB sent, {result['status']!r}")
    assert growth < GROWTH_LIMIT, f"{case}: the server's RSS grew {growth / 2**20:.0f} MB"
    assert result["status"] == "" or result["status"].split()[1] in ("400", "401", "413", "422"), result
    assert process.poll() is None


def test_four_at_once(server):
    process, port = server
    cases = [CASES["no credentials, chunked"], CASES["no credentials, honest Content-Length"],
             CASES["write token, chunked"], CASES["bad session id, chunked"]]

    def run():
        threads = [threading.Thread(target=send, args=(port, h, c)) for h, c in cases]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)

    growth = peak_growth(process.pid, run)
    print(f"\nfour at once: peak RSS +{growth / 2**20:.1f} MB")
    assert growth < GROWTH_LIMIT
    assert process.poll() is None
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)  # and it still answers
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    sock.close()
