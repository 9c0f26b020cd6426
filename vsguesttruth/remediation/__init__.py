"""Remediation: get a VM off storage trouble, under guard rails, and say why.

- :mod:`.rails`: the guard rails (:class:`Remediator`): mode, hysteresis, concurrency, hourly budget,
  cooldown, attempts, circuit breaker; every decision, move and refusal an event on the VM;
- :mod:`.loop`: :class:`RemediationLoop`, the rails on the truths and the moves on a worker pool, inside
  ``vsguesttruth serve`` (``step``) or for cron (``run_once``: ``remediate --once``);
- :mod:`.manual`: the moves an admin asks for (``vsguesttruth migrate``, the plugin's move action);
- :mod:`.executor`: who runs a decision (vMotion / Storage vMotion on vCenter, or a dry run).

What should move and where is the plan's (``vsguesttruth.plan``); remediation decides when.
"""

from __future__ import annotations

from .executor import DryRun, Executor, VcenterExecutor
from .loop import OnceReport, RemediationLoop
from .manual import ManualMoves, move
from .rails import EVENT_PREFIX, REQUEST_TIMEOUT, Action, Remediator

__all__ = [
    "EVENT_PREFIX", "REQUEST_TIMEOUT", "Action", "DryRun", "Executor", "ManualMoves", "OnceReport",
    "RemediationLoop", "Remediator", "VcenterExecutor", "move",
]
