"""What a reconcile pass did, as plain data: one :class:`VmOutcome` per VM it wrote to (or, for
``publish --once``, looked at), and the totals of :class:`PassResult` (what ``serve`` logs and
``publish --json`` prints)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


@dataclass
class VmOutcome:
    """One VM in a pass: ``state`` is ``written``, ``would_write`` (dry run), ``unchanged``, ``held`` (interval
    policy, or backing off after a failure) or ``failed``."""

    vm: str
    name: str
    state: str
    verdict: str = ""
    generation: int | None = None
    response: str = ""  # the response status written, if any
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"vm": self.name, "moref": self.vm, "state": self.state, "verdict": self.verdict,
                "generation": self.generation, "response": self.response or None, "error": self.error or None}


@dataclass
class PassResult:
    """One pass: VMs in the inventory, in scope and examined; states and responses written, hosts
    re-probed, writes failed; and the outcomes per VM."""

    started: datetime
    seconds: float = 0.0
    vms: int = 0  # in the inventory
    in_scope: int = 0
    examined: int = 0  # recomputed this pass
    states: int = 0  # state documents written
    responses: int = 0  # responses written
    probes: int = 0  # hosts re-probed
    failed: int = 0  # writes that failed
    dry_run: bool = False
    outcomes: list[VmOutcome] = field(default_factory=list)

    def merge(self, later: "PassResult") -> "PassResult":
        """Two passes as one (publish --once re-reads after re-probes): later outcomes win per VM, except that
        a later ``unchanged`` or ``held`` (backing off after a failure) does not hide what the first pass did."""
        by_vm = {o.vm: o for o in self.outcomes}
        for o in later.outcomes:
            before = by_vm.get(o.vm)
            if before is not None and o.state in ("unchanged", "held") and before.state != "unchanged":
                o = replace(before, response=o.response or before.response)
            by_vm[o.vm] = o
        return replace(
            self, seconds=self.seconds + later.seconds, vms=later.vms, in_scope=later.in_scope,
            examined=max(self.examined, later.examined), states=self.states + later.states,
            responses=self.responses + later.responses, probes=self.probes + later.probes,
            failed=self.failed + later.failed, outcomes=sorted(by_vm.values(), key=lambda o: o.name),
        )

    def line(self) -> str:
        verb = "would write" if self.dry_run else "wrote"
        probes = f"would re-probe {self.probes} hosts" if self.dry_run else f"{self.probes} hosts re-probed"
        return (f"{self.in_scope} VMs in scope, {self.examined} examined, {verb} {self.states} states and "
                f"{self.responses} responses, {probes}, {self.failed} failed, "
                f"{self.seconds * 1000:.0f} ms")

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(), "seconds": round(self.seconds, 3), "dry_run": self.dry_run,
            "vms": self.vms, "in_scope": self.in_scope, "examined": self.examined, "states": self.states,
            "responses": self.responses, "probes": self.probes, "failed": self.failed,
            "outcomes": [o.as_dict() for o in self.outcomes],
        }
