"""What the service judged last of every VM: each disk's verdict, and the truth of the VMs that are not healthy.

The loop judges a VM whenever a change touches it (and every VM at the first pass and every full check), so
it always holds every VM's verdicts, newer than any view built apart. `status` on a running service reads them
here: the counts of 40,000 disks and the rows of the few hundred that are not healthy, without judging 20,000
VMs again while a storm of path flaps keeps the loop busy (that took 5-10 s). Remediation reads the truths of
the VMs that are not healthy and whose host vCenter reaches (:attr:`Verdicts.truths`).

Written by the loop's thread, read by the web server's: every read takes the lock and copies.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from vsguesttruth.truth import Verdict, VmTruth, judged_only


@dataclass(frozen=True)
class Judged:
    """A consistent read: disks per verdict of the VMs judged, how many VMs, and the truths of those that are
    not healthy (with their own host's evidence only)."""

    counts: dict[str, int]
    vms: int
    unhealthy: list[VmTruth]


class Verdicts:
    """Each judged VM's disk verdicts, and the truths of the VMs that are not healthy (by VM moref)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._disks: dict[str, tuple[str, ...]] = {}  # VM -> its disks' verdicts
        self._unhealthy: dict[str, VmTruth] = {}
        #: the truths remediation plans from: VMs not healthy, on a host vCenter reaches
        self.truths: dict[str, VmTruth] = {}

    def put(self, truth: VmTruth, act: bool = True) -> None:
        """The VM's truth as judged now; ``act``: remediation may act on it (False: its host is not connected)."""
        moref = truth.vm
        disks = tuple(d.verdict.value for d in truth.disks)
        kept = None if truth.verdict is Verdict.HEALTHY else judged_only(truth)
        with self._lock:
            self._disks[moref] = disks
            if kept is None:
                self._unhealthy.pop(moref, None)
            else:
                self._unhealthy[moref] = kept
        if kept is not None and act:
            self.truths[moref] = kept
        else:
            self.truths.pop(moref, None)

    def drop(self, moref: str) -> None:
        """The VM is gone, or out of scope."""
        with self._lock:
            self._disks.pop(moref, None)
            self._unhealthy.pop(moref, None)
        self.truths.pop(moref, None)

    def read(self) -> Judged:
        with self._lock:
            counts = Counter(v for disks in self._disks.values() for v in disks)
            return Judged({v.value: counts.get(v.value, 0) for v in Verdict}, len(self._disks),
                          list(self._unhealthy.values()))
