"""A guest's probing policy (``guestinfo.vsguesttruth.policy``), bounded by the admin's ``[guest]`` config.

The guest writes the policy with ``info-set``: it is untrusted input. Parsing is strict (size limit, strict
UTF-8 and JSON, no unknown keys, exact types, every value within the published schema and within the
admin's bounds) and never raises: a policy that cannot be accepted gives the defaults, with status
``invalid`` and a message saying what to fix, so one guest's mistake can neither crash the service nor
touch another VM. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

from typing import Iterable

from vsguesttruth.config import MAX_REFRESH_INTERVAL, GuestConfig
from vsguesttruth.model import Vm
from vsguesttruth_guest.guestinfo import (
    FIELDS,
    POLICY,
    POLICY_LIMIT,
    SCHEMA_VERSION,
    DocumentError,
    parse_guest_json,
)
from vsguesttruth.policy import MAX_PATHS_PER_LUN, PolicyError, ServiceLevel

PUBLISH_MODES = ("on_change", "interval")
MAX_REACHABLE_DEVICES = 256
KEYS = ("schema", "refresh_interval", "publish", "fields", "min_working_paths", "min_reachable_devices", "poll_interval")
_SHOWN = 40  # characters of a guest's string quoted back in a message


@dataclass(frozen=True, slots=True)
class GuestPolicy:
    """The policy in force for one VM: the guest's, within the admin's bounds, or the defaults.

    ``status``: ``default`` (the guest set none), ``applied``, or ``invalid`` (the guest's was refused;
    ``message`` says why, and the defaults apply). ``refresh_interval`` 0 means no periodic re-probe;
    ``poll_interval`` how often the service reads what the guest writes into its data set (0: only in its
    request window and the sweep, ``[delivery]``).
    """

    status: str = "default"
    message: str = ""
    refresh_interval: int = 0
    publish: str = "on_change"
    fields: frozenset[str] = frozenset(FIELDS)
    level: ServiceLevel = field(default_factory=ServiceLevel)
    poll_interval: int = 0

    def as_doc(self) -> dict[str, Any]:
        """The state document's ``policy`` section: the status and the values in force (a copy of its own)."""
        section = policy_section(self)
        return {**section, "fields": list(section["fields"])}


@lru_cache(maxsize=256)
def policy_section(policy: GuestPolicy) -> Mapping[str, Any]:
    """The ``policy`` section of every document under ``policy``: one dict per distinct policy, shared by all
    those documents (never change it; :meth:`GuestPolicy.as_doc` gives a copy)."""
    out: dict[str, Any] = {"status": policy.status}
    if policy.message:
        out["message"] = policy.message
    out.update(
        refresh_interval=policy.refresh_interval, publish=policy.publish,
        fields=[f for f in FIELDS if f in policy.fields],
        min_working_paths=policy.level.min_working_paths,
        min_reachable_devices=policy.level.min_reachable_devices,
    )
    if policy.poll_interval:
        out["poll_interval"] = policy.poll_interval
    return out


@lru_cache(maxsize=64)
def default_policy(bounds: GuestConfig, level: ServiceLevel | None = None) -> GuestPolicy:
    """What applies to a VM whose guest set no policy (or an invalid one): one object per bounds and level,
    shared by every such VM (20,000 copies of it and its field set were 20 MB)."""
    return GuestPolicy(refresh_interval=bounds.default_refresh_interval, fields=frozenset(bounds.allowed_fields),
                       level=level or ServiceLevel())


def effective_policy(value: str | bytes | None, bounds: GuestConfig, level: ServiceLevel | None = None) -> GuestPolicy:
    """The policy in force for a VM whose policy key holds ``value``. Never raises."""
    defaults = default_policy(bounds, level)
    if value is None or value in ("", b""):
        return defaults
    try:
        return parse_policy(value, bounds, level)
    except PolicyError as err:
        return GuestPolicy(status="invalid", message=str(err), refresh_interval=defaults.refresh_interval,
                           fields=defaults.fields, level=defaults.level)
    except Exception as err:  # noqa: BLE001 - a bug here must not become one guest's power over the loop
        return GuestPolicy(status="invalid", message=f"policy could not be read ({type(err).__name__})",
                           refresh_interval=defaults.refresh_interval, fields=defaults.fields, level=defaults.level)


def policy_value(vm: Vm) -> str | None:
    """The VM's policy key as the inventory shows it (guestinfo keys are case-insensitive in the VMX)."""
    found = vm.guestinfo.get(POLICY)
    if found is None:
        found = next((v for k, v in vm.guestinfo.items() if k.lower() == POLICY), None)
    return found


