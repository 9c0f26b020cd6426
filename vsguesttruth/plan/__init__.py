"""The plan: which VM should go where, and why. Pure: plain data in, plain data out, no I/O, no clock.

``plan(inv, truths, config)`` reads the truth of every VM (``truth.VmTruth``) and returns a :class:`Plan`:
one :class:`Decision` per VM that calls for action, either a move (``vmotion``, ``relocate_to_replica``,
``storage_vmotion``) or a refusal (action ``none``) that says why nothing sensible can be done.

Rules (powered-on VMs; a guest's request works on any VM):
- ``connectivity_lost``, ``below_sla``, and ``degraded`` below the guest's level (``move_degraded``) ->
  vMotion to another host of the VM's cluster (``same_cluster_only``) and of ``allowed_hosts`` (globs; empty:
  any), connected, not in maintenance, from which EVERY disk of the VM is usable within the service level.
  Candidate hosts are judged with the truth itself (``TruthContext.datastore_truth``/``lun_truth`` from the
  candidate), so a target is "healthy" by exactly the rules that called the source unhealthy. Ranking:
  every disk ``healthy`` there before merely usable, then most working paths to the VM's LUNs, then least
  load (VMs on the host, counting moves planned earlier in the same plan), then host name.
- ``media_failure`` -> relocate to the replica of each failed datastore: pairs from the config
  (``[replicas]``) or from a custom attribute on the datastore (read by the edge, passed as ``replicas``).
  Stay on the current host if it mounts the replica healthily (and reaches the VM's other disks), else
  pick a host as above. An RDM on a failed LUN, a disk whose snapshot chain spans several datastores, or a
  datastore without a replica -> refusal.
- ``all_paths_down`` -> refusal: no host reaches the storage, moving cannot help; wait (APD usually ends).
- a guest's ``migrate`` request (``MoveRequest``): refused unless the admin allows guest requests; else the
  VM's own decision if its truth calls for one, or a move to the best other host.
- nothing fits -> refusal naming what every candidate lacks ("no healthy host: every other host in cl-a
  has lost ds-gold (all_paths_down); waiting").

What replica failover really does on a vCenter (honest about the limits): ``relocate_to_replica`` is a
``RelocateVM_Task`` whose disk locators send the disks of the failed datastore to the replica datastore. A
Storage vMotion copies the VM's files, so it needs the source readable: it works when the source is still
readable (a datastore turned ``media_failure`` by an operational state like ``error``/``off`` on a LUN the
array still serves read-only), or when the replica already holds the VM's files, e.g. with array
replication (SRDF, SnapMirror, RecoverPoint): then the right move is to promote the replica LUN and register
or attach the replica's copy, which is the array's runbook, not a RelocateVM. A LUN in PDL cannot be read:
on a real vCenter the task fails and we report that failure (and vSphere HA/VMCP restarts the VM if set).
The lab simulates the relocation (its RelocateVM moves the files of a PDL datastore), so the whole flow
can be tested; do not read the lab's success as a promise about real PDL.
"""

from __future__ import annotations

from .decision import Action, Decision, MoveRequest, Plan, force
from .planner import plan, plan_for, plan_move

__all__ = ["Action", "Decision", "MoveRequest", "Plan", "force", "plan", "plan_for", "plan_move"]
