"""Service levels: what a guest needs from its storage beyond "it works".

A guest's level arrives as plain data (a guestinfo key set by the guest, or the admin's config), so it
is untrusted input: parsing is strict and every mistake is reported, never guessed around.

The full per-guest probing policy (refresh interval, fields to publish, ...) will live here too; it
will hold a ``ServiceLevel`` rather than repeat its fields.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from vsguesttruth.errors import VsgtError

# vSphere configuration maximum: 32 paths to a LUN per host. A level above that can never hold.
MAX_PATHS_PER_LUN = 32


class PolicyError(VsgtError, ValueError):
    """A policy or service level that cannot be accepted; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    """The minimum a guest's storage must offer for it to count as within its level.

    ``min_working_paths``: per LUN backing a disk, on the VM's current host (ALUA standby counts).
    ``min_reachable_devices``: per VM, how many of its virtual disks must be usable (healthy, degraded
    or below_sla); ``None`` means no such requirement.
    """

    min_working_paths: int = 1
    min_reachable_devices: int | None = None

    def __post_init__(self) -> None:
        _check_int("min_working_paths", self.min_working_paths, 1, MAX_PATHS_PER_LUN)
        if self.min_reachable_devices is not None:
            _check_int("min_reachable_devices", self.min_reachable_devices, 1, None)

    @classmethod
    def from_dict(cls, data: Any) -> "ServiceLevel":
        """Parse a plain mapping (decoded JSON); unknown keys and wrong types are errors."""
        if not isinstance(data, Mapping):
            raise PolicyError(f"service level must be an object, not {_type_name(data)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise PolicyError(
                f"unknown service level key(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return cls(**data)

    def as_dict(self) -> dict[str, int | None]:
        return {"min_working_paths": self.min_working_paths, "min_reachable_devices": self.min_reachable_devices}


def _check_int(name: str, value: Any, low: int, high: int | None) -> None:
    # bool is an int in Python, but `true` is never a meaningful path count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{name} must be an integer, not {_type_name(value)}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise PolicyError(f"{name} must be {bounds}, not {value}")


def _type_name(value: Any) -> str:
    return {type(None): "null", bool: "a boolean", str: "a string", float: "a number",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)
