"""Which channel a VM's documents travel on, and what the reconciler sees of a VM on VM data sets. Pure.

``[delivery] channel``: ``guestinfo`` (every VM, the default), ``datasets`` (every VM whose virtual hardware
is vmx-20 or later; older ones keep guestinfo), ``auto`` (the same, on a vCenter 8.0 or later only). The
reconciler plans on four guestinfo keys; for a VM on data sets :func:`view` gives it those keys from the data
sets as last read (or written): the state document and the answers from ``vsguesttruth``, the guest's policy
and request from ``vsguesttruth-guest``, falling back to the guestinfo policy and request (an older agent, an
admin who set the policy key) when the guest wrote none there. :func:`view` also says where the answers go:
where the request came from (else where the policy came from).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

from vsguesttruth.guestinfo import POLICY, REQUEST, RESPONSE, STATE
from vsguesttruth.model import Vm
from vsguesttruth_guest.datasets import MIN_HARDWARE, hardware_number

GUESTINFO = "guestinfo"
DATASETS = "datasets"


def uses_datasets(vm: Vm, channel: str, vcenter_major: int) -> bool:
    """Whether the VM's documents go through its data sets."""
    if channel == GUESTINFO or hardware_number(vm.hardware_version) < MIN_HARDWARE:
        return False
    return channel == DATASETS or vcenter_major >= 8


@dataclass(frozen=True)
class Held:
    """What a VM's data sets hold, as we last read or wrote them. ``sets``: which of ours exist."""

    sets: frozenset[str] = frozenset()
    values: Mapping[str, str] = field(default_factory=dict)  # guestinfo key -> value ("" or absent: none)

    def get(self, key: str) -> str:
        return self.values.get(key) or ""

    def with_value(self, key: str, value: str) -> "Held":
        return replace(self, values={**self.values, key: value})


def view(vm: Vm, held: Held) -> tuple[dict[str, str], str]:
    """The keys the reconciler sees for a VM on data sets, and where its answers go (``datasets`` or
    ``guestinfo``)."""
    info = {k.lower(): v for k, v in vm.guestinfo.items()}
    out: dict[str, str] = {}
    if held.get(STATE):
        out[STATE] = held.get(STATE)
    answers = ""
    if held.get(REQUEST):
        out[REQUEST], answers = held.get(REQUEST), DATASETS
    elif info.get(REQUEST):
        out[REQUEST], answers = info[REQUEST], GUESTINFO
    if held.get(POLICY):
        out[POLICY] = held.get(POLICY)
        answers = answers or DATASETS
    elif info.get(POLICY):
        out[POLICY] = info[POLICY]
        answers = answers or GUESTINFO
    answers = answers or DATASETS
    response = held.get(RESPONSE) if answers == DATASETS else info.get(RESPONSE, "")
    if response:
        out[RESPONSE] = response
    return out, answers


def stale_guestinfo_state(vm: Vm) -> bool:
    """Whether a VM on data sets still has a state document in guestinfo (from before its switch): an older
    agent would read it forever, so it is removed."""
    return any(k.lower() == STATE and v for k, v in vm.guestinfo.items())
