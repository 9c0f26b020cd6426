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

    [scope]                      # which VMs get the truth; leave out for all
    clusters = ["prod-a"]        # every criterion given must hold
    vms = ["db*", "web01"]       # VM names, glob patterns allowed
    attribute = "vsguesttruth=on"  # a custom attribute name=value
    tags = ["vsgt:on"]           # vSphere tags "category:tag" on the VM, its host, cluster or a datastore of it
    exclude_tags = ["vsgt:off"]  # ... and none of these

    [delivery]                   # how the documents travel: guestinfo, VM data sets, or auto (data sets where possible)
    channel = "guestinfo"

    [guest]                      # how far a guest's own policy and requests may go
    min_refresh_interval = 10

    [publish]
    concurrency = 64

    [service]                    # vsguesttruth serve: one instance acts, the others stand by
    lease_seconds = 30

    [remediation]                # what happens when a VM's storage calls for a move
    mode = "advise"              # off / advise / auto / proactive-ha
    max_concurrent = 2

    replica_tag_category = "vsgt-replica-of"  # a tag of it on a replica datastore names its primary

    [replicas]                   # datastore name = its replica's name (media_failure fails over there)
    "ds-gold" = "ds-gold-replica"

    [san]                        # what vSphere does not know: the array's names for its target ports
    port_names = {"50:06:01:60:3b:a0:1d:e2" = "A-ctl0-p0"}

    [audit]                      # what the single-point-of-failure audit also checks
    replicas_wanted = ["ds-gold*", "ds-db-*"]   # datastores (name globs) that must have a replica

    [incidents]
    event_lookback_hours = 24    # how far back the hosts' storage events date an incident's start

    [web]                        # the plugin server (vSphere Client UI, JSON API, /metrics)
    listen = "0.0.0.0"
    port = 8443
    cert_file = "/etc/vsguesttruth/tls/cert.pem"
    key_file = "/etc/vsguesttruth/tls/key.pem"
    api_tokens_file = "/etc/vsguesttruth/api-tokens"
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsguesttruth.errors import ConfigError
from vsguesttruth_guest.guestinfo import FIELDS

VCENTER_KEYS = {
    "url": str, "username": str, "password": str, "password_file": str,
    "insecure": bool, "thumbprint": str, "ca_file": str,
}
SECTIONS = {"vcenter", "service_level", "scope", "guest", "publish", "delivery", "service", "remediation", "replicas",
            "web", "san", "audit", "incidents"}
SAN_KEYS = {"port_names": dict}
SCOPE_KEYS = {"clusters": list, "vms": list, "attribute": str, "attribute_refresh": int, "tags": list,
              "exclude_tags": list, "tag_refresh": int}
GUEST_KEYS = {
    "allow_policy": bool, "min_refresh_interval": int, "default_refresh_interval": int, "allowed_fields": list,
    "allow_migrate_requests": bool, "requests_per_hour": int,
}
PUBLISH_KEYS = {"concurrency": int, "attempts": int, "task_timeout": int, "full_interval": int, "settle_ms": int}
SERVICE_KEYS = {"lease_seconds": int, "lease_renew_seconds": int}
REMEDIATION_KEYS = {
    "mode": str, "max_concurrent": int, "cooldown_minutes": int, "max_per_hour": int, "stable_seconds": int,
    "breaker_failures": int, "breaker_open_seconds": int, "task_timeout_seconds": int, "attempts": int,
    "retry_seconds": int, "allowed_hosts": list, "same_cluster_only": bool, "move_degraded": bool,
    "replica_attribute": str, "replica_tag_category": str,
}
REMEDIATION_MODES = ("off", "advise", "auto", "proactive-ha")
WEB_KEYS = {
    "listen": str, "port": int, "cert_file": str, "key_file": str, "api_tokens_file": str,
    "session_cache_seconds": int, "public_url": str, "metrics_anonymous": bool,
}
DELIVERY_KEYS = {"channel": str, "poll_budget": int, "request_window": int, "sweep_interval": int}
CHANNELS = ("guestinfo", "auto", "datasets")
AUDIT_KEYS = {"replicas_wanted": list}
INCIDENTS_KEYS = {"event_lookback_hours": int, "keep_resolved": int}
MAX_REFRESH_INTERVAL = 86400
MAX_CONCURRENCY = 256  # [publish] concurrency: at most 40 % of vCenter's ~640 concurrent operations


