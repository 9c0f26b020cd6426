"""vsguesttruth as a vCenter extension: the vSphere Client remote plugin's registration.

Registration (``ExtensionManager``), key :data:`PLUGIN_KEY`:

- a **server** entry of type ``MANIFEST_SERVER`` whose ``url`` is the full URL of ``plugin.json``, with the
  plugin server's certificate thumbprint (SHA-1 for vCenter 7, SHA-256 for vCenter 8, which also gets the
  PEM certificate in ``serverCertificate``): the vSphere Client fetches the manifest from there and trusts
  exactly that certificate;
- a **client** entry of type ``vsphere-client-remote`` with the same URL and the version;
- our **event types** (:data:`EVENT_TYPES`, ``com.vsguesttruth.*``) with their ``en_US`` texts in the
  ``event`` resource module, so ``EventManager.PostEvent`` of an ``ExtendedEvent`` shows readable messages.

:func:`register` is idempotent: RegisterExtension, or UpdateExtension when the key exists. Before it
registers, it checks that the plugin URL answers with a manifest and fetches the certificate (so a typo or a
firewall shows now, not as a blank panel in the vSphere Client later). Needs the vCenter privilege
``Extension.Register`` (``Extension.Update``, ``Extension.Unregister``).

The sessions the vSphere Client hands the plugin are :mod:`.clientsession`'s.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pyVmomi import vim, vmodl

from vsguesttruth import __version__

from . import task
from .connect import Connection
from .errors import ApiError, ConfigError, ConnectError
from .tls import thumbprint_of

log = logging.getLogger(__name__)

PLUGIN_KEY = "com.vsguesttruth.plugin"
COMPANY = "vsguesttruth"
LABEL = "vsguesttruth"
SUMMARY = "The physical truth about VM storage: paths, LUNs and verdicts per virtual disk"
SERVER_TYPE = "MANIFEST_SERVER"
CLIENT_TYPE = "vsphere-client-remote"

#: Event types the service posts (``ExtendedEvent.eventTypeId``): id -> (category, message)
EVENT_TYPES: dict[str, tuple[str, str]] = {
    "com.vsguesttruth.verdict.changed": ("warning", "Disk verdict changed on {vm.name}"),
    "com.vsguesttruth.migration.planned": ("info", "vsguesttruth plans to move {vm.name}"),
    "com.vsguesttruth.migration.started": ("info", "vsguesttruth started moving {vm.name}"),
    "com.vsguesttruth.migration.completed": ("info", "vsguesttruth moved {vm.name}"),
    "com.vsguesttruth.migration.failed": ("error", "vsguesttruth could not move {vm.name}"),
    "com.vsguesttruth.migration.refused": ("warning", "vsguesttruth did not move {vm.name}"),
    "com.vsguesttruth.request.received": ("info", "Guest request received from {vm.name}"),
}


class PluginUrlError(ConnectError):
    """The plugin server's URL does not answer like a vsguesttruth plugin server."""


class PermissionDenied(ApiError):
    """The vCenter user lacks a privilege."""


@dataclass(frozen=True)
class Probe:
    """What the plugin URL answered: its manifest and its certificate."""

    url: str
    sha1: str
    sha256: str
    pem: str
    manifest: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PluginStatus:
    """The extension as vCenter has it (``registered`` False: nothing more is known)."""

    registered: bool
    key: str = PLUGIN_KEY
    version: str = ""
    url: str = ""
    thumbprint: str = ""
    server_type: str = ""
    client_type: str = ""
    events: tuple[str, ...] = ()
    last_heartbeat: str = ""
    action: str = ""  # register(): "registered" or "updated"

    def as_dict(self) -> dict:
        return {
            "registered": self.registered, "key": self.key, "version": self.version, "url": self.url,
            "thumbprint": self.thumbprint, "server_type": self.server_type, "client_type": self.client_type,
            "events": list(self.events), "last_heartbeat": self.last_heartbeat,
            **({"action": self.action} if self.action else {}),
        }


