"""TLS trust towards vCenter: verified by default (system CAs plus ``ca_file``), a pinned certificate
thumbprint (SHA-1 or SHA-256 of its DER bytes, checked on every connection), or an explicit ``insecure``."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import threading
from typing import Any

from .errors import CertificateError, ConfigError
from .settings import ConnectionSettings


def thumbprint_of(der: bytes, length: int = 20) -> str:
    """Colon-hex SHA-1 (``length`` 20) or SHA-256 (32) of a DER certificate."""
    digest = hashlib.sha1(der) if length == 20 else hashlib.sha256(der)
    return ":".join(f"{b:02X}" for b in digest.digest())


class _PinnedContext(ssl.SSLContext):
    """An SSL context that accepts exactly one certificate: the one with the pinned thumbprint.

    CA verification is off (a pinned self-signed certificate is the point), and the pin is checked
    on every handshake, not only the first one.
    """

    pin: str = ""
    url: str = ""

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:  # type: ignore[override]
        sock = super().wrap_socket(*args, **kwargs)
        der = sock.getpeercert(binary_form=True)
        length = len(self.pin.replace(":", "")) // 2
        seen = thumbprint_of(der, length) if der else "(none)"
        if seen != self.pin:
            sock.close()
            raise CertificateError(
                f"certificate of {self.url} has thumbprint {seen}, not the pinned {self.pin}: "
                "check --thumbprint (the server's certificate changed, or this is not your vCenter)",
                seen_thumbprint=seen,
            )
        return sock


_contexts: dict[tuple, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def ssl_context(settings: ConnectionSettings) -> ssl.SSLContext:
    """The TLS trust the settings ask for: verified (default), pinned, or insecure.

    One context per settings (and CA file version), reused by every reconnect: a context holds the system's
    CA store, a megabyte or two, and a service that reconnects for weeks should not build one each time.
    """
    try:
        stamp = os.stat(settings.ca_file).st_mtime_ns if settings.ca_file else 0
    except OSError:
        stamp = -1
    key = (settings, stamp)
    with _contexts_lock:
        ctx = _contexts.get(key)
        if ctx is None:
            ctx = _new_ssl_context(settings)
            if len(_contexts) >= 16:
                _contexts.clear()
            _contexts[key] = ctx
        return ctx


def _new_ssl_context(settings: ConnectionSettings) -> ssl.SSLContext:
    if settings.thumbprint:
        ctx = _PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.pin = settings.thumbprint
        ctx.url = settings.url
        return ctx
    if settings.insecure:
        return unverified_context()
    return verified_context(settings)


def unverified_context() -> ssl.SSLContext:
    """A context that checks no certificate (``insecure``, or a pin checked by its caller)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def verified_context(settings: ConnectionSettings) -> ssl.SSLContext:
    """A new context verifying the chain and host name against the system's CAs and ``ca_file``."""
    ctx = ssl.create_default_context()
    if settings.ca_file:
        try:
            ctx.load_verify_locations(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(f"cannot read --ca-file {settings.ca_file}: {reason}") from None
    return ctx


def server_thumbprint(host: str, port: int, timeout: float = 5.0) -> str:
    """Fetch the server's certificate without trusting it and return its SHA-1 thumbprint, or ""."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return ""
    return thumbprint_of(der) if der else ""