@dataclass(frozen=True)
class ScopeConfig:
    """Which VMs the service publishes to: every criterion given must hold; none given means all VMs."""

    clusters: tuple[str, ...] = ()
    vms: tuple[str, ...] = ()  # names or glob patterns (fnmatch, case-sensitive)
    attribute: tuple[str, str] | None = None  # custom attribute (name, value)
    attribute_refresh: int = 300  # seconds between re-reads of the custom attribute (it is not watched)
    tags: tuple[tuple[str, str], ...] = ()  # (category, tag): the VM, its host, its cluster or a datastore of it carries one
    exclude_tags: tuple[tuple[str, str], ...] = ()  # ... and none of these
    tag_refresh: int = 300  # seconds between re-reads of the tags (no change notification; SIGHUP reads at once)

    @property
    def everything(self) -> bool:
        return not (self.clusters or self.vms or self.attribute or self.tags or self.exclude_tags)


@dataclass(frozen=True)
class DeliveryConfig:
    """How the documents travel: guestinfo (extraConfig), VM data sets, or data sets where possible (auto).

    Data sets have no change notification: what guests write there is polled, at most ``poll_budget``
    Automation API calls a second for all VMs together: each data-set VM once at first sight, then at its
    policy's ``poll_interval``, every ``[guest] min_refresh_interval`` for ``request_window`` seconds after it
    wrote a request or a policy, and every ``sweep_interval`` seconds whatever its policy (0: never).
    """

    channel: str = "guestinfo"  # guestinfo / auto (vmx-20+ VMs on vCenter 8+) / datasets (every vmx-20+ VM)
    poll_budget: int = 20  # Automation API calls a second for polling the guests' data sets
    request_window: int = 300  # seconds a guest that wrote a request or policy is polled closely
    sweep_interval: int = 3600  # seconds between reads of every data-set VM's guest data set (0: never)


@dataclass(frozen=True)
class GuestConfig:
    """The admin's bounds on what a guest may ask for (its policy and its requests are untrusted)."""

    allow_policy: bool = True  # false: every guest policy is refused, the defaults apply
    min_refresh_interval: int = 10  # seconds; a guest asking for less is refused
    default_refresh_interval: int = 0  # seconds; 0: no periodic re-probe unless the guest asks for one
    allowed_fields: tuple[str, ...] = FIELDS  # optional disk parts a guest may get (and gets by default)
    allow_migrate_requests: bool = False
    requests_per_hour: int = 6  # per VM; 0 refuses every request


@dataclass(frozen=True)
class PublishConfig:
    """How the service writes: bounded concurrency, bounded retries on transient faults."""

    # ReconfigVM tasks in flight at once: the pace vCenter sees (it runs ~640 operations at once, a reconfigure
    # about a second); `make soak` shows the trade-off. 1,000 path flaps a minute need ~90 documents a second.
    concurrency: int = 64
    attempts: int = 4  # tries per write on transient faults (TaskInProgress, connection loss, ...)
    task_timeout: int = 120  # seconds to wait for one ReconfigVM task
    full_interval: int = 600  # seconds between checks of every VM (a safety net under the incremental passes)
    settle_ms: int = 500  # how long after a re-probe its result is taken to have reached the watch


@dataclass(frozen=True)
class ServiceConfig:
    """``vsguesttruth serve``: the single-instance lease (a customization spec in vCenter, see
    ``vcenter.lease``). The active instance renews it every ``lease_renew_seconds``; another takes over at most
    ``lease_seconds + lease_renew_seconds`` after the active one stopped renewing."""

    lease_seconds: int = 30
    lease_renew_seconds: int = 10