# ---------------------------------------------------------------------------------------------------
# The plugin URL


def manifest_url(url: str) -> str:
    """``https://host:8443`` -> ``https://host:8443/plugin.json``; a URL ending in ``.json`` stays."""
    text = (url or "").strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme != "https":
        raise ConfigError(f"the plugin URL must be https:// (the vSphere Client only loads plugins over TLS), not {url!r}")
    if not parts.hostname:
        raise ConfigError(f"the plugin URL {url!r} names no host")
    path = parts.path
    if not path.endswith(".json"):
        path = path.rstrip("/") + "/plugin.json"
    return urlunsplit(("https", parts.netloc, path, "", ""))


def probe(url: str, timeout: float = 10.0) -> Probe:
    """Fetch the plugin server's certificate and its ``plugin.json``; PluginUrlError when it does not answer."""
    full = manifest_url(url)
    parts = urlsplit(full)
    host, port = parts.hostname or "", parts.port or 443
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # we only read the certificate here: it is what gets registered
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as err:
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        raise PluginUrlError(
            f"the plugin URL {full} does not answer over TLS ({reason}): start `vsguesttruth serve` there, "
            "and check that vCenter can reach that host and port") from None
    if not der:
        raise PluginUrlError(f"the plugin server at {full} presented no certificate")
    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    try:
        conn.request("GET", parts.path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = response.read(1_000_000)
        status = response.status
    except (OSError, http.client.HTTPException) as err:
        raise PluginUrlError(f"the plugin URL {full} did not answer ({err})") from None
    finally:
        conn.close()
    if status != 200:
        raise PluginUrlError(f"the plugin URL {full} answered HTTP {status}, not the plugin manifest: check the path")
    try:
        manifest = json.loads(body)
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict) or "manifestVersion" not in manifest:
        raise PluginUrlError(f"the plugin URL {full} answered, but not with a plugin.json (no manifestVersion)")
    return Probe(url=full, sha1=thumbprint_of(der, 20), sha256=thumbprint_of(der, 32),
                 pem=ssl.DER_cert_to_PEM_cert(der), manifest=manifest)


# ---------------------------------------------------------------------------------------------------
# Registration


def _major(conn: Connection) -> int:
    try:
        return int(str(conn.content.about.apiVersion).split(".")[0])
    except (AttributeError, ValueError):
        return 7


def build_extension(found: Probe, *, vcenter_major: int = 7, version: str = __version__,
                    admin_email: str = "") -> Any:
    """The ``vim.Extension`` describing our remote plugin (see the module docstring)."""
    description = vim.Description(label=LABEL, summary=SUMMARY)
    server = vim.Extension.ServerInfo(
        url=found.url, type=SERVER_TYPE, company=COMPANY, description=description,
        adminEmail=[admin_email or "root@localhost"],
        serverThumbprint=found.sha256 if vcenter_major >= 8 else found.sha1,
    )
    if vcenter_major >= 8:
        server.serverCertificate = found.pem
    client = vim.Extension.ClientInfo(
        url=found.url, type=CLIENT_TYPE, company=COMPANY, version=version, description=description,
    )
    events = [vim.Extension.EventTypeInfo(eventID=event_id) for event_id in EVENT_TYPES]
    data = []
    for event_id, (category, message) in EVENT_TYPES.items():
        data += [
            vim.KeyValue(key=f"{event_id}.category", value=category),
            vim.KeyValue(key=f"{event_id}.label", value=message.replace("{vm.name}", "a VM")),
            vim.KeyValue(key=f"{event_id}.summary", value=message),
            vim.KeyValue(key=f"{event_id}.fullFormat", value=message + ": {message}"),
            vim.KeyValue(key=f"{event_id}.formatOnVm", value=message.replace(" {vm.name}", "") + ": {message}"),
        ]
    resources = [vim.Extension.ResourceInfo(locale="en_US", module="event", data=data)]
    return vim.Extension(
        key=PLUGIN_KEY, version=version, company=COMPANY, description=description,
        server=[server], client=[client], eventList=events, resourceList=resources,
        lastHeartbeatTime=_now(), shownInSolutionManager=True,
    )


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def _call(conn: Connection, fn: Any, during: str) -> Any:
    """Run an ExtensionManager call (:func:`.task.run`: once more after a lost session); NoPermission
    becomes a clear PermissionDenied that names the Extension privilege."""
    def guarded() -> Any:
        try:
            return fn()
        except vim.fault.NoPermission as fault:
            raise _denied(conn, fault, during) from None

    return task.run(conn, guarded, during)


