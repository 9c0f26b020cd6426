"""The vCenter edge: the only package that imports pyVmomi. Named after what it does in vSphere:

- :mod:`.settings`, :mod:`.tls`, :mod:`.connect`: where to log in, whom to trust, the session (renewed
  when it ends);
- :mod:`.faults`, :mod:`.task`: every fault in one line; one classifier of what is worth another try, one
  retry policy, one wait for a task;
- :mod:`.properties`, :mod:`.fastdecode`, :mod:`.convert`, :mod:`.inventory`: the PropertyCollector read
  of hosts, datastores and VMs into the plain :class:`~vsguesttruth.model.Inventory`;
- :mod:`.watch`, :mod:`.informer`, :mod:`.eventfeed`: WaitForUpdatesEx, one live inventory shared by its
  readers, and the hosts' storage events followed beside it;
- :mod:`.publish`, :mod:`.migrate`, :mod:`.events`, :mod:`.attributes`, :mod:`.extension`,
  :mod:`.privileges`: writing guestinfo and re-probing storage, vMotion and Storage vMotion (and the ones still
  running after a restart), vCenter events, custom attributes, the vSphere Client plugin's registration, the
  account's role and privileges;
- :mod:`.lease`: one active ``serve`` per vCenter (a compare-and-swap on a customization spec);
- :mod:`.automation` (the vSphere Automation SDK, the only code that imports it: sessions, tags, VM data
  sets, clone tickets), :mod:`.tags` (tags for the scope and replicas, cached), :mod:`.clientsession` (the
  vSphere Client user's session: clone ticket, then CloneSession);
- :mod:`.health`: the Proactive HA health provider (HealthUpdateManager) and the clusters' Proactive HA
  settings.

    settings = ConnectionSettings.from_sources(options, config_values)   # or ConnectionSettings(url=...)
    with connect(settings) as conn:
        inventory = snapshot(conn)                 # one PropertyCollector pass -> model.Inventory
        with Informer(conn) as informer:           # full state first, then one per change
            inventory = informer.next(timeout=30)

Everything raised is a :class:`~vsguesttruth.errors.VsgtError` with a one-line message.
"""

from __future__ import annotations

from . import eventfeed, events, extension
from .attributes import vms_with_attribute
from .clientsession import ClientSessionExchange, UserSession
from .connect import Connection, connect, negotiate_version, vcenter_major
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
from .faults import fault_text, is_connection_lost, is_session_lost, translate
from .informer import Informer
from .inventory import snapshot
from .lease import Lease, NotActive
from .migrate import MoveResult, RunningMove, follow, relocate, replica_pairs, running_migrations, vmotion
from .privileges import RoleResult, ensure_role, missing_privileges, root_folder, root_pools, tools_status
from .publish import Publisher, get_extra_config, read_guestinfo, refresh_storage, set_extra_config
from .settings import ConnectionSettings, normalize_thumbprint, parse_url
from .tags import TagCache, find_object, replicas
from .task import TRANSIENT_FAULTS, Transient, is_transient, wait_for_task
from .tls import ssl_context, thumbprint_of
from .watch import Watcher, watch

__all__ = [
    "TRANSIENT_FAULTS",
    "ApiError",
    "AuthError",
    "CertificateError",
    "ConfigError",
    "ConnectError",
    "Connection",
    "ConnectionSettings",
    "ClientSessionExchange",
    "Informer",
    "Lease",
    "MoveResult",
    "NotActive",
    "NotFound",
    "Publisher",
    "RoleResult",
    "RunningMove",
    "SessionExpired",
    "TagCache",
    "TaskFailed",
    "Transient",
    "UserSession",
    "VsgtError",
    "Watcher",
    "connect",
    "ensure_role",
    "eventfeed",
    "events",
    "extension",
    "fault_text",
    "find_object",
    "follow",
    "get_extra_config",
    "is_connection_lost",
    "is_session_lost",
    "is_transient",
    "missing_privileges",
    "negotiate_version",
    "normalize_thumbprint",
    "parse_url",
    "read_guestinfo",
    "refresh_storage",
    "relocate",
    "replica_pairs",
    "replicas",
    "root_folder",
    "root_pools",
    "running_migrations",
    "set_extra_config",
    "snapshot",
    "ssl_context",
    "thumbprint_of",
    "tools_status",
    "translate",
    "vcenter_major",
    "vms_with_attribute",
    "vmotion",
    "wait_for_task",
    "watch",
]
