"""The reconcile loop: what every in-scope guest should see in its guestinfo, written where it differs.

Split the way client-go splits a controller:

- :mod:`.index`: which VMs a change touches (by host, by datastore, the VMs that depend on other hosts),
  and our own writes' echoes;
- :mod:`.queue`: the work due with time (re-probe intervals, interval windows, backoff after a failed
  write, answers given later);
- :mod:`.sync`: what one VM should get (its state document, the answer to its request, a re-probe);
- :mod:`.state`: the per-VM memory those share; :mod:`.result`: what a pass did;
- :mod:`.ports`: what the loop talks through (the writer, guests' migrate requests, remediation);
- :mod:`.reconciler`: one pass, and :mod:`.service`: the passes on the live informer (``serve``) or on
  one snapshot (``publish --once``).

The state of record is vCenter's (the VMs' extraConfig), so a restart rewrites nothing that is already
right. Nothing here imports pyVmomi: the service reaches the vCenter edge only when it is made.
"""

from __future__ import annotations

from .ports import (
    NO_REMEDIATION,
    AnswerLog,
    MigrationRequest,
    Remediation,
    RemediationHook,
    Write,
    Writer,
    WriteResult,
)
from .reconciler import Reconciler
from .result import PassResult, VmOutcome
from .service import Service, default_level, publish_once

__all__ = [
    "NO_REMEDIATION", "AnswerLog", "MigrationRequest", "PassResult", "Reconciler", "Remediation", "RemediationHook",
    "Service", "VmOutcome", "Write", "WriteResult", "Writer", "default_level", "publish_once",
]
