"""What vSphere HA's VM Component Protection (VMCP) will do for a VM we could not move: plain data and words.

When a vMotion from a host that lost its paths fails, the VM stays where its storage is unreachable. vSphere HA
is what can still act there, if the cluster lets it (vSphere Availability, "VM Component Protection"; API
ClusterVmComponentProtectionSettings):
- a permanent device loss (PDL): with ``vmStorageProtectionForPDL`` ``restartAggressive``, HA powers the VM
  off at once and restarts it on a host that reaches its storage;
- an all-paths-down (APD, and a lost connectivity of one host is an APD of that host for the device): with
  ``vmStorageProtectionForAPD`` ``restartConservative`` or ``restartAggressive``, after the host's APD timeout
  (``Misc.APDTimeout``, 140 s by default) and ``vmTerminateDelayForAPDSec`` more (180 s by default); a
  conservative restart happens only when HA knows another host can take the VM;
- ``warning``: an alarm and an event, no restart; ``disabled``, or VMCP or HA off: nothing.
HA never live-migrates: a VMCP restart is a power-off and a power-on, the guest reboots. Pure.
"""

from __future__ import annotations

from vsguesttruth.model import Vmcp
from vsguesttruth.truth import Verdict

APD_TIMEOUT_DEFAULT = 140  # Misc.APDTimeout, seconds

__all__ = ["APD_TIMEOUT_DEFAULT", "Vmcp", "ha_words"]


def ha_words(vmcp: Vmcp | None, verdict: Verdict, host: str) -> str:
    """One sentence: what vSphere HA will do about a VM left on ``host`` with this verdict."""
    if vmcp is None:
        return "the VM's host is in no cluster: vSphere HA cannot restart it elsewhere"
    where = f"vSphere HA on {vmcp.cluster}"
    if not vmcp.ha:
        return f"{where} is off: nothing will restart the VM; it stays on {host} until its paths return"
    if not vmcp.vmcp:
        return (f"{where} has VM Component Protection off: it will not restart the VM for a storage failure; "
                f"it stays on {host} until its paths return")
    if verdict is Verdict.MEDIA_FAILURE:
        if vmcp.pdl == "restartAggressive":
            return f"{where} (VMCP, PDL: restartAggressive) powers the VM off and restarts it at once on a host that reaches its storage"
        return f"{where} (VMCP, PDL: {vmcp.pdl}) does not restart the VM{': it raises an alarm' if vmcp.pdl == 'warning' else ''}"
    if vmcp.apd in ("restartConservative", "restartAggressive"):
        timeout = vmcp.apd_timeout if vmcp.apd_timeout is not None else APD_TIMEOUT_DEFAULT
        known = "" if vmcp.apd_timeout is not None else " (the default; the host's was not read)"
        total = timeout + vmcp.terminate_delay
        careful = (", if it knows another host can take it" if vmcp.apd == "restartConservative" else "")
        return (f"{where} (VMCP, APD: {vmcp.apd}) restarts the VM on a host that reaches its storage{careful}, "
                f"{total} s after {host} lost its paths (APD timeout {timeout} s{known} + "
                f"vmTerminateDelayForAPDSec {vmcp.terminate_delay} s): a power-off and power-on, not a vMotion")
    return f"{where} (VMCP, APD: {vmcp.apd}) does not restart the VM{': it raises an alarm' if vmcp.apd == 'warning' else ''}"
