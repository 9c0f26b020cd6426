"""Remediation beside the publish path: its steps run in a thread of their own, never between two passes.

Planning a move judges every candidate host of the VMs that are not healthy; under a storm of path flaps
that cost as much as the pass itself, and on the loop's thread it delayed the next documents. The service
hands each pass's outcome here (:meth:`RemediationStepper.offer`: the inventory, the truths it published,
the guests' levels); the thread steps on the newest offer (an older one not yet stepped on is simply
replaced: remediation is level-triggered too) and again at the remediation's own ``next_wake()`` (a verdict
waiting out its hysteresis, a guest's request, moves in flight).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping

from vsguesttruth.errors import VsgtError
from vsguesttruth.model import Inventory

from .ports import Remediation

log = logging.getLogger(__name__)

#: the longest the thread sleeps without an offer (it also looks at ``next_wake()`` then)
IDLE_WAIT = 5.0
#: seconds between two steps on offers alone (a guest's request or a due hysteresis does not wait): under a storm
#: every pass offers its outcome, a dozen a second, while the guard rails decide in seconds
OFFER_GAP = 0.5


class RemediationStepper:
    """Runs ``remediation.step`` in a daemon thread on the newest pass offered, while ``acting()`` holds."""

    def __init__(self, remediation: Remediation, acting: Callable[[], bool] = lambda: True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.remediation = remediation
        self.acting = acting
        self.clock = clock
        self.steps = 0
        self._offer: tuple[Inventory, Mapping[str, Any], Mapping[str, Any], Any] | None = None
        self._last: tuple[Inventory, Mapping[str, Any], Mapping[str, Any], Any] | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False
        self._stepped = float("-inf")  # when the last step began
        self._thread: threading.Thread | None = None

    def start(self) -> "RemediationStepper":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vsgt-remediation", daemon=True)
            self._thread.start()
        return self

    def offer(self, inv: Inventory, truths: Mapping[str, Any], levels: Mapping[str, Any], level: Any) -> None:
        """A pass's outcome to step on (``truths`` and ``levels`` are the caller's copies: kept as they are)."""
        with self._cond:
            self._offer = (inv, truths, levels, level)
            self._cond.notify_all()

    @property
    def busy(self) -> bool:
        """True while a step runs or an offer waits for one."""
        with self._cond:
            return self._busy or self._offer is not None

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _due(self) -> float | None:
        wake = self.remediation.next_wake()
        return None if wake is None or self._last is None else wake

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    due = self._due() if self.acting() else None
                    now = self.clock()
                    if due is not None and due <= now:
                        break
                    if self._offer is not None:
                        due = self._stepped + OFFER_GAP if due is None else min(due, self._stepped + OFFER_GAP)
                        if due <= now:
                            break
                    self._cond.wait(IDLE_WAIT if due is None else min(IDLE_WAIT, due - now))
                if self._stopping:
                    return
                if self._offer is not None:
                    self._last, self._offer = self._offer, None
                args = self._last
                self._busy = True
                self._stepped = self.clock()
            try:
                if args is not None and self.acting():
                    self._step(*args)
            finally:
                with self._cond:
                    self._busy = False

    def _step(self, inv: Inventory, truths: Mapping[str, Any], levels: Mapping[str, Any], level: Any) -> None:
        self.steps += 1
        try:
            self.remediation.step(inv, truths, levels, level)
        except VsgtError as err:
            log.warning("remediation pass: %s", err)
        except Exception:  # noqa: BLE001 - a bug in remediation must not stop it for good
            log.exception("remediation pass failed")
