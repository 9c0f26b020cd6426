"""Where and how to log in to vCenter: settings from options, the config file and the environment.

``ConnectionSettings.from_sources`` merges, highest first: explicit options, the config file, ``VSGT_*``,
govc's ``GOVC_*``. A URL may be what govc accepts (a bare host, ``host:port``, ``user:pass@host``, a full
``https://host/sdk``). Every mistake is a one-line :class:`ConfigError`; the password never appears in a
message or a repr.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit

from .errors import ConfigError

DEFAULT_PATH = "/sdk"
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


# --------------------------------------------------------------------------------------------
# Settings


def parse_url(raw: str) -> tuple[str, str | None, str | None]:
    """Normalise a vCenter URL; return ``(url, user, password)`` with credentials taken out.

    Accepts what govc accepts in ``GOVC_URL``: a bare host (``vc.example.com``), ``host:port``,
    ``user:pass@host``, or a full ``https://host/sdk``. The scheme defaults to https and the path
    to ``/sdk``.
    """
    text = (raw or "").strip()
    if not text:
        raise ConfigError("the vCenter URL is empty: pass --url or set VSGT_URL")
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ConfigError(f"cannot parse the vCenter URL {_redact_url(raw)!r}: check --url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f"the vCenter URL must be https:// or http://, not {scheme}://: check --url")
    host = parts.hostname
    if not host:
        raise ConfigError(f"the vCenter URL {_redact_url(raw)!r} names no host: check --url")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = parts.path if parts.path not in ("", "/") else DEFAULT_PATH
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return f"{scheme}://{netloc}{path}", user, password


def _redact_url(raw: str) -> str:
    """The URL without its ``user:pass@`` part, for messages: everything up to the last ``@`` goes, as a
    password may hold ``@``, ``/``, ``#`` or ``:`` that would end the user part early."""
    if "@" not in raw:
        return raw
    scheme = re.match(r"\s*[A-Za-z][A-Za-z0-9+.-]*://", raw)
    return (scheme.group(0) if scheme else "") + raw.rsplit("@", 1)[1]


def parse_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def normalize_thumbprint(value: str) -> str:
    """``aa:bb:..`` / ``AABB..`` -> ``AA:BB:..``; SHA-1 (20 bytes) or SHA-256 (32 bytes)."""
    hexdigits = re.sub(r"[\s:]", "", value or "").upper()
    if len(hexdigits) not in (40, 64) or not re.fullmatch(r"[0-9A-F]+", hexdigits):
        raise ConfigError(
            f"--thumbprint {value!r} is not a SHA-1 thumbprint (20 hex bytes like AA:BB:..): "
            "copy it from the error message or `openssl x509 -fingerprint -sha1`"
        )
    return ":".join(hexdigits[i : i + 2] for i in range(0, len(hexdigits), 2))


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to log in. ``repr()`` never shows the password."""

    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    insecure: bool = False
    thumbprint: str | None = None
    ca_file: str | None = None
    #: seconds before an HTTP request gives up (WaitForUpdatesEx waits a little less than this)
    timeout: float = 60.0
    #: how long reconnect() keeps trying (exponential backoff) before giving up
    reconnect_timeout: float = 300.0
    #: the admin's names for array target ports (``[san] port_names``): (WWPN as "50:06:...", name) pairs;
    #: vSphere reports a port's WWNs, never the name the array gives it
    port_names: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        url, user, password = parse_url(self.url)
        object.__setattr__(self, "url", url)
        if user and not self.username:
            object.__setattr__(self, "username", user)
        if password is not None and not self.password:
            object.__setattr__(self, "password", password)
        if self.thumbprint:
            object.__setattr__(self, "thumbprint", normalize_thumbprint(self.thumbprint))
        else:
            object.__setattr__(self, "thumbprint", None)
        object.__setattr__(self, "ca_file", self.ca_file or None)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def https(self) -> bool:
        return self.url.startswith("https://")

    @classmethod
    def from_sources(
        cls,
        options: Mapping[str, Any] | None = None,
        config_file_values: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> "ConnectionSettings":
        """Merge, highest first: explicit options, the config file, ``VSGT_*``, govc's ``GOVC_*``.

        ``options`` and ``config_file_values`` use the keys ``url``, ``username`` (or ``user``),
        ``password``, ``insecure``, ``thumbprint``, ``ca_file`` (or ``ca-file``), ``timeout``;
        a ``None`` value means "not given" (pass ``None``, not ``False``, for an unset
        ``--insecure`` flag so the environment can still turn it on). A URL may embed
        ``user:pass@``; those count at the URL's level. ``environ`` defaults to ``os.environ``.
        """
        env = os.environ if environ is None else environ
        layers = [
            _layer(options, "option"),
            _layer(config_file_values, "config file"),
            _env_layer(env, "VSGT_", {"CA_FILE": "ca_file", "THUMBPRINT": "thumbprint"}),
            _env_layer(env, "GOVC_", {"TLS_CA_CERTS": "ca_file"}),
        ]
        merged: dict[str, Any] = {}
        for layer in layers:
            for key, value in layer.items():
                merged.setdefault(key, value)
        if "url" not in merged:
            raise ConfigError("no vCenter URL: pass --url, put url in the config file, or set VSGT_URL")
        if not merged.get("username"):
            raise ConfigError(
                f"no user name for {merged['url']}: pass --username, put username in the config file, "
                "or set VSGT_USERNAME"
            )
        kwargs: dict[str, Any] = {
            "url": merged["url"],
            "username": merged["username"],
            "password": merged.get("password") or "",
            "insecure": merged.get("insecure", False),
            "thumbprint": merged.get("thumbprint"),
            "ca_file": merged.get("ca_file"),
        }
        if "timeout" in merged:
            try:
                kwargs["timeout"] = float(merged["timeout"])
            except (TypeError, ValueError):
                raise ConfigError(f"timeout must be a number of seconds, not {merged['timeout']!r}") from None
        return cls(**kwargs)


_ALIASES = {"user": "username", "ca-file": "ca_file", "cafile": "ca_file", "ca_cert": "ca_file"}
_KEYS = {"url", "username", "password", "insecure", "thumbprint", "ca_file", "timeout"}


def _layer(values: Mapping[str, Any] | None, origin: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, value in (values or {}).items():
        key = _ALIASES.get(raw_key, raw_key.replace("-", "_"))
        if key not in _KEYS or value is None or value == "":
            continue
        out[key] = value
    return _finish_layer(out, origin)


def _env_layer(environ: Mapping[str, str], prefix: str, extra: Mapping[str, str]) -> dict[str, Any]:
    names = {"URL": "url", "USERNAME": "username", "PASSWORD": "password", "INSECURE": "insecure", **extra}
    out = {key: environ[prefix + name] for name, key in names.items() if environ.get(prefix + name)}
    return _finish_layer(out, prefix + "*")


def _finish_layer(layer: dict[str, Any], origin: str) -> dict[str, Any]:
    if "url" in layer:
        url, user, password = parse_url(str(layer["url"]))
        layer["url"] = url
        if user and "username" not in layer:
            layer["username"] = user
        if password is not None and "password" not in layer:
            layer["password"] = password
    if "insecure" in layer:
        name = "--insecure" if origin == "option" else f"insecure ({origin})"
        layer["insecure"] = parse_bool(layer["insecure"], name)
    if "thumbprint" in layer:
        layer["thumbprint"] = normalize_thumbprint(str(layer["thumbprint"]))
    return layer
