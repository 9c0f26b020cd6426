"""The body of ``GET /api/v1/status``: every disk's row as JSON, encoded once and kept while the row is the same.

At 20,000 VMs the answer holds 40,000 disk rows (about 30 MB). Under a storm of path flaps a new inventory comes
every second and changes the rows of the VMs on a few hosts; the views take over the records of every other VM
(:class:`~.views.Views`), so a row's JSON is kept while its record is the same object behind the same open
incidents: an answer encodes what changed since the last one and joins the rest. Encoding every row again cost
seconds per answer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from vsguesttruth.model import Inventory
from vsguesttruth.truth import Verdict, VmTruth

from .pages import Pages
from .diskrecords import Targets, disk_record
from .views import Views

#: starlette's JSONResponse encoding (UTF-8, no NaN, no spaces)
encode: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode

log = logging.getLogger(__name__)

DiskId = tuple[str, int]

#: after a `status`, the answer is kept built for this many seconds as new inventories come
KEEP_WARM = 120.0
#: and built again at most this often (a storm brings a new inventory every second)
WARM_EVERY = 2.0
#: and never taking more than this share of the time: under a storm of flaps a build of the changes of 2 s took
#: about a second, and the documents' lag doubled while a `status` was kept warm (``make soak``)
WARM_SHARE = 0.2
#: while a newer answer is being built, one built this many seconds ago at most is answered instead
STALE_OK = 10.0


@dataclass(frozen=True)
class Built:
    """The rows of one answer: of ``views`` (inventory ``version``, in since ``updated_at``) with the open incidents
    ``behind`` its disks, built at ``at`` (monotonic)."""

    views: Views
    behind: Mapping[DiskId, tuple[str, ...]]
    rows: list[bytes]
    hosts: bytes
    version: int
    updated_at: float
    at: float


class StatusRows:
    """Each disk row of ``/status`` as JSON bytes, and the hosts' rows, for the latest views asked about."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: (VM moref, disk key) -> (the views' record, the open incidents behind it, its row's JSON)
        self._rows: dict[DiskId, tuple[dict, tuple[str, ...], bytes]] = {}
        self._last: Built | None = None

    def build(self, views: Views, behind: Mapping[DiskId, tuple[str, ...]], version: int, updated_at: float) -> Built:
        """The JSON of each of ``views.disks`` as ``/status`` gives it (with the open incidents of ``behind`` that
        are behind it), in the same order, and of ``views.hosts``."""
        with self._lock:
            last = self._last
            if last is not None and last.views is views and (last.behind is behind or not (last.behind or behind)):
                return last
            kept, rows, out = self._rows, {}, []
            for d in views.disks:
                disk = (d["vm_moref"], d["key"])
                ids = behind.get(disk, ())
                found = kept.get(disk)
                if found is None or found[0] is not d or found[1] != ids:
                    found = (d, ids, row(d, behind))
                rows[disk] = found
                out.append(found[2])
            hosts = last.hosts if last is not None and last.views is views else encode(views.hosts).encode()
            self._rows = rows
            self._last = Built(views, behind, out, hosts, version, updated_at, time.monotonic())
            return self._last

    def answer(self, views: Views, behind: Mapping[DiskId, tuple[str, ...]], version: int, updated_at: float,
               after: int | None = None) -> Built:
        """The rows to answer with: the last ones built while a newer build is under way (:meth:`while_building`,
        newer than ``after`` for a long poll), else those of ``views`` (:meth:`build`)."""
        built = self.while_building()
        if built is None or (after is not None and built.version <= after):
            built = self.build(views, behind, version, updated_at)
        return built

    def latest(self, pages: Pages) -> Built | None:
        """The rows of the pages' latest inventory, built (what :class:`Warmer` builds ahead)."""
        updated_at = getattr(pages.source, "updated_at", 0.0)  # read before the inventory: never newer than it
        found = pages.get()
        if found is None:
            return None
        return self.build(found[2], pages.disk_incidents(), pages.version_of(found[2]), updated_at)

    def hosts(self, views: Views) -> bytes:
        """The JSON of ``views.hosts``: the last answer's when it is of ``views``."""
        last = self._last
        return last.hosts if last is not None and last.views is views else encode(views.hosts).encode()

    def while_building(self, fresh: float = STALE_OK) -> Built | None:
        """While the rows of a newer inventory are being built, the last ones built (if built in the last ``fresh``
        seconds): an answer does not wait for a build under way, it says which inventory it is of."""
        last = self._last
        if self._lock.locked() and last is not None and time.monotonic() - last.at <= fresh:
            return last
        return None


