"""What the grouping answers, as plain frozen data: a :class:`Symptom` (one piece of evidence in the model),
a :class:`Failure` (the smallest failed component that explains some symptoms, and which disks it can
reach), and the component kinds from the smallest to the largest."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable, NamedTuple


class Kind(str, Enum):
    """A failed component. Ordered from the smallest: on equal evidence the smaller one is named."""

    PATH = "path"  # one path (or: no path at all from a host to a LUN it sees)
    HBA = "hba"  # one HBA on one host: a pulled cable, a dead port
    TARGET = "target"  # one array port, on every host that uses it
    CONTROLLER = "controller"  # every port of one array controller
    LUN = "lun"  # the device itself: PDL, failed, APD everywhere, impaired
    DATASTORE = "datastore"  # a datastore's mounts (NFS, or VMFS with no path evidence)
    FABRIC = "fabric"  # every path through one fabric's HBAs: a switch
    HOST = "host"  # disconnected or not responding: its storage is not known

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {k: i for i, k in enumerate(Kind)}
KINDS = tuple(k.value for k in Kind)


class Symptom(NamedTuple):
    """One piece of evidence in the model, on one host.

    ``kind``: ``path`` (a path not working: dead, disabled, unknown), ``no_path`` (the host sees the LUN, or
    runs a VM on it, with no path to it), ``hba`` (an HBA offline), ``lost`` (the LUN reported permanently
    lost here, as the truth reads it), ``impaired`` (the LUN judged degraded here by its operational state
    while every path works), ``mount`` (a datastore inaccessible or not mounted here, not explained by its
    extents' paths), ``host`` (not connected).
    """

    kind: str
    host: str  # host moref
    what: str  # path name, LUN canonical name, HBA device, datastore moref; "" for host
    lun: str = ""  # the LUN (path, no_path, lost, impaired)
    state: str = ""  # path state, HBA status, mount reason, connection state, operational state

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "host": self.host, "what": self.what, "lun": self.lun, "state": self.state}


Scope = tuple[str, str, str]  # (host moref, "lun" | "ds" | "*", canonical name / datastore moref / "")


@dataclass(frozen=True, slots=True)
class Failure:
    """The smallest failed component that explains some of the evidence.

    ``key`` is the component's stable identity (``target:<wwpn>``, ``hba:<host moref>/vmhba2``); ``name`` how
    people call it; ``cause`` what happened to it (``dead``, ``offline``, ``disabled``, ``pdl``, ``failed``,
    ``apd``, ``impaired``, ``no_path``, ``inaccessible``, ``not_mounted``, ``disconnected``,
    ``notResponding``). ``scope`` says which disks it reaches: the disks on host H whose LUN L (or datastore
    D) is in the scope, or every disk on H (``*``: a host vCenter cannot reach).
    """

    kind: Kind
    key: str
    name: str
    cause: str
    symptoms: tuple[Symptom, ...]
    scope: frozenset[Scope]
    hosts: tuple[str, ...]  # host morefs, by host name
    host_names: tuple[str, ...]
    clusters: tuple[str, ...]
    luns: tuple[str, ...]  # canonical names
    datastores: tuple[str, ...]  # datastore names (of the LUNs it reaches, and of the mounts)
    detail: dict[str, Any] = field(default_factory=dict)  # target, port_name, controller, fabric, hba, host, lun

    def line(self) -> str:
        """One line for a person: ``target 52:4a:..:10 (A-ctl0-p0) dead on 6 hosts (42 paths)``."""
        paths = sum(1 for s in self.symptoms if s.kind == "path")
        where = (f" on {len(self.hosts)} hosts" if len(self.hosts) > 1
                 else f" on {self.host_names[0]}" if self.host_names and self.kind is not Kind.HOST else "")
        more = f" ({paths} path{'s' if paths != 1 else ''})" if paths and self.kind is not Kind.PATH else ""
        return f"{self.name} {self.cause.replace('_', ' ')}{where}{more}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value, "key": self.key, "name": self.name, "cause": self.cause, "line": self.line(),
            "hosts": list(self.host_names), "host_morefs": list(self.hosts), "clusters": list(self.clusters),
            "luns": list(self.luns), "datastores": list(self.datastores), "detail": dict(self.detail),
            "evidence": len(self.symptoms), "paths": sum(1 for s in self.symptoms if s.kind == "path"),
        }


def sorted_unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(items)))
