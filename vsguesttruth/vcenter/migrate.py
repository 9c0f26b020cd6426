"""vMotion and Storage vMotion: ``MigrateVM_Task`` and ``RelocateVM_Task``, waited for, retried when transient.

- :func:`vmotion` moves a VM to a host (``MigrateVM_Task`` with the host and a resource pool of the host's
  compute resource: the VM's own pool when it stays in its cluster, else the target's root pool).
- :func:`relocate` moves a VM's storage (``RelocateVM_Task``): ``spec.datastore`` takes the VM home and
  ``spec.disk`` locators place each disk (a disk moves with its snapshot chain); ``spec.host``/``spec.pool``
  when the host changes too.

Both wait for the task (:func:`.task.wait_for_task`: ``progress(percent)`` on every change), give up after
``timeout`` seconds (and cancel the task), and retry on transient faults only (:mod:`.task`: a lost
connection or session, after a reconnect; ``TaskInProgress``, ``ConcurrentAccess``, ``Timedout``,
``HostCommunication``). A refusal (``InvalidArgument``, ``DatastoreNotWritableOnHost``,
``InvalidHostConnectionState``, ...) fails at once.
Before each attempt the VM's placement is read: a VM already where it should go (an earlier attempt did
finish) is a success, not a second migration. Failures are :class:`TaskFailed` with one line.

A service that restarts while its migrations run finds them again: :func:`running_migrations` lists the
``MigrateVM_Task``/``RelocateVM_Task`` in ``TaskManager.recentTask`` (running, cancelable, or queued tasks
and those completed in the last minutes, that the account may see) still queued or running and started by
the account's own user (``info.reason``, a ``TaskReasonUser``), and :func:`follow` waits for one and reads
where the VM is afterwards. The remediation adopts them instead of starting a second migration.

:func:`replica_pairs` reads the datastore custom attribute that names a datastore's replica.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Iterable

from pyVmomi import vim, vmodl

from .connect import Connection
from .errors import TaskFailed
from .task import Progress, Transient, call, retrying, wait_for_task

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2  # a migration's progress, polled at most this far apart


@dataclass(frozen=True, slots=True)
class MoveResult:
    """A finished move, as plain data."""

    vm: str  # moref
    vm_name: str
    kind: str  # vmotion / relocate
    task: str  # task moref ("" when the VM was already there)
    from_host: str  # host name
    to_host: str
    to_datastore: str  # datastore name ("" for a vMotion)
    seconds: float
    attempts: int
    already: bool = False  # the VM was already there; nothing was started

    def summary(self) -> str:
        if self.already:
            return f"{self.vm_name} was already there"
        return f"task {self.task}, {self.attempts} attempt{'s' if self.attempts > 1 else ''}"


def _mo(conn: Connection, kind: type, moref: str) -> Any:
    return kind(moref, conn.si._stub)


def _placement(conn: Connection, vm_moref: str) -> tuple[str, str, str, dict[int, str], str]:
    """(vm name, host moref, host name, disk key -> datastore moref of its top file, pool moref)."""
    def read() -> tuple[str, str, str, dict[int, str], str]:
        vm = _mo(conn, vim.VirtualMachine, vm_moref)
        host = vm.runtime.host
        disks = {}
        for dev in (vm.config.hardware.device if vm.config else ()):
            if isinstance(dev, vim.vm.device.VirtualDisk) and getattr(dev.backing, "datastore", None) is not None:
                disks[int(dev.key)] = dev.backing.datastore._moId
        pool = vm.resourcePool
        return vm.name, host._moId if host else "", host.name if host else "", disks, pool._moId if pool else ""
    return call(conn, read, f"read VM {vm_moref}")


def _retrying(attempts: int) -> Any:
    """Attempts of a whole move (placement read again each time), 0.5 s doubling up to 10 s apart."""
    return retrying(attempts=attempts, first=0.5, longest=10.0, on_retry=lambda err, _: log.warning("%s; retrying", err))


def _pool_for(conn: Connection, host_moref: str, current_pool: str) -> str:
    """The VM's own pool when it belongs to the target host's compute resource, else that one's root pool."""
    def read() -> str:
        host = _mo(conn, vim.HostSystem, host_moref)
        cr = host.parent
        if current_pool:
            owner = _mo(conn, vim.ResourcePool, current_pool).owner
            if owner is not None and cr is not None and owner._moId == cr._moId:
                return current_pool
        root = cr.resourcePool if cr is not None else None
        if root is None:
            raise TaskFailed(f"host {host.name} has no resource pool to move a VM into")
        return root._moId
    return call(conn, read, f"find the resource pool of {host_moref}")


