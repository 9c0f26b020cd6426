"""The VM data sets contract (vSphere 8.0+, virtual hardware vmx-20+): set names, entry keys, and the
``vmtoolsd --cmd "datasets-..."`` commands a guest reads and writes them with. The one place for all of it.

Two data sets carry the same documents as the guestinfo keys (``guestinfo.py``), with the same JSON, limits
and strict parsing:

| data set | host | guest | entries |
|---|---|---|---|
| ``vsguesttruth`` | READ_WRITE | READ_ONLY | ``state`` (the state document), ``response`` (the answers) |
| ``vsguesttruth-guest`` | READ_WRITE | READ_WRITE | ``policy``, ``request`` (what the guest writes) |

Both are created by the service with ``omit_from_snapshot_and_clone``: a clone does not inherit another VM's
state and request ids, a snapshot revert does not bring back an old state. Answers go where the request came
from: a request written to guestinfo is answered in guestinfo.

In the guest (as root; the VMX answers, not open-vm-tools): ``datasets-list`` ->
``{"result":true,"datasets":[{"name":..,"description":..}]}`` (VMware Guest SDK Programming Guide, vSphere 8,
"Access from Guest OS"); ``datasets-get-entry {"dataset":..,"keys":[..]}`` ->
``{"result":true,"entries":[{"KEY":"VALUE"}]}`` and ``datasets-set-entry {"dataset":..,"entries":[{"key":..,
"value":..}]}`` -> ``{"result":true}`` (github.com/akutz/dsp, a VMware engineer's data sets proxy; the get/set
names are not in the guide); a failure is ``{"result":false,"error-id":..,"error-message":..}``. The lab serves
exactly these (lab/README.md, "VM data sets in the guest"). Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from vsguesttruth_guest.guestinfo import POLICY, REQUEST, RESPONSE, STATE

HOST_SET = "vsguesttruth"  # the service writes, the guest reads
GUEST_SET = "vsguesttruth-guest"  # the guest writes, the service reads
#: guestinfo key -> (data set, entry key)
ENTRIES = {STATE: (HOST_SET, "state"), RESPONSE: (HOST_SET, "response"),
           POLICY: (GUEST_SET, "policy"), REQUEST: (GUEST_SET, "request")}
#: (name, host access, guest access, description) of each data set the service creates
SETS = (
    (HOST_SET, "READ_WRITE", "READ_ONLY", "vsguesttruth: the storage truth of this VM and answers to its guest"),
    (GUEST_SET, "READ_WRITE", "READ_WRITE", "vsguesttruth: the guest's probing policy and requests"),
)
MIN_HARDWARE = 20  # vmx-20: the first virtual hardware version with data sets

LIST = "datasets-list"
GET = "datasets-get-entry"
SET = "datasets-set-entry"


def hardware_number(version: str) -> int:
    """``"vmx-21"`` -> 21; 0 when unknown."""
    try:
        return int(version.removeprefix("vmx-")) if version.startswith("vmx-") else 0
    except ValueError:
        return 0


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def get_command(dataset: str, key: str) -> str:
    return f"{GET} {_dumps({'dataset': dataset, 'keys': [key]})}"


def set_command(dataset: str, key: str, value: str) -> str:
    return f"{SET} {_dumps({'dataset': dataset, 'entries': [{'key': key, 'value': value}]})}"


class Failed(Exception):
    """A data set command answered ``"result": false``: ``error_id`` (``not-found``, ``access-denied``, ...)."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


def parse_answer(text: str | bytes) -> dict:
    """The JSON a data set command printed; :class:`Failed` for ``"result": false``, ValueError when it is not
    such an answer (an older VMware Tools, a VM without data sets)."""
    try:
        answer = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError("not a data set answer") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("result"), bool):
        raise ValueError("not a data set answer")
    if not answer["result"]:
        raise Failed(str(answer.get("error-id", "")), str(answer.get("error-message", "")))
    return answer


def names_in(answer: dict) -> set[str]:
    """The data set names of a ``datasets-list`` answer."""
    sets = answer.get("datasets")
    return {str(s["name"]) for s in sets if isinstance(s, dict) and isinstance(s.get("name"), str)} \
        if isinstance(sets, list) else set()


def value_in(answer: dict, key: str) -> str | None:
    """The value of ``key`` in a ``datasets-get-entry`` answer."""
    for entry in answer.get("entries") or ():
        if isinstance(entry, dict) and isinstance(entry.get(key), str):
            return entry[key]
    return None
