"""Remediation's own thread: it steps on the newest pass offered, at most every OFFER_GAP seconds on offers alone,
and at once when remediation itself is due (a guest's request)."""

from __future__ import annotations

import threading
import time

from vsguesttruth.model import Inventory
from vsguesttruth.reconcile.stepper import OFFER_GAP, RemediationStepper


class Counting:
    """A remediation that records what it stepped on; ``due`` is its next_wake()."""

    def __init__(self) -> None:
        self.stepped: list[int] = []
        self.due: float | None = None
        self.event = threading.Event()

    def next_wake(self) -> float | None:
        return self.due

    def step(self, inv, truths, levels, level) -> list:
        self.stepped.append(truths["n"])
        self.due = None
        self.event.set()
        return []


def test_a_storm_of_offers_is_stepped_on_a_few_times_and_the_newest_last():
    remediation = Counting()
    stepper = RemediationStepper(remediation).start()
    try:
        for n in range(40):  # forty passes in 0.2 s
            stepper.offer(Inventory(), {"n": n}, {}, None)
            time.sleep(0.005)
        deadline = time.monotonic() + 10
        while (not remediation.stepped or remediation.stepped[-1] != 39) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert remediation.stepped[-1] == 39  # the newest offer is never lost
        assert len(remediation.stepped) <= 1 + (0.2 + 1.0) / OFFER_GAP  # not one step per offer
    finally:
        stepper.stop()


def test_a_guests_request_is_stepped_on_without_waiting_for_the_gap():
    remediation = Counting()
    stepper = RemediationStepper(remediation).start()
    try:
        stepper.offer(Inventory(), {"n": 1}, {}, None)
        assert remediation.event.wait(5)
        remediation.event.clear()
        remediation.due = time.monotonic()  # a request came in: remediation is due now
        started = time.monotonic()
        stepper.offer(Inventory(), {"n": 2}, {}, None)
        assert remediation.event.wait(5)
        assert remediation.stepped[-1] == 2 and time.monotonic() - started < OFFER_GAP
    finally:
        stepper.stop()
