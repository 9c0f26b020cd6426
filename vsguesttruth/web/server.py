"""Serving the app over HTTPS with uvicorn, in a background thread, with a graceful stop.

``WebServer(app, host, port, cert_file, key_file).start()`` returns once the socket listens (port 0 picks a
free one: see ``.port``/``.url``); ``stop()`` lets requests in flight finish (uvicorn's graceful shutdown,
bounded by ``grace`` seconds). ``self_signed(directory)`` makes a certificate for the lab and demos.
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from vsguesttruth.errors import ConfigError, VsgtError

log = logging.getLogger(__name__)
#: an idle connection stays open this long: an open page asks every few seconds (its long poll, its views read
#: again every 10 s), and a new TLS handshake per update costs more than the update's own requests
KEEP_ALIVE_SECONDS = 30


def self_signed(directory: str | Path, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> tuple[Path, Path]:
    """A self-signed certificate and key in ``directory`` (kept and reused while both files exist)."""
    directory = Path(directory)
    cert, key = directory / "web-cert.pem", directory / "web-key.pem"
    if cert.exists() and key.exists():
        return cert, key
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ConfigError("no openssl to make a self-signed certificate: install openssl, or give --cert/--key")
    directory.mkdir(parents=True, exist_ok=True)
    san = []
    for name in names:
        try:
            ipaddress.ip_address(name)
            san.append(f"IP:{name}")
        except ValueError:
            san.append(f"DNS:{name}")
    result = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "825",
         "-subj", "/CN=vsguesttruth", "-addext", "subjectAltName=" + ",".join(san),
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise ConfigError(f"openssl could not make a certificate: {result.stderr.strip().splitlines()[-1:]}")
    key.chmod(0o600)
    return cert, key


def check_certificate(cert_file: str | Path, key_file: str | Path) -> None:
    """Raise ConfigError in one line naming the file when the certificate or key cannot serve HTTPS
    (missing, unreadable, not PEM, or not a pair); uvicorn would die in its thread with a traceback."""
    for what, path in (("certificate file (cert_file)", cert_file), ("key file (key_file)", key_file)):
        try:
            text = Path(path).read_bytes()
        except OSError as err:
            raise ConfigError(f"[web] {what} {path}: {err.strerror}") from None
        marker = b"CERTIFICATE-----" if "cert" in what else b"PRIVATE KEY-----"
        if b"-----BEGIN " not in text or marker not in text:
            kind = "certificate" if "cert" in what else "private key"
            raise ConfigError(f"[web] {what} {path} holds no PEM {kind} (-----BEGIN ...{marker.decode()})")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_verify_locations(cafile=str(cert_file))
    except (ssl.SSLError, ValueError) as err:
        raise ConfigError(f"[web] certificate file (cert_file) {cert_file} is not a valid PEM certificate: "
                          f"{getattr(err, 'reason', None) or err}") from None
    try:
        context.load_cert_chain(str(cert_file), str(key_file))
    except (ssl.SSLError, ValueError) as err:
        raise ConfigError(f"[web] key file (key_file) {key_file} is not the PEM private key of {cert_file}: "
                          f"{getattr(err, 'reason', None) or err}") from None


class WebServer:
    """uvicorn in a daemon thread; ``start()``, ``url``, ``stop()``."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8443, *, cert_file: str | Path | None = None,
                 key_file: str | Path | None = None, grace: float = 5.0, on_stop: Any = None) -> None:
        if bool(cert_file) != bool(key_file):
            raise ConfigError("give both a certificate and a key file, or neither")
        self.host = host
        self.https = bool(cert_file)
        self.grace = grace
        self._on_stop = on_stop
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
            ssl_certfile=str(cert_file) if cert_file else None, ssl_keyfile=str(key_file) if key_file else None,
            timeout_graceful_shutdown=int(max(grace, 1)), server_header=False, timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="vsgt-web", daemon=True)
        self.port = port

    def start(self, timeout: float = 15.0) -> "WebServer":
        if self.https:
            check_certificate(self._server.config.ssl_certfile, self._server.config.ssl_keyfile)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise VsgtError(f"the web server could not listen on {self.host}:{self.port} (in use? no permission?)")
            if time.monotonic() > deadline:
                raise VsgtError(f"the web server did not start within {timeout:.0f}s")
            time.sleep(0.02)
        for server in getattr(self._server, "servers", []) or []:
            for sock in server.sockets:
                self.port = sock.getsockname()[1]
                break
        return self

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.https else 'http'}://{host}:{self.port}"

    def stop(self) -> None:
        closing = getattr(getattr(self._server.config.app, "state", None), "closing", None)
        if closing is not None:
            closing.set()  # long polls (GET /changes) answer now rather than hold the graceful shutdown
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(self.grace + 5)
        if self._on_stop is not None:
            self._on_stop()
            self._on_stop = None

    def __enter__(self) -> "WebServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
