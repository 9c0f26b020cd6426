"""What the reconciler remembers about one VM, grouped by concern. None of it is the state of record (that is
the VM's extraConfig in vCenter): it only makes passes cheaper, or politer to vCenter and to the guest.

- :class:`PolicyGate`: the guest's policy in force, and the rate limit on changing it;
- :class:`Timers`: when the VM is due again (its host's next re-probe, the interval policy's window, the
  backoff after a failed write, a refusal over the rate limit), read by the work queue;
- :class:`Keys`: what the VM's guestinfo keys hold as far as we know: our writes the watch has not echoed
  yet, the state document last seen and last written, and the calm restore of a document someone overwrote;
- :class:`Pending`: a guest's refresh request while its host is re-probed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

from vsguesttruth.config import GuestConfig
from vsguesttruth.guestinfo import STATE, GuestPolicy, Request, document, effective_policy
from vsguesttruth.model import Vm
from vsguesttruth.policy import ServiceLevel

ECHO_WAIT = 30.0  # seconds a write we made is trusted over an inventory that does not show it yet
POLICY_BURST = 3  # policy changes a guest may make at once; then one per min_refresh_interval


@dataclass(slots=True)
class PolicyGate:
    """The guest's policy in force (``guestinfo.vsguesttruth.policy``); a guest changing it often is held to
    ``POLICY_BURST`` changes at once, then one per ``[guest] min_refresh_interval`` (a token bucket)."""

    raw: str | None = None
    policy: GuestPolicy | None = None
    tokens: float = POLICY_BURST
    at: float = 0.0
    held: bool = False  # a change is waiting for a token

    def apply(self, raw: str | None, now: float, bounds: GuestConfig, level: ServiceLevel) -> tuple[GuestPolicy, bool]:
        """The policy in force after the guest's value ``raw``, and whether it changed what the guest sees."""
        raw = raw or None
        if self.policy is not None and raw == self.raw:
            self.held = False
            return self.policy, False
        minimum = float(bounds.min_refresh_interval)
        if self.policy is not None:
            self.tokens = min(float(POLICY_BURST), self.tokens + (now - self.at) / minimum)
            self.at = now
            if self.tokens < 1.0:
                self.held = True
                return self.policy, False
            self.tokens -= 1.0
        self.at = now
        self.held = False
        policy = effective_policy(raw, bounds, level)
        changed = self.policy is not None and policy != self.policy
        self.raw, self.policy = raw, policy
        return policy, changed

    @property
    def interval(self) -> bool:
        """Whether the policy in force publishes on its interval rather than on every change."""
        return self.policy is not None and is_interval(self.policy)


def is_interval(policy: GuestPolicy) -> bool:
    return policy.publish == "interval" and policy.refresh_interval > 0


@dataclass(slots=True)
class Timers:
    """When the VM is due again, in the reconciler's monotonic time (None: no such timer)."""

    next_refresh: float | None = None  # when its host is re-probed next (its policy's refresh interval)
    window: float | None = 0.0  # interval policy: the document may be published once as_of >= window
    failed_until: float | None = None  # backing off after a failed write
    failures: int = 0  # failed writes in a row
    request_at: float | None = None  # a request over the rate limit is answered then (one refusal per gap)


@dataclass(slots=True)
class Keys:
    """The VM's guestinfo keys as we know them, beyond what the latest inventory shows."""

    #: key -> (value we wrote, the value it replaced, when): writes the watch has not echoed yet
    written: dict[str, tuple[str, str | None, float]] = field(default_factory=dict)
    seen: document.Seen | None = None  # what the VM's state value says, so an unchanged one is not decoded
    ours: document.Seen | None = None  # the last document we wrote
    restored_at: float | None = None  # when we last restored our document after someone overwrote it
    restore_at: float | None = None  # when the next such restore is allowed

    def forget(self) -> None:
        """Trust nothing remembered about the keys (a power cycle dropped them): the next pass compares what
        vCenter shows now with what the VM should have."""
        self.written.clear()
        self.seen = self.ours = None
        self.restored_at = self.restore_at = None  # the keys are gone: not someone overwriting our document

    def current(self, key: str, seen: str | None, now: float) -> str | None:
        """The key's value: what the inventory shows, or what we wrote if the watch has not echoed it yet."""
        mine = self.written.get(key)
        if mine is None:
            return seen
        value, replaced, at = mine
        if seen == replaced and now - at <= ECHO_WAIT:
            return value  # the inventory still shows what our write replaced: ours is on its way
        del self.written[key]  # echoed, or somebody wrote after us: the inventory is right
        return seen

    def echo(self, old: Vm | None, new: Vm) -> bool:
        """Whether ``new`` differs from ``old`` only by values we wrote ourselves (nothing to recompute);
        the echoed writes are forgotten."""
        if old is None or not self.written:
            return False
        if (old.name, old.uuid, old.power_state, old.host, old.disks) != (new.name, new.uuid, new.power_state,
                                                                          new.host, new.disks):
            return False
        a, b = lower_keys(old.guestinfo), lower_keys(new.guestinfo)
        changed = [k for k in a.keys() | b.keys() if a.get(k) != b.get(k)]
        if not changed or not all(k in self.written and self.written[k][0] == b.get(k) for k in changed):
            return False
        for k in changed:
            del self.written[k]  # echoed
        self.share(b.get(STATE.lower()))
        return True

    def share(self, value: str | None) -> None:
        """Hold the inventory's copy of the state value when it is the document we know (after our write's
        echo): one copy of each VM's document in the service, not two (20,000 VMs: ~30 MB)."""
        seen = self.seen
        if value is None or seen is None or seen.value is value or seen.value != value:
            return
        shared = replace(seen, value=value)
        if self.ours is seen:
            self.ours = shared
        self.seen = shared

    def overwritten(self, before: document.Seen | None, after: document.Seen, now: float, wait: float) -> bool:
        """Whether this write only restores our unchanged document that someone else overwrote, too soon
        (``wait`` seconds) after the last restore: a guest can write the state key too, it must not make us spin."""
        ours = self.ours
        if ours is None or after.fingerprint != ours.fingerprint or (before is not None and before.value == ours.value):
            return False
        if self.restored_at is not None and now - self.restored_at < wait:
            self.restore_at = self.restored_at + wait
            return True
        self.restored_at, self.restore_at = now, None
        return False


@dataclass(slots=True)
class Pending:
    """A refresh in progress: the request, and when its host's re-probe ended (None: not yet run)."""

    request: Request
    probed: float | None = None
    error: str = ""


@dataclass(slots=True)
class VmState:
    policy: PolicyGate = field(default_factory=PolicyGate)
    timers: Timers = field(default_factory=Timers)
    keys: Keys = field(default_factory=Keys)
    pending: Pending | None = None
    power: str = ""  # the power state last seen (a change: guestinfo may be gone)


def lower_keys(info: Mapping[str, str]) -> dict[str, str]:
    """Guestinfo keys are case-insensitive in the VMX; compare them in lower case."""
    return {k.lower(): v for k, v in info.items()}
