"""The verdict vocabulary: what state a disk is really in (:class:`Verdict`), and what the guest, or the
planner, should do about it (:class:`Advice`). Verdicts order by severity, so the worst of several is ``max()``."""

from __future__ import annotations

from enum import Enum
from typing import Iterable


class Advice(str, Enum):
    """What the guest (or the planner) should do about a verdict."""

    NONE = "none"
    KEEP_USING = "keep_using"  # redundancy lost, I/O continues
    WAIT = "wait"  # APD: retry, do not treat as a media error
    MOVE_HOST = "move_host"  # vMotion to a host whose paths work
    FAIL_OVER = "fail_over"  # to the replica of the failed storage
    MOVE = "move"  # to where the service level holds


class Verdict(str, Enum):
    """A disk's state. Ordered by severity, so ``max()`` of several verdicts is the worst one.

    ``unknown`` ranks just above ``healthy``: a disk we cannot fully see is never called healthy, but any
    known problem says more than "unknown" (one LUN unknown and another ``media_failure`` ->
    ``media_failure``).
    """

    HEALTHY = "healthy"
    UNKNOWN = "unknown"
    BELOW_SLA = "below_sla"
    DEGRADED = "degraded"
    CONNECTIVITY_LOST = "connectivity_lost"
    ALL_PATHS_DOWN = "all_paths_down"
    MEDIA_FAILURE = "media_failure"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def advice(self) -> Advice:
        return _ADVICE[self]

    @property
    def usable(self) -> bool:
        """Whether I/O to the disk flows from its current host."""
        return self in (Verdict.HEALTHY, Verdict.BELOW_SLA, Verdict.DEGRADED)

    @staticmethod
    def worst(verdicts: Iterable["Verdict"]) -> "Verdict":
        """The most severe verdict; ``healthy`` for none."""
        return max(verdicts, default=Verdict.HEALTHY)

    # str's comparisons would order alphabetically; verdicts order by severity.
    def __lt__(self, other: object) -> bool:
        return _SEVERITY[self] < _SEVERITY[other] if isinstance(other, Verdict) else NotImplemented

    def __le__(self, other: object) -> bool:
        return _SEVERITY[self] <= _SEVERITY[other] if isinstance(other, Verdict) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return _SEVERITY[self] > _SEVERITY[other] if isinstance(other, Verdict) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return _SEVERITY[self] >= _SEVERITY[other] if isinstance(other, Verdict) else NotImplemented


_SEVERITY = {v: i for i, v in enumerate(Verdict)}
_ADVICE = {
    Verdict.HEALTHY: Advice.NONE,
    Verdict.UNKNOWN: Advice.NONE,
    Verdict.BELOW_SLA: Advice.MOVE,
    Verdict.DEGRADED: Advice.KEEP_USING,
    Verdict.CONNECTIVITY_LOST: Advice.MOVE_HOST,
    Verdict.ALL_PATHS_DOWN: Advice.WAIT,
    Verdict.MEDIA_FAILURE: Advice.FAIL_OVER,
}
