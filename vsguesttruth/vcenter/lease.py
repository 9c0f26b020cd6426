"""One active instance per vCenter: a lease held in a customization specification, by compare-and-swap.

Two ``vsguesttruth serve`` against one vCenter must not both act (write guestinfo, answer guests, post events,
start migrations). vCenter offers a compare-and-swap on a small named object any account may be allowed to
edit: ``CustomizationSpecManager.OverwriteCustomizationSpec`` applies an item whose ``info.changeVersion``
still matches the stored one and fails with ``ConcurrentAccess`` otherwise (vSphere API reference:
CustomizationSpecInfo.changeVersion, OverwriteCustomizationSpec); ``CreateCustomizationSpec`` fails with
``AlreadyExists``. The spec ``vsguesttruth-lease`` carries the holder in its description (instance id,
host, pid) and the expiry in vCenter's clock (``ServiceInstance.CurrentTime``), so instances on machines
whose clocks differ agree on it.

:class:`Lease` runs in a thread: every ``renew`` seconds the holder reads the spec and overwrites it with a
new expiry (``seconds`` ahead); anyone else reads it and takes it over once it expired, or at once when
the holder is a process of this machine that is gone (a crash and restart does not wait the lease out).
The holder trusts its lease for ``seconds`` (less a margin) from the moment it asked, measured on its own
monotonic clock, never longer than vCenter will: :meth:`Lease.check` (before every write) raises
:class:`NotActive` once that ran out without a renewal, :meth:`Lease.confirm` (before a migration) renews
it first. A takeover by another instance is :attr:`Lease.lost`. A clean stop releases it (expired now).

Takeover takes at most ``seconds + renew`` after the holder died on another machine (30 + 10 s by default),
``renew`` seconds after a crash on this machine or a clean stop. Privileges:
``VirtualMachine.Provisioning.ReadCustSpecs`` and ``VirtualMachine.Provisioning.ModifyCustSpecs`` on vCenter.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from pyVmomi import vim

from .connect import Connection
from .errors import VsgtError

log = logging.getLogger(__name__)

NAME = "vsguesttruth-lease"
_NOTE = "vsguesttruth serve: which instance acts on this vCenter (a lease, not a guest customization) "


class NotActive(VsgtError):
    """This instance does not hold the lease (now): it must not act."""


@dataclass(frozen=True)
class Holder:
    """Who holds the lease, as the spec says, and until when (vCenter's clock)."""

    id: str
    host: str
    pid: int
    expires: datetime

    def line(self) -> str:
        return f"{self.host} pid {self.pid}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "pid": self.pid, "expires": self.expires.isoformat()}


def parse_holder(description: str | None) -> Holder | None:
    """The holder a spec's description names; None when it names none we can read."""
    text = description or ""
    try:
        doc = json.loads(text[text.index("{"):])
        expires = datetime.fromisoformat(doc["expires"])
        return Holder(str(doc["id"]), str(doc["host"]), int(doc["pid"]),
                      expires if expires.tzinfo else expires.replace(tzinfo=timezone.utc))
    except (ValueError, KeyError, TypeError):
        return None


def gone_here(holder: Holder) -> bool:
    """Whether the holder is a process of this machine that no longer runs (it crashed or was killed)."""
    if holder.host != socket.gethostname():
        return False
    if holder.pid == os.getpid():
        return True  # another instance under our own pid: it is not running any more
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    """The lease of this instance; ``start()`` keeps it (or waits for it) in a thread until ``stop()``.

    ``on_change(active)`` is called from the lease thread when this instance becomes active or stops
    being so (after :meth:`start`, whose first round says where it stands).
    """

    def __init__(self, conn: Connection, *, seconds: float = 30.0, renew: float = 10.0, name: str = NAME,
                 on_change: Callable[[bool], None] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < renew < seconds:
            raise ValueError("a lease is renewed more often than it lasts: 0 < renew < seconds")
        self.conn = conn
        self.seconds = seconds
        self.renew = renew
        self.name = name
        self.on_change = on_change
        self.clock = clock
        self.me = Holder(uuid.uuid4().hex, socket.gethostname(), os.getpid(), datetime.now(timezone.utc))
        self.margin = min(2.0, seconds / 10)
        #: the holder as last read (None: nobody yet, or not read yet)
        self.holder: Holder | None = None
        #: another instance took the lease over after this one held it
        self.lost = False
        self.error = ""
        self._valid_until: float | None = None  # our monotonic clock; None: not holding
        self._lock = threading.RLock()  # one round at a time (the thread's, confirm's, stop's)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._active = False

    # -- the gate -----------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Holding the lease, and it has not run out on our clock since the last renewal. (No lock: a round
        in vCenter may take long, and every write asks this.)"""
        until = self._valid_until
        return until is not None and self.clock() < until

    def check(self, what: str = "act") -> None:
        """Raise :class:`NotActive` unless this instance holds the lease now."""
        if not self.active:
            raise NotActive(f"not the active instance, cannot {what}: {self.describe()}")

    def confirm(self, what: str = "act") -> None:
        """Renew the lease now (a compare-and-swap in vCenter) and raise :class:`NotActive` unless that held:
        before starting something as weighty as a migration."""
        self.check(what)
        with self._lock:
            self.step()
        self.check(what)

    def describe(self) -> str:
        """One line: this instance's role and who holds the lease."""
        holder = self.holder
        if self.active:
            return f"active (holding the lease {self.name} in vCenter)"
        if holder is None or holder.id == self.me.id:
            return "passive (the lease is not held)"
        return f"passive: {holder.line()} holds the lease until {holder.expires:%H:%M:%S} UTC (vCenter's clock)"

    def status(self) -> dict[str, Any]:
        holder = self.holder
        return {"role": "active" if self.active else "passive", "lease": self.name, "me": self.me.line(),
                "holder": holder.line() if holder is not None else "", "error": self.error}

    # -- running ------------------------------------------------------------------------------------

    def start(self) -> "Lease":
        """The first round now (a missing privilege or an unreachable vCenter is a :class:`VsgtError` here),
        then one every ``renew`` seconds in a thread."""
        with self._lock:
            self.step()
            self._active = self.active
        self._thread = threading.Thread(target=self._run, name="vsgt-lease", daemon=True)
        self._thread.start()
        return self

    def stop(self, release: bool = True) -> None:
        """Stop keeping the lease; ``release``: give it up in vCenter (expired now), so another instance
        takes over at its next look instead of waiting the lease out."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(30)
        if release:
            with self._lock:
                if self._valid_until is not None:
                    try:
                        item = self._read()
                        holder = parse_holder(item.info.description) if item is not None else None
                        if holder is not None and holder.id == self.me.id and self._write(item, expires_in=0.0):
                            log.info("released the lease %s", self.name)
                    except VsgtError as err:
                        log.warning("could not release the lease %s: %s", self.name, err)
                self._valid_until = None

    def _run(self) -> None:
        while not self._stop.wait(self.renew):
            with self._lock:
                try:
                    self.step()
                    self.error = ""
                except VsgtError as err:
                    self.error = str(err)
                    log.warning("lease %s: %s", self.name, err)
                except Exception as err:  # noqa: BLE001 - keep trying; the gate closes by itself
                    self.error = f"{type(err).__name__}: {err}"
                    log.exception("lease %s", self.name)
                self._changed()

    # -- one round ----------------------------------------------------------------------------------

    def step(self) -> None:
        """Renew the lease if it is ours, take it if it is free; note who holds it otherwise."""
        asked = self.clock()
        item = self._read()
        now = self._vcenter_now()
        if item is None:
            if self._create(now):
                self._hold(asked)
                log.info("took the lease %s (created it)", self.name)
            return
        holder = parse_holder(item.info.description)
        self.holder = holder
        mine = holder is not None and holder.id == self.me.id
        if not mine and holder is not None and holder.expires > now and not gone_here(holder):
            if self._valid_until is not None:
                self.lost = True
                log.warning("lost the lease %s to %s", self.name, holder.line())
            self._valid_until = None
            return
        if self._write(item, now=now):
            if not mine:
                why = "it was free" if holder is None or holder.expires <= now else f"{holder.line()} is gone"
                log.info("took the lease %s over (%s)", self.name, why)
            self._hold(asked)
        # else: somebody wrote it meanwhile; the next round looks again (ours stays valid until it runs out)

    def _hold(self, asked: float) -> None:
        """We hold the lease, written when our clock said ``asked``: it is ours until then + seconds, less a
        margin (vCenter's expiry was set later than ``asked``, so it runs out after ours)."""
        self._valid_until = asked + self.seconds - self.margin
        self.holder = self.me

    def _changed(self) -> None:
        active = self.active
        if active != self._active:
            self._active = active
            log.info("%s", self.describe())
            if self.on_change is not None:
                self.on_change(active)

    # -- vCenter ------------------------------------------------------------------------------------

    def _manager(self) -> Any:
        manager = self.conn.content.customizationSpecManager
        if manager is None:
            raise VsgtError("this vCenter has no CustomizationSpecManager: the single-instance lease needs one")
        return manager

    def _vcenter_now(self) -> datetime:
        now = self.conn.run(lambda: self.conn.si.CurrentTime(), "read vCenter's clock")
        return now if now.tzinfo else now.replace(tzinfo=timezone.utc)

    def _read(self) -> Any:
        """The spec item (None when there is none)."""
        def call() -> Any:
            try:
                return self._manager().GetCustomizationSpec(name=self.name)
            except vim.fault.NotFound:
                return None
        return self.conn.run(call, f"read the lease {self.name}")

    def _item(self, expires: datetime, change_version: str | None) -> Any:
        me = Holder(self.me.id, self.me.host, self.me.pid, expires)
        self.me = me
        info = vim.CustomizationSpecInfo(name=self.name, type="Linux", changeVersion=change_version,
                                         description=_NOTE + json.dumps(me.as_dict(), separators=(",", ":")))
        spec = vim.vm.customization.Specification(
            identity=vim.vm.customization.LinuxPrep(hostName=vim.vm.customization.FixedName(name="vsguesttruth"),
                                                    domain="invalid"),
            globalIPSettings=vim.vm.customization.GlobalIPSettings(), nicSettingMap=[])
        return vim.CustomizationSpecItem(info=info, spec=spec)

    def _create(self, now: datetime) -> bool:
        item = self._item(now + timedelta(seconds=self.seconds), None)

        def call() -> bool:
            try:
                self._manager().CreateCustomizationSpec(item=item)
                return True
            except vim.fault.AlreadyExists:
                return False
        return self.conn.run(call, f"create the lease {self.name}")

    def _write(self, current: Any, *, now: datetime | None = None, expires_in: float | None = None) -> bool:
        """Overwrite the spec read as ``current`` with us as the holder: False when it changed since."""
        if current is None:
            return False
        now = now or self._vcenter_now()
        item = self._item(now + timedelta(seconds=self.seconds if expires_in is None else expires_in),
                          current.info.changeVersion)

        def call() -> bool:
            try:
                self._manager().OverwriteCustomizationSpec(item=item)
                return True
            except (vim.fault.ConcurrentAccess, vim.fault.NotFound):
                return False
        return self.conn.run(call, f"renew the lease {self.name}")


__all__ = ["NAME", "Holder", "Lease", "NotActive", "gone_here", "parse_holder"]