def vmotion(conn: Connection, vm_moref: str, host_moref: str, *, timeout: float = 600, attempts: int = 3,
            progress: Progress | None = None) -> MoveResult:
    """Move a running (or stopped) VM to another host. TaskFailed with one line on failure."""
    start = time.monotonic()
    count = 0
    name, from_host, to_name = vm_moref, "", host_moref

    def attempt() -> MoveResult:
        nonlocal count, name, from_host, to_name
        count += 1
        name, here, here_name, _, pool = _placement(conn, vm_moref)
        from_host = from_host or here_name
        to_name = call(conn, lambda: _mo(conn, vim.HostSystem, host_moref).name, f"read host {host_moref}")
        what = f"vMotion of {name} from {from_host or '?'} to {to_name}"
        if here == host_moref:
            return MoveResult(vm_moref, name, "vmotion", "", from_host, to_name, "", time.monotonic() - start,
                              count, already=count == 1)
        target_pool = _pool_for(conn, host_moref, pool)

        def begin() -> Any:
            vm = _mo(conn, vim.VirtualMachine, vm_moref)
            return vm.MigrateVM_Task(pool=_mo(conn, vim.ResourcePool, target_pool),
                                     host=_mo(conn, vim.HostSystem, host_moref),
                                     priority=vim.VirtualMachine.MovePriority.highPriority)
        task = call(conn, begin, what)
        wait_for_task(conn, task._moId, what, timeout, progress=progress, poll=POLL_SECONDS)
        return MoveResult(vm_moref, name, "vmotion", task._moId, from_host, to_name, "", time.monotonic() - start,
                          count)

    try:
        return _retrying(attempts)(attempt)
    except Transient as err:
        raise TaskFailed(f"{err} (gave up after {count} attempts)") from None


def relocate(conn: Connection, vm_moref: str, datastore_moref: str, *, host: str = "",
             disks: Iterable[tuple[int, str]] = (), timeout: float = 600, attempts: int = 3,
             progress: Progress | None = None) -> MoveResult:
    """Move a VM's storage: its home to ``datastore_moref``, each disk as ``disks`` (key, datastore) says
    (every disk not listed goes to ``datastore_moref`` too), and to ``host`` when given."""
    start = time.monotonic()
    locators = dict(disks)
    count = 0
    name, from_host = vm_moref, ""

    def attempt() -> MoveResult:
        nonlocal count, name, from_host
        count += 1
        name, here, here_name, placed, pool = _placement(conn, vm_moref)
        from_host = from_host or here_name
        ds_name = call(conn, lambda: _mo(conn, vim.Datastore, datastore_moref).name, f"read datastore {datastore_moref}")
        to_host = host or here
        to_name = here_name if to_host == here else call(
            conn, lambda: _mo(conn, vim.HostSystem, to_host).name, f"read host {to_host}")
        what = f"relocation of {name} to {ds_name}" + (f" on {to_name}" if to_host != here else "")
        wanted = {key: locators.get(key, datastore_moref) for key in placed}
        if placed and placed == wanted and to_host == here:
            return MoveResult(vm_moref, name, "relocate", "", from_host, to_name, ds_name,
                              time.monotonic() - start, count, already=count == 1)
        spec = vim.vm.RelocateSpec(datastore=_mo(conn, vim.Datastore, datastore_moref))
        spec.disk = [vim.vm.RelocateSpec.DiskLocator(diskId=key, datastore=_mo(conn, vim.Datastore, ds))
                     for key, ds in sorted(wanted.items())]
        if to_host != here:
            spec.host = _mo(conn, vim.HostSystem, to_host)
            spec.pool = _mo(conn, vim.ResourcePool, _pool_for(conn, to_host, pool))
        task = call(conn, lambda: _mo(conn, vim.VirtualMachine, vm_moref).RelocateVM_Task(
            spec=spec, priority=vim.VirtualMachine.MovePriority.highPriority), what)
        wait_for_task(conn, task._moId, what, timeout, progress=progress, poll=POLL_SECONDS)
        return MoveResult(vm_moref, name, "relocate", task._moId, from_host, to_name, ds_name,
                          time.monotonic() - start, count)

    try:
        return _retrying(attempts)(attempt)
    except Transient as err:
        raise TaskFailed(f"{err} (gave up after {count} attempts)") from None


@dataclass(frozen=True, slots=True)
class RunningMove:
    """A migration task still running in vCenter, as plain data."""

    task: str  # task moref
    vm: str  # moref
    vm_name: str
    kind: str  # vmotion / relocate
    from_host: str  # moref of the host the VM is on now
    from_host_name: str
    seconds: float  # how long it has been running (vCenter's clock)
    progress: int


