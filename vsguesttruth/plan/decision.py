"""What the plan decides, as plain data: an :class:`Action` per VM, the :class:`Decision` that says where
and why (or why nothing sensible can be done), the whole :class:`Plan`, and a guest's :class:`MoveRequest`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from vsguesttruth.truth import Verdict, to_json


class Action(str, Enum):
    VMOTION = "vmotion"  # host move (MigrateVM_Task)
    RELOCATE_TO_REPLICA = "relocate_to_replica"  # storage move to the failed datastore's replica (RelocateVM_Task)
    STORAGE_VMOTION = "storage_vmotion"  # storage move to a chosen datastore (RelocateVM_Task)
    NONE = "none"  # a refusal: nothing sensible to do, ``why`` says why


@dataclass(frozen=True, slots=True)
class MoveRequest:
    """A guest's ``migrate`` request (already parsed and rate-limited by the service)."""

    vm: str  # moref
    id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do about one VM, and why. ``action`` ``none``: a refusal, ``why`` says what is missing."""

    vm: str  # moref
    vm_name: str
    action: Action
    verdict: Verdict  # the VM's verdict on its current host
    trigger: str  # connectivity_lost / media_failure / below_sla / degraded / all_paths_down / request / manual
    why: str  # one line
    from_host: str = ""  # moref
    from_host_name: str = ""
    to_host: str = ""  # moref; for a relocation: the host the VM runs on afterwards (may be from_host)
    to_host_name: str = ""
    from_datastore: str = ""  # moref of the (first) datastore left behind
    from_datastore_name: str = ""
    to_datastore: str = ""  # moref: the replica, or the chosen datastore; the VM home goes there
    to_datastore_name: str = ""
    disks: tuple[tuple[int, str], ...] = ()  # relocation: (disk key, target datastore moref) for every disk
    request_id: str = ""  # the guest request this answers, if any
    forced: bool = False  # manual: the admin overrode a refusal

    @property
    def moves(self) -> bool:
        return self.action is not Action.NONE

    @property
    def changes_host(self) -> bool:
        return self.moves and bool(self.to_host) and self.to_host != self.from_host

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What the decision is, for comparing passes (the same decision twice is not news)."""
        return (self.action.value, self.to_host, self.to_datastore, self.why if not self.moves else "")

    def line(self) -> str:
        """One line for a person, an event or a log."""
        if not self.moves:
            return f"not moving {self.vm_name} ({self.trigger}): {self.why}"
        where = self.target_words()
        return f"{self.action.value} {self.vm_name} {where} ({self.trigger}): {self.why}"

    def target_words(self) -> str:
        if self.action is Action.VMOTION:
            return f"from {self.from_host_name or '?'} to {self.to_host_name}"
        via = f" on {self.to_host_name}" if self.to_host_name else ""
        source = self.from_datastore_name or "its datastores"
        return f"from {source} to {self.to_datastore_name}{via}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_json(self)
        out["disks"] = [{"key": k, "datastore": d} for k, d in self.disks]
        out["moves"] = self.moves
        return out


@dataclass(frozen=True, slots=True)
class Plan:
    """Every VM that calls for action: the moves, and the refusals with their reasons."""

    decisions: tuple[Decision, ...] = ()

    @property
    def moves(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.moves)

    @property
    def refusals(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if not d.moves)

    def for_vm(self, moref: str) -> Decision | None:
        return next((d for d in self.decisions if d.vm == moref), None)

    def as_dict(self) -> dict[str, Any]:
        return {"moves": [d.as_dict() for d in self.moves], "refusals": [d.as_dict() for d in self.refusals]}


def force(decision: Decision, to_host_action: Action | None = None) -> Decision:
    """A refused manual decision made into a move anyway (``migrate --force``)."""
    if decision.moves or not decision.to_host:
        return decision
    action = to_host_action or (Action.STORAGE_VMOTION if decision.to_datastore else Action.VMOTION)
    return replace(decision, action=action, forced=True, why=f"forced by the administrator: {decision.why}")

