"""The admin's config file (TOML), parsed strictly: an unknown key is an error, not a silent default.

Looked up at ``--config FILE``, else ``$VSGT_CONFIG``, else ``~/.config/vsguesttruth/config.toml`` when it
exists. Example (see ``scripts/config.example.toml``)::

    [vcenter]
    url = "https://vcenter.example.com/sdk"
    username = "svc-vsguesttruth@vsphere.local"
    password_file = "/etc/vsguesttruth/password"   # or password = "...", or VSGT_PASSWORD
    ca_file = "/etc/vsguesttruth/vcenter-ca.pem"   # or thumbprint = "AA:BB:...", or insecure = true

    [service_level]
    min_working_paths = 2
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsguesttruth.errors import ConfigError

VCENTER_KEYS = {
    "url": str, "username": str, "password": str, "password_file": str,
    "insecure": bool, "thumbprint": str, "ca_file": str,
}
SECTIONS = {"vcenter", "service_level"}


@dataclass(frozen=True)
class Config:
    """What the admin configured; empty when there is no file."""

    path: str = ""
    vcenter: dict[str, Any] = field(default_factory=dict)
    service_level: dict[str, Any] = field(default_factory=dict)


def default_path() -> Path | None:
    env = os.environ.get("VSGT_CONFIG")
    if env:
        return Path(env)
    home = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"), "vsguesttruth", "config.toml")
    return home if home.exists() else None


def load(path: str | Path | None = None) -> Config:
    """Read and check the config file; no file at the default place means an empty config."""
    chosen = Path(path) if path else default_path()
    if chosen is None:
        return Config()
    try:
        data = tomllib.loads(chosen.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {chosen} not found") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {chosen}: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {chosen} is not valid TOML: {err}") from None
    unknown = set(data) - SECTIONS
    if unknown:
        raise ConfigError(f"config file {chosen}: unknown section [{sorted(unknown)[0]}]; known: {', '.join(sorted(SECTIONS))}")
    vcenter = _check_section(chosen, "vcenter", data.get("vcenter", {}), VCENTER_KEYS)
    if "password_file" in vcenter:
        pw_path = Path(vcenter.pop("password_file"))
        try:
            vcenter["password"] = pw_path.read_text().strip()
        except OSError as err:
            raise ConfigError(f"config file {chosen}: cannot read password_file {pw_path}: {err.strerror}") from None
    level = data.get("service_level", {})
    if not isinstance(level, dict):
        raise ConfigError(f"config file {chosen}: [service_level] must be a table")
    return Config(path=str(chosen), vcenter=vcenter, service_level=dict(level))


def _check_section(path: Path, name: str, section: Any, keys: dict[str, type]) -> dict[str, Any]:
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path}: [{name}] must be a table")
    for key, value in section.items():
        if key not in keys:
            raise ConfigError(f"config file {path}: unknown key {name}.{key}; known: {', '.join(sorted(keys))}")
        if not isinstance(value, keys[key]):
            raise ConfigError(f"config file {path}: {name}.{key} must be a {keys[key].__name__}")
    return dict(section)