_KINDS = {"VirtualMachine.migrate": "vmotion", "VirtualMachine.relocate": "relocate"}


def running_migrations(conn: Connection, user: str = "") -> list[RunningMove]:
    """The vMotions and Storage vMotions still queued or running that ``user`` started (default: the user
    ``conn`` is logged in as, as vCenter names it in ``info.reason``), from ``TaskManager.recentTask``."""
    PC = vmodl.query.PropertyCollector

    def read() -> list[RunningMove]:
        content = conn.content
        who = (user or content.sessionManager.currentSession.userName or "").lower()
        tasks = list(content.taskManager.recentTask or ())
        if not tasks:
            return []
        spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=t) for t in tasks],
                             propSet=[PC.PropertySpec(type=vim.Task, pathSet=["info"])])
        now = conn.si.CurrentTime()
        found = []
        result = content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
        while result is not None:
            for obj in result.objects or ():
                info = next((p.val for p in obj.propSet or () if p.name == "info"), None)
                if info is None or _KINDS.get(info.descriptionId or "") is None:
                    continue
                reason = info.reason
                if str(info.state) not in ("queued", "running") or not isinstance(reason, vim.TaskReasonUser):
                    continue
                if (reason.userName or "").lower() != who or not isinstance(info.entity, vim.VirtualMachine):
                    continue
                found.append((info, info.entity._moId))
            token = result.token
            result = content.propertyCollector.ContinueRetrievePropertiesEx(token) if token else None
        out = []
        for info, vm_moref in found:
            name, host, host_name, _, _ = _placement(conn, vm_moref)
            started = info.startTime or info.queueTime
            seconds = max(0.0, (now - started).total_seconds()) if started is not None else 0.0
            out.append(RunningMove(info.key, vm_moref, info.entityName or name, _KINDS[info.descriptionId], host,
                                   host_name, seconds, int(info.progress or 0)))
        return out

    return conn.run(read, "read the running migrations")


def follow(conn: Connection, move: RunningMove, *, timeout: float = 600, progress: Progress | None = None
           ) -> tuple[str, str]:
    """Wait for a running migration task to end; ``(host name, datastore name)`` where the VM is then (the
    datastore of its first disk). TaskFailed when the task failed or did not end within ``timeout``."""
    what = f"{'vMotion' if move.kind == 'vmotion' else 'relocation'} of {move.vm_name} ({move.task})"
    wait_for_task(conn, move.task, what, timeout, progress=progress, poll=POLL_SECONDS)
    _, _, host_name, disks, _ = _placement(conn, move.vm)
    ds = ""
    if move.kind == "relocate" and disks:
        first = disks[min(disks)]
        ds = call(conn, lambda: _mo(conn, vim.Datastore, first).name, f"read datastore {first}")
    return host_name, ds


def replica_pairs(conn: Connection, attribute: str) -> dict[str, str]:
    """Datastore name -> replica datastore name, from the custom attribute ``attribute`` on datastores."""
    if not attribute:
        return {}

    def read() -> dict[str, str]:
        manager = conn.content.customFieldsManager
        fields = (getattr(manager, "field", None) or ()) if manager is not None else ()
        keys = {int(f.key) for f in fields if f.name == attribute and (
            not f.managedObjectType or f.managedObjectType.__name__.endswith("Datastore"))}
        if not keys:
            return {}
        view = conn.content.viewManager.CreateContainerView(conn.content.rootFolder, [vim.Datastore], True)
        try:
            PC = vmodl.query.PropertyCollector
            spec = PC.FilterSpec(
                objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[
                    PC.TraversalSpec(name="ds", type=vim.view.ContainerView, path="view", skip=False)])],
                propSet=[PC.PropertySpec(type=vim.Datastore, pathSet=["name", "customValue"])])
            out: dict[str, str] = {}
            result = conn.content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
            while result is not None:
                for obj in result.objects or ():
                    props = {p.name: p.val for p in obj.propSet or ()}
                    for cv in props.get("customValue") or ():
                        value = str(getattr(cv, "value", "") or "").strip()
                        if int(cv.key) in keys and value:
                            out[str(props.get("name"))] = value
                token = result.token
                result = conn.content.propertyCollector.ContinueRetrievePropertiesEx(token) if token else None
            return out
        finally:
            try:
                view.DestroyView()
            except Exception:  # noqa: BLE001
                pass

    return conn.run(read, f"read the custom attribute {attribute} of datastores")