@dataclass(frozen=True)
class RemediationConfig:
    """What the remediation may do on its own, and the guard rails around it (see ``vsguesttruth.remediation``)."""

    # off: nothing; advise: plan, post events, never move; auto: move; proactive-ha: a host's connectivity
    # problems go to vSphere's Proactive HA (host health posted), the rest moves as in auto
    mode: str = "advise"
    max_concurrent: int = 2  # migrations in flight at once
    cooldown_minutes: int = 30  # a VM moved is not moved again (or back) within this time
    max_per_hour: int = 10  # migrations started per rolling hour, all VMs together
    stable_seconds: int = 30  # hysteresis: a verdict must hold this long before it is acted on
    breaker_failures: int = 3  # consecutive failed migrations that open the circuit breaker
    breaker_open_seconds: int = 600  # how long the breaker stays open before one trial move (half-open)
    task_timeout_seconds: int = 600  # per MigrateVM/RelocateVM task
    attempts: int = 3  # failed migrations of one VM before it waits out the cooldown
    retry_seconds: int = 60  # first wait after a failed migration of a VM (doubles per failure)
    allowed_hosts: tuple[str, ...] = ()  # host names (globs) a VM may move to; empty: any host
    same_cluster_only: bool = True  # vMotion within the VM's cluster only
    move_degraded: bool = True  # move a degraded VM whose working paths are below its service level
    replicas: dict[str, str] = field(default_factory=dict)  # datastore name -> replica datastore name
    replica_attribute: str = ""  # custom attribute on a datastore naming its replica ("" : config only)
    replica_tag_category: str = ""  # tag category on replica datastores: the tag names the primary ("": none)
    allow_guest_requests: bool = False  # from [guest] allow_migrate_requests

    @property
    def cooldown_seconds(self) -> int:
        return self.cooldown_minutes * 60


@dataclass(frozen=True)
class WebConfig:
    """The plugin server: where it listens, its TLS certificate, who may call its API."""

    listen: str = "127.0.0.1"  # "0.0.0.0" to let vCenter reach it from elsewhere
    port: int = 8443
    cert_file: str = ""  # PEM; both or neither of cert_file and key_file
    key_file: str = ""
    api_tokens_file: str = ""  # lines "NAME read|write TOKEN" (see vsguesttruth.web.auth)
    session_cache_seconds: int = 60  # how long a checked vSphere Client session stays trusted
    public_url: str = ""  # how vCenter reaches us, e.g. "https://vsgt.example.com:8443" (plugin register)
    metrics_anonymous: bool = False  # true: /metrics needs no token (keep it on a trusted network)


@dataclass(frozen=True)
class SanConfig:
    """What the admin knows of the SAN and vSphere does not report: the array's name for each target port, by
    its WWPN (``50:06:01:60:3b:a0:1d:e2``, normalised), shown beside the WWPN in explanations and pages."""

    port_names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditConfig:
    """What the single-point-of-failure audit checks beyond the paths."""

    replicas_wanted: tuple[str, ...] = ()  # datastore name globs that must have a replica


@dataclass(frozen=True)
class IncidentsConfig:
    """How incidents are dated and kept."""

    event_lookback_hours: int = 24  # the hosts' storage events read back to date a failure's start
    keep_resolved: int = 2000  # resolved incidents kept in memory (the newest; none older than a day)


