"""HTTP to vCenter's Automation API (``/api``) with the trust the connection settings ask for.

The Automation API lives beside ``/sdk`` on the same vCenter, port and certificate, so it gets the same TLS
trust as SOAP: verified against the system's CAs plus ``ca_file`` (default), a pinned certificate thumbprint,
or an explicit ``insecure``. The SDK talks through a ``requests.Session``; ours never reads the environment
(``trust_env`` off: ``REQUESTS_CA_BUNDLE`` or a proxy variable must not change whom we trust) and never uses
requests' own CA bundle: the adapter hands urllib3 an SSL context of its own, and a pinned thumbprint is
checked by urllib3's ``assert_fingerprint`` on every new connection.
"""

from __future__ import annotations

import ssl
import warnings
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning

from ..settings import ConnectionSettings
from ..tls import unverified_context, verified_context

#: ``--insecure`` is the admin's explicit choice: urllib3 need not warn about it on every request.
warnings.filterwarnings("ignore", category=InsecureRequestWarning)


def api_url(settings: ConnectionSettings) -> str:
    """``https://vc.example.com:443/api``: the Automation API of the vCenter ``settings.url`` names."""
    parts = urlsplit(settings.url)
    return f"{parts.scheme}://{parts.netloc}/api"


def verifies(settings: ConnectionSettings) -> bool:
    """Whether the server's certificate chain is verified (not pinned, not insecure, not plain http)."""
    return settings.https and not settings.insecure and not settings.thumbprint


class _TrustAdapter(HTTPAdapter):
    """An adapter whose connections trust what the settings say, and nothing requests adds."""

    def __init__(self, settings: ConnectionSettings, pool: int) -> None:
        self._verified = verifies(settings)
        self._context = _context(settings, self._verified)
        self._fingerprint = settings.thumbprint if settings.https else None
        super().__init__(pool_connections=1, pool_maxsize=pool)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        if self._fingerprint:
            kwargs["assert_fingerprint"] = self._fingerprint
        super().init_poolmanager(connections, maxsize, block, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # requests would load its own CA bundle here; the context already holds the trust
        conn.cert_reqs = "CERT_REQUIRED" if self._verified else "CERT_NONE"
        conn.ca_certs = conn.ca_cert_dir = None


def _context(settings: ConnectionSettings, verified: bool) -> ssl.SSLContext:
    """A context of its own (urllib3 sets ``verify_mode`` on the context it is given, so it is not shared
    with SOAP's): CA-verified with ``ca_file``, or without chain checks for a pin or ``insecure``."""
    return verified_context(settings) if verified else unverified_context()


def http_session(settings: ConnectionSettings, pool: int = 8) -> requests.Session:
    """A ``requests.Session`` for vCenter's ``/api``: the settings' TLS trust, no environment, ``pool``
    connections kept."""
    session = requests.Session()
    session.trust_env = False
    session.verify = verifies(settings)
    adapter = _TrustAdapter(settings, pool)
    session.mount("https://", adapter)
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=pool))
    return session


__all__ = ["api_url", "http_session", "verifies"]