def _denied(conn: Connection, fault: Any, during: str) -> PermissionDenied:
    wanted = getattr(fault, "privilegeId", "") or {"register": "Extension.Register", "update": "Extension.Update",
                                                   "unregister": "Extension.Unregister"}.get(during.split()[0], "")
    return PermissionDenied(
        f"{conn.settings.username} may not {during} on {conn.url}: the privilege {wanted or 'Extension.*'} is "
        "missing; log in as an administrator or grant it on the vCenter root")


def status(conn: Connection) -> PluginStatus:
    """The registered extension (FindExtension), or ``registered=False``."""
    manager = conn.content.extensionManager
    ext = _call(conn, lambda: manager.FindExtension(PLUGIN_KEY), "read extensions")
    return _status_of(ext)


def _status_of(ext: Any, action: str = "") -> PluginStatus:
    if ext is None:
        return PluginStatus(registered=False)
    server = next((s for s in ext.server or () if s.type == SERVER_TYPE), None)
    client = next((c for c in ext.client or () if c.type == CLIENT_TYPE), None)
    heartbeat = ext.lastHeartbeatTime
    return PluginStatus(
        registered=True, key=ext.key, version=ext.version or "", url=(server.url if server else "") or "",
        thumbprint=(server.serverThumbprint if server else "") or "", server_type=server.type if server else "",
        client_type=client.type if client else "", events=tuple(e.eventID for e in ext.eventList or ()),
        last_heartbeat=heartbeat.isoformat() if heartbeat else "", action=action,
    )


def register(conn: Connection, url: str, *, version: str = __version__, admin_email: str = "",
             timeout: float = 10.0) -> PluginStatus:
    """Register (or update) the remote plugin served at ``url``; return what vCenter now has."""
    found = probe(url, timeout)
    ext = build_extension(found, vcenter_major=_major(conn), version=version, admin_email=admin_email)
    manager = conn.content.extensionManager
    existing = _call(conn, lambda: manager.FindExtension(PLUGIN_KEY), "read extensions")

    def register_or_update() -> str:
        try:
            manager.RegisterExtension(ext)
            return "registered"
        except vmodl.fault.InvalidArgument:  # registered meanwhile by somebody else (or by our last try)
            manager.UpdateExtension(ext)
            return "updated"

    if existing is None:
        action = _call(conn, register_or_update, "register the extension")
    else:
        action = "updated"
        _call(conn, lambda: manager.UpdateExtension(ext), "update the extension")
    return _status_of(_call(conn, lambda: manager.FindExtension(PLUGIN_KEY), "read extensions"), action)


def unregister(conn: Connection) -> bool:
    """Remove the extension; False when it was not registered."""
    manager = conn.content.extensionManager
    if _call(conn, lambda: manager.FindExtension(PLUGIN_KEY), "read extensions") is None:
        return False

    def unregister_one() -> bool:
        try:
            manager.UnregisterExtension(PLUGIN_KEY)
        except vim.fault.NotFound:  # gone meanwhile
            return False
        return True

    return _call(conn, unregister_one, "unregister the extension")