def row(d: dict, behind: Mapping[DiskId, tuple[str, ...]]) -> bytes:
    """One disk record's row of ``/status``: with ``incidents`` when an open incident is behind it."""
    ids = behind.get((d["vm_moref"], d["key"]))
    return encode({**d, "incidents": list(ids)} if ids else d).encode()


def judged_records(truths: Iterable[VmTruth], inv: Inventory) -> list[dict]:
    """The records of the disks that are not healthy in ``truths`` (the service loop's, of the VMs that are not
    healthy), as the views give them: VMs by name, disks in device order, target ports from ``inv``."""
    targets, out = Targets(inv), []
    for t in sorted(truths, key=lambda t: (t.name, t.vm)):
        level = t.level.words()
        out += [disk_record(d, targets) | {"level": level} for d in t.disks if d.verdict is not Verdict.HEALTHY]
    return out


def body(head: dict, rows: list[bytes], hosts: bytes) -> bytes:
    """``head``'s fields, then ``"disks"`` (the rows) and ``"hosts"``, as one JSON object."""
    fields = encode({k: v for k, v in head.items() if k not in ("disks", "hosts")}).encode()
    return b"".join((fields[:-1], b',"disks":[', b",".join(rows), b'],"hosts":', hosts, b"}"))


class Warmer:
    """Keeps the ``/status`` answer of the latest inventory built for a while after someone asked for it.

    Under a storm of path flaps every second brings a new inventory; a `status` then would judge again every VM
    that changed since the last answer (seconds after a minute of flaps). While a `status` was asked in the last
    ``KEEP_WARM`` seconds, a thread builds the views and rows of the latest inventory at most every
    ``WARM_EVERY`` seconds and with at most ``WARM_SHARE`` of the time (the guests' documents come first), so an
    answer judges only what changed since. Nobody asking: nothing is built.
    ``build()``: what an answer needs of the latest inventory, built (the pages' views, the rows)."""

    def __init__(self, source: Any, build: Callable[[], None], closing: threading.Event,
                 keep: float = KEEP_WARM, every: float = WARM_EVERY, share: float = WARM_SHARE) -> None:
        self.source, self.build, self.closing = source, build, closing
        self.keep, self.every, self.share = keep, every, share
        self.asked = 0.0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ask(self) -> None:
        """A `status` was asked: keep its answer warm for ``keep`` seconds (the thread starts on the first)."""
        self.asked = time.monotonic()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="vsgt-status-warm", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        built = getattr(self.source, "version", 0)
        while not self.closing.is_set() and time.monotonic() - self.asked < self.keep:
            waiter = getattr(self.source, "wait_version", None)
            if waiter is not None:
                waiter(built, 1.0)
            else:
                self.closing.wait(1.0)
            version = getattr(self.source, "version", 0)
            if version == built or self.closing.is_set():
                continue
            started = time.monotonic()
            try:
                self.build()
            except Exception:  # noqa: BLE001 - an answer builds what it needs itself; never let the thread die
                log.debug("building the status answer ahead failed", exc_info=True)
            built = version
            took = time.monotonic() - started
            self.closing.wait(max(self.every - took, took * (1 / self.share - 1)))
