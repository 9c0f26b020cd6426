"""The ports the reconcile loop talks through, as plain data and protocols: the edge implements them.

- :class:`Writer`: writes guestinfo keys (``ReconfigVM_Task`` with only our extraConfig keys) and re-probes
  hosts' storage (``RefreshStorageSystem``); :class:`Write` and :class:`WriteResult` are what goes in and
  comes out. The vCenter edge's :class:`~vsguesttruth.vcenter.Publisher` is the real one; tests
  hand a stand-in. Nothing here imports pyVmomi.
- :class:`MigrationRequest` and :data:`RemediationHook`: a guest's ``migrate`` request handed to
  remediation, answered at once or later.
- :class:`Remediation`: remediation inside the loop (``vsguesttruth.remediation.RemediationLoop``).
- :class:`AnswerLog`: the lasting record of the requests answered (the edge's: an event on the VM), so an id
  answered once is never acted on again, after a restart or a power cycle that emptied the response key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from vsguesttruth.guestinfo import Request
from vsguesttruth.model import Inventory
from vsguesttruth.truth import VmTruth

#: the answer to a guest's migrate request when nothing remediates on this vCenter
NO_REMEDIATION = "remediation is not available yet"


@dataclass(frozen=True)
class Write:
    """Values for some of one VM's guestinfo keys (only ``guestinfo.vsguesttruth.*``; "" removes a key)."""

    vm: str  # moref
    name: str
    values: Mapping[str, str]


@dataclass(frozen=True)
class WriteResult:
    """How one write went: ``error`` is one line when it failed (after ``attempts`` tries)."""

    write: Write
    ok: bool
    error: str = ""
    attempts: int = 0
    seconds: float = 0.0


class Writer(Protocol):
    """What the reconciler needs from the vCenter edge."""

    def write(self, writes: Sequence[Write]) -> list[WriteResult]:
        """Send the writes; one result per write, in order; one VM's failure is a result, not an exception."""
        ...

    def refresh(self, hosts: Iterable[str]) -> dict[str, str]:
        """Re-probe the storage of each host; host moref -> error for those that failed."""
        ...


@dataclass(frozen=True)
class MigrationRequest:
    """A guest's ``migrate`` request, handed to remediation with the VM's truth.

    ``respond(status, message)`` answers later (``accepted``, ``done``, ``failed``, ``refused``); it may be
    called from any thread, and the answer is written with the VM's next pass.
    """

    vm: str
    vm_name: str
    request: Request
    truth: VmTruth
    respond: Callable[[str, str], None]


#: Remediation's answer to a migrate request: ``(status, message)`` at once (``accepted`` or ``refused``),
#: or None to answer later through the request's ``respond``.
RemediationHook = Callable[[MigrationRequest], "tuple[str, str] | None"]


class Remediation(Protocol):
    """Remediation run by the service after every pass: guests' requests in, moves out."""

    def start(self) -> Any:
        """Before the first step: read back what vCenter remembers (moves, migrations still running); once."""
        ...

    def request(self, req: MigrationRequest) -> tuple[str, str] | None:
        """A guest's migrate request (the :data:`RemediationHook`)."""
        ...

    def step(self, inv: Inventory, truths: Mapping[str, VmTruth], levels: Mapping[str, Any], level: Any) -> Any:
        """One pass over the published truths of the VMs that are not healthy."""
        ...

    def next_wake(self) -> float | None:
        """When a verdict waiting out its hysteresis (or a request) wants the next step; None: no need."""
        ...


class AnswerLog(Protocol):
    """Where the service records each request it answered (``vcenter.events.AnswerRecord``: an event on the VM)."""

    def record(self, vm: str, vm_name: str, id: str, action: str, status: str, message: str) -> None:
        """Record the first answer written to request ``id`` of ``vm``; a failure is logged, never raised."""
        ...