@dataclass(frozen=True)
class Config:
    """What the admin configured; empty when there is no file."""

    path: str = ""
    vcenter: dict[str, Any] = field(default_factory=dict)
    service_level: dict[str, Any] = field(default_factory=dict)
    scope: ScopeConfig = field(default_factory=ScopeConfig)
    guest: GuestConfig = field(default_factory=GuestConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    web: WebConfig = field(default_factory=WebConfig)
    remediation: RemediationConfig = field(default_factory=RemediationConfig)
    san: SanConfig = field(default_factory=SanConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    incidents: IncidentsConfig = field(default_factory=IncidentsConfig)


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
    guest = parse_guest(_check_section(chosen, "guest", data.get("guest", {}), GUEST_KEYS), chosen)
    remediation = parse_remediation(
        _check_section(chosen, "remediation", data.get("remediation", {}), REMEDIATION_KEYS),
        data.get("replicas", {}), chosen, allow_guest_requests=guest.allow_migrate_requests,
    )
    return Config(
        path=str(chosen), vcenter=vcenter, service_level=dict(level),
        scope=parse_scope(_check_section(chosen, "scope", data.get("scope", {}), SCOPE_KEYS), chosen),
        guest=guest, remediation=remediation,
        publish=parse_publish(_check_section(chosen, "publish", data.get("publish", {}), PUBLISH_KEYS), chosen),
        delivery=parse_delivery(_check_section(chosen, "delivery", data.get("delivery", {}), DELIVERY_KEYS), chosen),
        service=parse_service(_check_section(chosen, "service", data.get("service", {}), SERVICE_KEYS), chosen),
        web=parse_web(_check_section(chosen, "web", data.get("web", {}), WEB_KEYS), chosen),
        san=parse_san(_check_section(chosen, "san", data.get("san", {}), SAN_KEYS), chosen),
        audit=AuditConfig(replicas_wanted=_strings(
            _check_section(chosen, "audit", data.get("audit", {}), AUDIT_KEYS).get("replicas_wanted", []),
            _where(chosen, "audit") + ".replicas_wanted")),
        incidents=parse_incidents(_check_section(chosen, "incidents", data.get("incidents", {}), INCIDENTS_KEYS),
                                  chosen),
    )


def parse_scope(section: dict[str, Any], path: Path | str = "") -> ScopeConfig:
    """[scope] as checked by ``load`` -> ScopeConfig; ConfigError on a bad value."""
    where = _where(path, "scope")
    clusters = _strings(section.get("clusters", []), f"{where}.clusters")
    vms = _strings(section.get("vms", []), f"{where}.vms")
    attribute = None
    if "attribute" in section:
        name, sep, value = section["attribute"].partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{where}.attribute must be \"name=value\" (a custom attribute), not {section['attribute']!r}")
        attribute = (name.strip(), value.strip())
    refresh = _int(section, "attribute_refresh", where, 10, MAX_REFRESH_INTERVAL, 300)
    tags = _tags(section.get("tags", []), f"{where}.tags")
    exclude = _tags(section.get("exclude_tags", []), f"{where}.exclude_tags")
    both = set(tags) & set(exclude)
    if both:
        raise ConfigError(f"{where}: tag {':'.join(sorted(both)[0])} is in both tags and exclude_tags")
    return ScopeConfig(clusters=clusters, vms=vms, attribute=attribute, attribute_refresh=refresh, tags=tags,
                       exclude_tags=exclude, tag_refresh=_int(section, "tag_refresh", where, 10, MAX_REFRESH_INTERVAL, 300))


def _tags(value: Any, name: str) -> tuple[tuple[str, str], ...]:
    out = []
    for text in _strings(value, name):
        category, sep, tag = text.partition(":")
        if not sep or not category.strip() or not tag.strip():
            raise ConfigError(f"{name}: {text!r} is not \"category:tag\" (a vSphere tag and its category)")
        out.append((category.strip(), tag.strip()))
    return tuple(dict.fromkeys(out))


def parse_delivery(section: dict[str, Any], path: Path | str = "") -> DeliveryConfig:
    """[delivery] as checked by ``load`` -> DeliveryConfig; ConfigError on a bad value."""
    where = _where(path, "delivery")
    channel = section.get("channel", "guestinfo")
    if channel not in CHANNELS:
        raise ConfigError(f"{where}.channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    return DeliveryConfig(
        channel=channel,
        poll_budget=_int(section, "poll_budget", where, 1, 10000, 20),
        request_window=_int(section, "request_window", where, 0, MAX_REFRESH_INTERVAL, 300),
        sweep_interval=_int(section, "sweep_interval", where, 0, 7 * MAX_REFRESH_INTERVAL, 3600),
    )


def parse_guest(section: dict[str, Any], path: Path | str = "") -> GuestConfig:
    """[guest] as checked by ``load`` -> GuestConfig; ConfigError on a bad value."""
    where = _where(path, "guest")
    minimum = _int(section, "min_refresh_interval", where, 1, MAX_REFRESH_INTERVAL, 10)
    default = _int(section, "default_refresh_interval", where, 0, MAX_REFRESH_INTERVAL, 0)
    if 0 < default < minimum:
        raise ConfigError(f"{where}.default_refresh_interval ({default}) is below min_refresh_interval ({minimum}); "
                          "use 0 for no periodic re-probe")
    fields = _strings(section.get("allowed_fields", list(FIELDS)), f"{where}.allowed_fields")
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise ConfigError(f"{where}.allowed_fields: unknown field {unknown[0]!r}; known: {', '.join(FIELDS)}")
    return GuestConfig(
        allow_policy=section.get("allow_policy", True), min_refresh_interval=minimum,
        default_refresh_interval=default, allowed_fields=tuple(f for f in FIELDS if f in fields),
        allow_migrate_requests=section.get("allow_migrate_requests", False),
        requests_per_hour=_int(section, "requests_per_hour", where, 0, 3600, 6),
    )


def parse_publish(section: dict[str, Any], path: Path | str = "") -> PublishConfig:
    """[publish] as checked by ``load`` -> PublishConfig; ConfigError on a bad value."""
    where = _where(path, "publish")
    return PublishConfig(
        concurrency=_int(section, "concurrency", where, 1, MAX_CONCURRENCY, PublishConfig.concurrency),
        attempts=_int(section, "attempts", where, 1, 20, 4),
        task_timeout=_int(section, "task_timeout", where, 1, 3600, 120),
        full_interval=_int(section, "full_interval", where, 10, MAX_REFRESH_INTERVAL, 600),
        settle_ms=_int(section, "settle_ms", where, 0, 60000, 500),
    )


def parse_service(section: dict[str, Any], path: Path | str = "") -> ServiceConfig:
    """[service] as checked by ``load`` -> ServiceConfig; ConfigError on a bad value."""
    where = _where(path, "service")
    lease = _int(section, "lease_seconds", where, 3, 3600, 30)
    renew = _int(section, "lease_renew_seconds", where, 1, 1800, 10)
    if renew * 2 > lease:
        raise ConfigError(f"{where}.lease_renew_seconds ({renew}) must be at most half of lease_seconds ({lease}): "
                          "the lease must survive one missed renewal")
    return ServiceConfig(lease_seconds=lease, lease_renew_seconds=renew)


def parse_remediation(section: dict[str, Any], replicas: Any = None, path: Path | str = "", *,
                      allow_guest_requests: bool = False) -> RemediationConfig:
    """[remediation] (as checked by ``load``) and [replicas] -> RemediationConfig; ConfigError on a bad value."""
    where = _where(path, "remediation")
    mode = section.get("mode", "advise")
    if mode not in REMEDIATION_MODES:
        raise ConfigError(f"{where}.mode must be one of {', '.join(REMEDIATION_MODES)}, not {mode!r}")
    pairs = replicas if replicas is not None else {}
    if not isinstance(pairs, dict):
        raise ConfigError(f"{_where(path, 'replicas')} must be a table of \"datastore\" = \"replica\"")
    for name, replica in pairs.items():
        if not isinstance(replica, str) or not replica or not name:
            raise ConfigError(f"{_where(path, 'replicas')}.{name} must be a datastore name (a non-empty string)")
        if replica == name:
            raise ConfigError(f"{_where(path, 'replicas')}.{name} names itself as its replica")
    attribute = section.get("replica_attribute", "")
    category = section.get("replica_tag_category", "").strip()
    return RemediationConfig(
        mode=mode,
        max_concurrent=_int(section, "max_concurrent", where, 1, 64, 2),
        cooldown_minutes=_int(section, "cooldown_minutes", where, 0, 7 * 24 * 60, 30),
        max_per_hour=_int(section, "max_per_hour", where, 0, 10000, 10),
        stable_seconds=_int(section, "stable_seconds", where, 0, 3600, 30),
        breaker_failures=_int(section, "breaker_failures", where, 1, 100, 3),
        breaker_open_seconds=_int(section, "breaker_open_seconds", where, 1, MAX_REFRESH_INTERVAL, 600),
        task_timeout_seconds=_int(section, "task_timeout_seconds", where, 10, MAX_REFRESH_INTERVAL, 600),
        attempts=_int(section, "attempts", where, 1, 20, 3),
        retry_seconds=_int(section, "retry_seconds", where, 1, MAX_REFRESH_INTERVAL, 60),
        allowed_hosts=_strings(section.get("allowed_hosts", []), f"{where}.allowed_hosts"),
        same_cluster_only=section.get("same_cluster_only", True),
        move_degraded=section.get("move_degraded", True),
        replicas=dict(pairs), replica_attribute=attribute.strip(), replica_tag_category=category,
        allow_guest_requests=allow_guest_requests,
    )


def parse_incidents(section: dict[str, Any], path: Path | str = "") -> IncidentsConfig:
    """[incidents] as checked by ``load`` -> IncidentsConfig; ConfigError on a bad value."""
    where = _where(path, "incidents")
    return IncidentsConfig(event_lookback_hours=_int(section, "event_lookback_hours", where, 0, 24 * 30, 24),
                           keep_resolved=_int(section, "keep_resolved", where, 0, 100000, 2000))


def parse_web(section: dict[str, Any], path: Path | str = "") -> WebConfig:
    """[web] as checked by ``load`` -> WebConfig; ConfigError on a bad value."""
    where = _where(path, "web")
    cert, key = section.get("cert_file", ""), section.get("key_file", "")
    if bool(cert) != bool(key):
        raise ConfigError(f"{where}: give both cert_file and key_file (PEM), or neither")
    public_url = section.get("public_url", "")
    if public_url and not public_url.startswith("https://"):
        raise ConfigError(f"{where}.public_url must start with https:// (the vSphere Client loads plugins over TLS)")
    return WebConfig(
        listen=section.get("listen", "127.0.0.1") or "127.0.0.1",
        port=_int(section, "port", where, 1, 65535, 8443),
        cert_file=cert, key_file=key, api_tokens_file=section.get("api_tokens_file", ""),
        session_cache_seconds=_int(section, "session_cache_seconds", where, 0, 3600, 60),
        public_url=public_url, metrics_anonymous=section.get("metrics_anonymous", False),
    )


def parse_san(section: dict[str, Any], path: Path | str = "") -> SanConfig:
    """[san] as checked by ``load`` -> SanConfig; ConfigError on a WWPN that is not one or an empty name."""
    where = _where(path, "san")
    names: dict[str, str] = {}
    for wwpn, name in section.get("port_names", {}).items():
        digits = re.sub(r"[^0-9a-fA-F]", "", wwpn.removeprefix("0x"))
        if len(digits) != 16 or re.fullmatch(r"[0-9a-fA-F:.\- ]+|0x[0-9a-fA-F]+", wwpn) is None:
            raise ConfigError(f"{where}.port_names: {wwpn!r} is not a WWPN (16 hex digits, e.g. 50:06:01:60:3b:a0:1d:e2)")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}.port_names.{wwpn!r} must be the port's name (a non-empty string)")
        names[":".join(digits[i:i + 2] for i in range(0, 16, 2)).lower()] = name.strip()
    return SanConfig(port_names=names)


def _where(path: Path | str, section: str) -> str:
    return f"config file {path}: {section}" if path else section


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{name} must be a list of non-empty strings")
    return tuple(dict.fromkeys(value))


def _int(section: dict[str, Any], key: str, where: str, low: int, high: int, default: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}.{key} must be an integer")
    if not low <= value <= high:
        raise ConfigError(f"{where}.{key} must be between {low} and {high}, not {value}")
    return value


def _check_section(path: Path, name: str, section: Any, keys: dict[str, type]) -> dict[str, Any]:
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path}: [{name}] must be a table")
    for key, value in section.items():
        if key not in keys:
            raise ConfigError(f"config file {path}: unknown key {name}.{key}; known: {', '.join(sorted(keys))}")
        if not isinstance(value, keys[key]) or (keys[key] is int and isinstance(value, bool)):
            kind = {"int": "an integer", "str": "a string", "bool": "true or false", "float": "a number",
                    "list": "a list", "dict": "a table"}.get(keys[key].__name__, keys[key].__name__)
            shown = "" if "password" in key else f", not {value!r}"  # a secret is never echoed
            raise ConfigError(f"config file {path}: {name}.{key} must be {kind}{shown}")
    return dict(section)
