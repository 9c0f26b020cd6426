"""Moves an admin asks for: ``vsguesttruth migrate`` and the plugin's "Move to a healthy host".

Planned by the same rules as remediation (``plan.plan_move``: a target must reach every disk of the VM
healthily, unless forced), and recorded as events on the VM before and after, like every move we make;
the events are also how the guard rails' cooldowns and hourly budget learn of them.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

from vsguesttruth.config import RemediationConfig
from vsguesttruth.errors import MoveRefused, VsgtError
from vsguesttruth.model import Inventory
from vsguesttruth.plan import Decision, plan, plan_for, plan_move
from vsguesttruth.truth import TruthContext

from .executor import Executor
from .rails import EVENT_PREFIX

log = logging.getLogger(__name__)


def move(executor: Executor, decision: Decision, *, by: str = "", progress: Callable[[int], None] | None = None
         ) -> tuple[str, float]:
    """Run one decision by hand (blocking): an event on the VM before, the move, an event after (or of the
    failure, which is raised). ``by``: who asked, for the event. Returns the outcome and the seconds taken."""
    d = decision
    who = f" for {by}" if by else ""
    _post(executor, d.vm, f"manual move of {d.vm_name}{who} {d.target_words()} ({d.action.value}"
                          f"{', forced' if d.forced else ''}, verdict {d.verdict.value}): {d.why}")
    start = time.monotonic()
    try:
        outcome = executor.migrate(d, progress)
    except VsgtError as err:
        _post(executor, d.vm, f"manual move of {d.vm_name} {d.target_words()} failed: {err}")
        raise
    seconds = time.monotonic() - start
    _post(executor, d.vm, f"moved {d.vm_name} {d.target_words()} in {seconds:.1f} s ({d.action.value}, manual); "
                          f"{outcome}")
    return outcome, seconds


def _post(executor: Executor, vm: str, message: str) -> None:
    try:
        executor.post_event(vm, EVENT_PREFIX + message)
    except VsgtError as err:
        log.warning("could not post the event on %s: %s", vm, err)


class ManualMoves:
    """The plugin's move action: what would move (``plan``) and one move (``migrate``), on a fresh snapshot.

    ``replicas()``: the replica pairs of the datastores' custom attribute, as remediation last read them.
    """

    def __init__(self, conn: Any, config: RemediationConfig, executor: Executor,
                 replicas: Callable[[], Mapping[str, str]]) -> None:
        self.conn = conn
        self.config = config
        self.executor = executor
        self.replicas = replicas

    def plan(self, inv: Inventory, vm: str | None) -> dict[str, Any]:
        """What would move: of one VM (exactly one decision, a move or a refusal saying why not: what the
        move action offers and :meth:`migrate` does), or of every VM whose storage calls for it."""
        ctx = TruthContext(inv)
        if vm:
            decisions = [plan_for(inv, vm, self.config, replicas=self.replicas(), context=ctx)]
        else:
            decisions = list(plan(inv, ctx.vm_truths(), self.config, replicas=self.replicas(), context=ctx).decisions)
        moves = [{**d.as_dict(), "to": d.to_host_name or d.to_datastore_name, "reason": d.why}
                 for d in decisions if d.moves]
        refusals = [{**d.as_dict(), "reason": d.why} for d in decisions if not d.moves]
        return {"mode": self.config.mode, "moves": moves, "refusals": refusals}

    def migrate(self, vm: str, *, to_host: str = "", dry_run: bool = False, requested_by: str = "") -> dict[str, Any]:
        """Move one VM, on a fresh snapshot: to ``to_host`` (a moref or a name; the administrator's choice), or
        else exactly what :meth:`plan` offers for it. :class:`MoveRefused` when the planner refuses (nothing was
        tried); another VsgtError when the move failed."""
        from vsguesttruth.vcenter import snapshot

        inv = snapshot(self.conn)
        if vm not in inv.vms:
            raise VsgtError(f"no VM {vm!r} in vCenter")
        host = inv.hosts.get(to_host) or inv.host_by_name(to_host) if to_host else None
        if to_host and host is None:
            raise VsgtError(f"no host {to_host!r} in vCenter")
        if host is not None:
            decision = plan_move(inv, vm, self.config, to_host=host.moref, replicas=self.replicas())
        else:
            decision = plan_for(inv, vm, self.config, replicas=self.replicas())
        if not decision.moves:
            raise MoveRefused(f"not moving {decision.vm_name}: {decision.why}")
        if dry_run:
            return {"dry_run": True, "moved": False, "message": f"would move {decision.vm_name} {decision.target_words()}",
                    "decision": decision.as_dict()}
        outcome, _ = move(self.executor, decision, by=f"{requested_by} from the plugin" if requested_by else "the plugin")
        return {"moved": True, "message": f"moved {decision.vm_name} {decision.target_words()} ({outcome})",
                "decision": decision.as_dict(), "outcome": outcome}
