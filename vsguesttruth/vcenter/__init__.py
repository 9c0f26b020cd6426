"""The vCenter edge: the only package that imports pyVmomi.

Public surface::

    settings = ConnectionSettings.from_sources(options, config_values)   # or ConnectionSettings(url=...)
    with connect(settings) as conn:
        inventory = snapshot(conn)                 # one PropertyCollector pass -> model.Inventory
        for inventory in watch(conn):              # full state first, then one per change
            ...

Everything raised is a :class:`~vsguesttruth.errors.VsgtError` with a one-line message.
"""

from __future__ import annotations

from .connect import Connection, ConnectionSettings, connect
from .errors import (
    ApiError,
    AuthError,
    CertificateError,
    ConfigError,
    ConnectError,
    NotFound,
    SessionExpired,
    TaskFailed,
    VsgtError,
)
from .inventory import snapshot
from .watch import Watcher, watch

__all__ = [
    "ApiError",
    "AuthError",
    "CertificateError",
    "ConfigError",
    "ConnectError",
    "Connection",
    "ConnectionSettings",
    "NotFound",
    "SessionExpired",
    "TaskFailed",
    "VsgtError",
    "Watcher",
    "connect",
    "snapshot",
    "watch",
]