class Levels:
    """The service level each VM is judged by, read from its policy key in the inventory with the admin's
    bounds: one function for every reader (``status``, ``map``, ``plan``, the web API and pages, /metrics),
    the same parse the service applies when it publishes (``Reconciler.levels()``, which also rate-limits a
    guest's changes). Policies are parsed once per distinct value."""

    def __init__(self, bounds: GuestConfig, default: ServiceLevel | None = None) -> None:
        self.bounds = bounds
        self.default = default or ServiceLevel()
        self._parsed: dict[str, GuestPolicy] = {}

    def policy(self, vm: Vm) -> GuestPolicy:
        raw = policy_value(vm)
        if raw is None:
            return default_policy(self.bounds, self.default)
        found = self._parsed.get(raw)
        if found is None:
            found = self._parsed[raw] = effective_policy(raw, self.bounds, self.default)
        return found

    def of(self, vm: Vm) -> ServiceLevel:
        return self.policy(vm).level

    def source(self, vm: Vm) -> dict:
        """Which level applies and where it comes from: its values, ``source`` (``default``: the service's,
        ``applied``: the guest's, ``invalid``: the guest's was refused) and ``message``."""
        policy = self.policy(vm)
        return {**policy.level.as_dict(), "source": policy.status, "message": policy.message}

    def all(self, vms: Iterable[Vm]) -> dict[str, ServiceLevel]:
        """VM moref -> level, for the VMs whose guest set a policy (the others take the default)."""
        return {vm.moref: self.of(vm) for vm in vms if policy_value(vm) is not None}


def parse_policy(value: str | bytes, bounds: GuestConfig, level: ServiceLevel | None = None) -> GuestPolicy:
    """Strictly parse a policy value; raise :class:`PolicyError` with a message for the guest."""
    if not bounds.allow_policy:
        raise PolicyError("the administrator does not allow guest policies here; the defaults apply")
    try:
        doc = parse_guest_json(value, POLICY_LIMIT, "policy")
    except DocumentError as err:
        raise PolicyError(str(err)) from None
    unknown = [k for k in doc if k not in KEYS]
    if unknown:
        raise PolicyError(f"unknown policy key {_quote(unknown[0])} (known: {', '.join(KEYS)})")
    if "schema" in doc and (_kind(doc["schema"]) != "integer" or doc["schema"] != SCHEMA_VERSION):
        raise PolicyError(f"policy schema must be {SCHEMA_VERSION}, not {_show(doc['schema'])}")
    base = level or ServiceLevel()
    refresh = bounds.default_refresh_interval
    if "refresh_interval" in doc:
        refresh = _integer(doc, "refresh_interval", bounds.min_refresh_interval, MAX_REFRESH_INTERVAL)
    publish = doc.get("publish", "on_change")
    if publish not in PUBLISH_MODES or not isinstance(publish, str):
        raise PolicyError(f"publish must be one of {', '.join(PUBLISH_MODES)}, not {_show(publish)}")
    if publish == "interval" and refresh == 0:
        raise PolicyError("publish \"interval\" needs a refresh_interval")
    fields = frozenset(bounds.allowed_fields)
    if "fields" in doc:
        fields = _fields(doc["fields"], bounds)
    try:
        wanted = ServiceLevel(
            min_working_paths=_integer(doc, "min_working_paths", 1, MAX_PATHS_PER_LUN)
            if "min_working_paths" in doc else base.min_working_paths,
            min_reachable_devices=_integer(doc, "min_reachable_devices", 1, MAX_REACHABLE_DEVICES)
            if "min_reachable_devices" in doc else base.min_reachable_devices,
        )
    except PolicyError:
        raise
    except (TypeError, ValueError) as err:  # ServiceLevel's own checks
        raise PolicyError(str(err)) from None
    poll = _integer(doc, "poll_interval", bounds.min_refresh_interval, MAX_REFRESH_INTERVAL) if "poll_interval" in doc else 0
    return GuestPolicy(status="applied", refresh_interval=refresh, publish=publish, fields=fields, level=wanted,
                       poll_interval=poll)


def _fields(value: Any, bounds: GuestConfig) -> frozenset[str]:
    if not isinstance(value, list):
        raise PolicyError(f"fields must be a list, not {_kind(value)}")
    if len(value) > 16:
        raise PolicyError("fields may name at most 16 entries")
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str) or item not in FIELDS:
            raise PolicyError(f"fields: unknown field {_show(item)} (known: {', '.join(FIELDS)})")
        if item in seen:
            raise PolicyError(f"fields: {item} is named twice")
        if item not in bounds.allowed_fields:
            allowed = ", ".join(bounds.allowed_fields) or "none"
            raise PolicyError(f"fields: {item} is not allowed by the administrator (allowed: {allowed})")
        seen.add(item)
    return frozenset(seen)


def _integer(doc: dict[str, Any], key: str, low: int, high: int) -> int:
    value = doc[key]
    if _kind(value) != "integer":
        raise PolicyError(f"{key} must be an integer, not {_kind(value)}")
    if not low <= value <= high:
        raise PolicyError(f"{key} must be between {low} and {high}, not {value}")
    return int(value)


def _kind(value: Any) -> str:
    """The JSON type name of a decoded value (bool is not an integer here)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "integer"
    return {type(None): "null", str: "a string", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__)


def _quote(text: str) -> str:
    shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
    return repr(shown)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, (bool, int, float)) or value is None:
        text = "true" if value is True else "false" if value is False else "null" if value is None else str(value)
        return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
    return _kind(value)
