"""vsguesttruth: tell VMware guests the physical truth about their storage, and move them before it hurts.

The data flows one way (DESIGN.md):

    vcenter (collect: snapshot, informer)  ->  model.Inventory
    truth (pure: every disk's verdict and evidence)  ->  reconcile (what each guest's guestinfo should say,
    written where it differs; ``guestinfo`` is that conversation)  and  plan (pure: which VM should go where)
    ->  remediation (moves under guard rails)
    cli, web: thin, on top; lab: the simulated vCenter the tests and the demo run against

The pure core is re-exported here; the rest is imported from its package (``vsguesttruth.vcenter``,
``vsguesttruth.reconcile``, ``vsguesttruth.remediation``, ``vsguesttruth.web``, ``vsguesttruth.lab``).
Nothing imported here loads pyVmomi.
"""

__version__ = "0.1.0"

from vsguesttruth.errors import ConfigError, VsgtError  # noqa: E402
from vsguesttruth.model import Datastore, Disk, Hba, Host, Inventory, Lun, Mount, Path, PathState, Vm  # noqa: E402
from vsguesttruth.policy import PolicyError, ServiceLevel  # noqa: E402
from vsguesttruth.truth import Advice, DiskTruth, TruthContext, Verdict, VmTruth  # noqa: E402

__all__ = [
    "Advice", "ConfigError", "Datastore", "Disk", "DiskTruth", "Hba", "Host", "Inventory", "Lun", "Mount", "Path",
    "PathState", "PolicyError", "ServiceLevel", "TruthContext", "Verdict", "Vm", "VmTruth", "VsgtError", "__version__",
]
