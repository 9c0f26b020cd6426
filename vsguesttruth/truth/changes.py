"""Verdict changes between two truths: what ``vsguesttruth watch`` prints as vCenter changes."""

from __future__ import annotations

from typing import Iterable, Mapping

from .results import DiskId, DiskTruth, VerdictChange


def by_disk(truths: Iterable[DiskTruth]) -> dict[DiskId, DiskTruth]:
    """Key disk truths by (vm moref, disk key), as ``verdict_changes`` compares them."""
    return {t.id: t for t in truths}


def verdict_changes(old: Mapping[DiskId, DiskTruth], new: Mapping[DiskId, DiskTruth]) -> list[VerdictChange]:
    """Disks whose verdict differs (or that appeared or disappeared), sorted by (vm, disk key)."""
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is not None and after is not None and before.verdict is after.verdict:
            continue
        latest = after or before
        assert latest is not None
        changes.append(VerdictChange(
            vm=latest.vm, vm_name=latest.vm_name, key=latest.key, label=latest.label, host=latest.host,
            old=before.verdict if before else None, new=after.verdict if after else None,
            explanation=latest.explanation,
        ))
    return changes
