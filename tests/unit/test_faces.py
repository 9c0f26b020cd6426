"""The packages' public faces, httpx-style: each ``__init__`` re-exports the names callers use, ``__all__``
lists exactly them; the pure core and the controllers load no pyVmomi and no Automation SDK, and only the
vCenter edge imports the SDK."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

import vsguesttruth
import vsguesttruth_guest

FACES = {
    "vsguesttruth": {
        "Advice", "ConfigError", "Datastore", "Disk", "DiskTruth", "Hba", "Host", "Inventory", "Lun", "Mount", "Path",
        "PathState", "PolicyError", "ServiceLevel", "TruthContext", "Verdict", "Vm", "VmTruth", "VsgtError", "__version__",
    },
    "vsguesttruth.truth": {
        "Advice", "DatastoreTruth", "DiskId", "DiskTruth", "HbaSummary", "HostLun", "HostPaths", "HostSummary",
        "LevelCheck", "LunTruth", "MountState", "TruthContext", "Verdict", "VerdictChange", "VmTruth", "by_disk", "disk_truths",
        "host_summary", "judged_only", "of_host", "to_json", "verdict_changes", "vm_truth", "vm_truths",
    },
    "vsguesttruth.guestinfo": {
        "ENCODING", "FIELDS", "GUEST_DEPTH", "KEYS", "PLAIN_LIMIT", "POLICY", "POLICY_LIMIT", "PREFIX", "REQUEST", "REQUEST_LIMIT",
        "RESPONSE", "RPC_LIMIT", "SCHEMA_VERSION", "STATE", "STATE_DEPTH", "STATE_LIMIT", "DocumentError", "GuestPolicy",
        "Levels", "Request", "RequestBook", "RequestError", "answered_request", "decode_state", "default_policy", "document",
        "dumps", "effective_policy", "encode_state", "load_schema", "nesting", "parse_guest_json", "parse_policy",
        "parse_request", "read_response", "response", "timestamp",
    },
    "vsguesttruth.plan": {"Action", "Decision", "MoveRequest", "Plan", "force", "plan", "plan_for", "plan_move"},
    "vsguesttruth.reconcile": {
        "NO_REMEDIATION", "AnswerLog", "MigrationRequest", "PassResult", "Reconciler", "Remediation", "RemediationHook",
        "Service", "VmOutcome", "Write", "WriteResult", "Writer", "default_level", "publish_once",
    },
    "vsguesttruth.remediation": {
        "EVENT_PREFIX", "REQUEST_TIMEOUT", "Action", "DryRun", "Executor", "ManualMoves", "OnceReport",
        "RemediationLoop", "Remediator", "VcenterExecutor", "move",
    },
    "vsguesttruth.vcenter": {
        "TRANSIENT_FAULTS", "ApiError", "AuthError", "CertificateError", "ConfigError", "ConnectError", "Connection",
        "ConnectionSettings", "Informer", "Lease", "MoveResult", "NotActive", "NotFound", "Publisher", "RoleResult",
        "RunningMove", "SessionExpired", "follow", "running_migrations",
        "ClientSessionExchange", "TagCache", "UserSession",
        "TaskFailed", "Transient", "VsgtError", "Watcher", "connect", "ensure_role", "eventfeed", "events", "extension",
        "fault_text",
        "find_object", "get_extra_config", "is_connection_lost", "is_session_lost", "is_transient", "missing_privileges",
        "negotiate_version",
        "normalize_thumbprint", "parse_url", "read_guestinfo", "refresh_storage", "relocate", "replica_pairs",
        "replicas", "root_folder", "root_pools", "set_extra_config", "snapshot", "ssl_context", "thumbprint_of",
        "tools_status", "translate", "vcenter_major", "vms_with_attribute", "vmotion",
        "wait_for_task", "watch",
    },
    "vsguesttruth.delivery": {
        "DATASETS", "GUESTINFO", "ChannelWriter", "DataSetDelivery", "DataSetPort", "Held", "PollSchedule",
        "open_delivery", "uses_datasets", "view",
    },
    "vsguesttruth.lab": {
        "FAULT_KINDS", "TASK_MODES", "VMWARE", "FakeSys", "Guest", "Lab", "LabError", "LabGuestError", "LabInfo",
        "agent_command", "build_guest", "naa_of", "run_agent",
    },
}
#: submodules that are a face's sub-namespaces on purpose (``vcenter.events.post``)
NAMESPACES = {"vsguesttruth.guestinfo": {"document"}, "vsguesttruth.vcenter": {"eventfeed", "events", "extension"}}


@pytest.mark.parametrize("name", sorted(FACES))
def test_the_face_exports_what_callers_use_and_nothing_else(name):
    module = importlib.import_module(name)
    assert set(module.__all__) == FACES[name]
    for member in module.__all__:
        assert hasattr(module, member), f"{name}.{member} is in __all__ but missing"
    # every public name of the face is exported; its own submodules are reached as submodules
    public = {n for n, v in vars(module).items() if not n.startswith("_") and n != "annotations"
              and not (isinstance(v, types.ModuleType) and n not in NAMESPACES.get(name, ()))}
    assert public - set(module.__all__) == set(), f"{name} has public names outside __all__"


def test_one_version_for_the_server_and_its_guest_agent():
    assert vsguesttruth.__version__ == vsguesttruth_guest.__version__


def test_the_core_and_the_controllers_load_no_pyvmomi():
    """The pure core (model, truth, plan, guestinfo, scope) and the controllers (reconcile, remediation,
    delivery) reach the vCenter edge only when they run against vCenter: importing them loads no pyVmomi and
    no Automation SDK."""
    code = ("import sys, vsguesttruth, vsguesttruth.truth, vsguesttruth.plan, vsguesttruth.guestinfo, "
            "vsguesttruth.scope, vsguesttruth.reconcile, vsguesttruth.remediation, vsguesttruth.delivery; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyVmomi', 'pyVim', 'com', 'vmware'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


SDK = ("com.vmware", "vmware.vapi")
ROOT = Path(__file__).resolve().parents[2]


def sdk_imports(path: Path) -> list[str]:
    """The Automation SDK modules a source file imports (``com.vmware.*``, ``vmware.vapi.*``), wherever it does."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
        found += [n for n in names if n == "com" or n == "vmware" or n.startswith(tuple(p + "." for p in SDK))
                  or n in SDK]
    return found


def test_only_the_vcenter_edge_imports_the_automation_sdk():
    """The SDK's types stay in the vCenter edge: no module of the product outside ``vsguesttruth/vcenter/`` (nor
    the guest agent, nor the scripts) imports ``com.vmware`` or ``vmware.vapi``, and inside the edge only its
    ``automation`` package does."""
    sources = [*ROOT.glob("vsguesttruth/**/*.py"), *ROOT.glob("guest-agent/**/*.py"), *ROOT.glob("scripts/*.py")]
    assert len(sources) > 50
    outside = {str(p.relative_to(ROOT)): sdk_imports(p) for p in sources
               if "vsguesttruth/vcenter/automation" not in p.as_posix()}
    assert {path: names for path, names in outside.items() if names} == {}
    inside = [p for p in ROOT.glob("vsguesttruth/vcenter/automation/*.py") if sdk_imports(p)]
    assert inside, "the automation package is where the SDK is spoken"
