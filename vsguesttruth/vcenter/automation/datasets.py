"""VM data sets (``com.vmware.vcenter.vm.data_sets`` and ``.entries``, vSphere 8.0+, virtual hardware vmx-20+).

A data set is a VM's named key-value store shared with its guest, with access control per side: ``host``
(these API calls) and ``guest`` (``vmtoolsd --cmd "datasets-..."`` inside the VM), each ``NONE``,
``READ_ONLY`` or ``READ_WRITE``. It lives with the VM (survives power-off), values go up to 1 MB, and writing
one is no vCenter task. :class:`VmDataSets` answers in plain data: names, :class:`DataSetInfo`, values;
"not there" is ``None`` or ``False``, never an exception; other failures are one-line VsgtErrors.
"""

from __future__ import annotations

from dataclasses import dataclass

from com.vmware.vapi.std import errors_client as vapi_errors
from com.vmware.vcenter.vm.data_sets_client import Entries
from com.vmware.vcenter.vm_client import DataSets

from .session import Automation

ACCESS = ("NONE", "READ_ONLY", "READ_WRITE")


@dataclass(frozen=True)
class DataSetInfo:
    """A data set's attributes (what ``create`` takes, and ``used``: bytes of keys and values in it)."""

    name: str
    description: str = ""
    host: str = "READ_WRITE"
    guest: str = "READ_ONLY"
    omit_from_snapshot_and_clone: bool = True
    used: int = 0

    def same_rules(self, other: "DataSetInfo") -> bool:
        """Whether both have the same access modes and snapshot/clone behaviour."""
        return (self.host, self.guest, self.omit_from_snapshot_and_clone) == (
            other.host, other.guest, other.omit_from_snapshot_and_clone)


#: "not there": the VM, the data set or the entry (or data sets on this VM at all: hardware older than vmx-20)
_MISSING = (vapi_errors.NotFound, vapi_errors.Unsupported)


class VmDataSets:
    """The data sets of VMs, through one :class:`Automation` session."""

    def __init__(self, api: Automation) -> None:
        self.api = api

    def names(self, vm: str) -> set[str] | None:
        """The names of the VM's data sets; None when the VM cannot have any (hardware older than vmx-20)
        or does not exist."""
        try:
            summaries = self.api.call(f"list the data sets of {vm}", lambda: self.api.service(DataSets).list(vm),
                                      expect=(vapi_errors.Unsupported, vapi_errors.NotFound))
        except (vapi_errors.Unsupported, vapi_errors.NotFound):
            return None
        return {str(s.name) for s in summaries or ()}

    def info(self, vm: str, name: str) -> DataSetInfo | None:
        try:
            got = self.api.call(f"read data set {name} of {vm}", lambda: self.api.service(DataSets).get(vm, name),
                                expect=_MISSING)
        except _MISSING:
            return None
        return DataSetInfo(name=str(got.name), description=str(got.description or ""), host=str(got.host),
                           guest=str(got.guest), omit_from_snapshot_and_clone=bool(got.omit_from_snapshot_and_clone),
                           used=int(got.used or 0))

    def create(self, vm: str, spec: DataSetInfo) -> None:
        """Create the data set; one that exists already is left as it is."""
        create = DataSets.CreateSpec(name=spec.name, description=spec.description, host=getattr(DataSets.Access, spec.host),
                                     guest=getattr(DataSets.Access, spec.guest),
                                     omit_from_snapshot_and_clone=spec.omit_from_snapshot_and_clone)
        try:
            self.api.call(f"create data set {spec.name} of {vm}", lambda: self.api.service(DataSets).create(vm, create),
                          expect=(vapi_errors.AlreadyExists,))
        except vapi_errors.AlreadyExists:
            pass

    def update(self, vm: str, spec: DataSetInfo) -> None:
        """Give an existing data set the access modes and clone behaviour of ``spec``."""
        update = DataSets.UpdateSpec(description=spec.description, host=getattr(DataSets.Access, spec.host),
                                     guest=getattr(DataSets.Access, spec.guest),
                                     omit_from_snapshot_and_clone=spec.omit_from_snapshot_and_clone)
        self.api.call(f"update data set {spec.name} of {vm}",
                      lambda: self.api.service(DataSets).update(vm, spec.name, update))

    def keys(self, vm: str, name: str) -> set[str] | None:
        """The keys of a data set's entries; None when there is no such data set."""
        try:
            return set(self.api.call(f"list the entries of data set {name} of {vm}",
                                     lambda: self.api.service(Entries).list(vm, name), expect=_MISSING))
        except _MISSING:
            return None

    def get(self, vm: str, name: str, key: str) -> str | None:
        """One entry's value; None when the entry (or the data set) does not exist."""
        try:
            return str(self.api.call(f"read {name}/{key} of {vm}",
                                     lambda: self.api.service(Entries).get(vm, name, key), expect=_MISSING))
        except _MISSING:
            return None

    def set(self, vm: str, name: str, key: str, value: str) -> bool:
        """Set one entry; False when the data set does not exist."""
        try:
            self.api.call(f"write {name}/{key} of {vm}", lambda: self.api.service(Entries).set(vm, name, key, value),
                          expect=_MISSING)
        except _MISSING:
            return False
        return True


__all__ = ["ACCESS", "DataSetInfo", "VmDataSets"]
