"""vSphere tags for the scope and for replica pairs, read in one batch and cached.

The Automation API reads them (:class:`.automation.Tagging`: one ``list_attached_objects_on_tags`` for every
tag wanted); SOAP names the tagged clusters and datastores (one RetrievePropertiesEx each kind). Tags have no
change notification: :class:`TagCache` is read on the service's timer (``[scope] tag_refresh``) and on demand,
never per VM nor per pass, and keeps what it read last when a read fails.

- the scope: ``[scope] tags`` and ``exclude_tags`` -> :class:`~vsguesttruth.scope.Tagged` (VM, host and
  datastore morefs, cluster names);
- replicas: every tag of ``[remediation] replica_tag_category`` on a datastore names that datastore's
  primary: tag ``vsgt-replica-of:ds-gold`` on ``ds-gold-replica`` gives ``{"ds-gold": "ds-gold-replica"}``,
  beside the ``replica_attribute`` custom attribute (its pairs win) and ``[replicas]`` (the planner's win).
"""

from __future__ import annotations

import logging
import time
from typing import Iterable, Mapping

from pyVmomi import vim, vmodl

from vsguesttruth.model import Tagged

from .automation import Automation, ObjectRef, Tagging, connect_automation, objects_of
from .connect import Connection
from .errors import NotFound, VsgtError
from .migrate import replica_pairs

log = logging.getLogger(__name__)

_TYPES = {"VirtualMachine": vim.VirtualMachine, "HostSystem": vim.HostSystem,
          "ClusterComputeResource": vim.ClusterComputeResource, "Datastore": vim.Datastore}


def names_of(conn: Connection, kind: str, morefs: Iterable[str]) -> dict[str, str]:
    """moref -> name for objects of one managed object type (one RetrievePropertiesEx); gone ones are absent."""
    refs = sorted(set(morefs))
    if not refs:
        return {}
    PC = vmodl.query.PropertyCollector
    spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=_TYPES[kind](m, conn.si._stub), skip=False) for m in refs],
                         propSet=[PC.PropertySpec(type=_TYPES[kind], pathSet=["name"])],
                         reportMissingObjectsInResults=True)

    def read() -> dict[str, str]:
        out: dict[str, str] = {}
        result = conn.content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
        while result is not None:
            for obj in result.objects or ():
                for prop in obj.propSet or ():
                    out[obj.obj._moId] = str(prop.val)
            token = result.token
            result = conn.content.propertyCollector.ContinueRetrievePropertiesEx(token) if token else None
        return out

    return conn.run(read, f"read the names of {len(refs)} {kind} objects")


def find_object(conn: Connection, kind: str, name: str) -> ObjectRef:
    """The object of ``kind`` (VirtualMachine, HostSystem, ClusterComputeResource, Datastore) called ``name``;
    NotFound otherwise."""
    content = conn.content

    def find() -> str | None:
        view = content.viewManager.CreateContainerView(content.rootFolder, [_TYPES[kind]], True)
        try:
            for obj in view.view or ():
                if obj.name == name:
                    return obj._moId
            return None
        finally:
            view.DestroyView()

    moref = conn.run(find, f"find {kind} {name}")
    if moref is None:
        raise NotFound(f"no {kind} named {name!r} in vCenter at {conn.url}")
    return ObjectRef(kind, moref)


def tagged(conn: Connection, refs: Iterable[ObjectRef]) -> Tagged:
    """Tagged objects as the scope wants them (clusters by name)."""
    by_kind: dict[str, set[str]] = {}
    for ref in refs:
        by_kind.setdefault(ref.kind, set()).add(ref.moref)
    clusters = names_of(conn, "ClusterComputeResource", by_kind.get("ClusterComputeResource", ()))
    return Tagged(vms=frozenset(by_kind.get("VirtualMachine", ())), hosts=frozenset(by_kind.get("HostSystem", ())),
                  clusters=frozenset(clusters.values()), datastores=frozenset(by_kind.get("Datastore", ())))


def tag_replicas(conn: Connection, found: Mapping[tuple[str, str], frozenset[ObjectRef]], category: str
                 ) -> dict[str, str]:
    """Primary datastore name -> replica name, from the tags of ``category`` on datastores."""
    pairs = {tag: sorted(r.moref for r in refs if r.kind == "Datastore")
             for (cat, tag), refs in found.items() if cat == category}
    names = names_of(conn, "Datastore", {m for morefs in pairs.values() for m in morefs})
    out: dict[str, str] = {}
    for primary, morefs in sorted(pairs.items()):
        replicas = sorted(names[m] for m in morefs if m in names)
        if len(replicas) > 1:
            log.warning("tag %s:%s is on %d datastores (%s): %s is used as the replica of %s", category, primary,
                        len(replicas), ", ".join(replicas), replicas[0], primary)
        if replicas:
            out[primary] = replicas[0]
    return out


def replicas(conn: Connection, attribute: str = "", category: str = "", api: Automation | None = None
             ) -> dict[str, str]:
    """Datastore name -> replica name from the datastores' custom attribute ``attribute`` and the tags of
    ``category`` (``[remediation] replica_attribute``, ``replica_tag_category``; "" : not used)."""
    out: dict[str, str] = {}
    if category:
        own = api is None
        api = api or connect_automation(conn.settings)
        try:
            out.update(tag_replicas(conn, Tagging(api).attached(categories=[category]), category))
        finally:
            if own:
                api.close()
    if attribute:
        out.update(replica_pairs(conn, attribute))
    return out


class TagCache:
    """What the service reads from tags, together: the scope's tagged and excluded objects, the replica pairs.

    ``read()`` reads (one Automation API batch, a few SOAP reads) or raises; ``refresh()`` says whether it
    could, and keeps the last values after a failure. ``tagged``/``excluded`` are None until a read succeeded.
    """

    def __init__(self, conn: Connection, tags: Iterable[tuple[str, str]] = (),
                 exclude_tags: Iterable[tuple[str, str]] = (), replica_category: str = "", replica_attribute: str = "",
                 *, api: Automation | None = None) -> None:
        self.conn = conn
        self.tags = tuple(tags)
        self.exclude_tags = tuple(exclude_tags)
        self.replica_category = replica_category
        self.replica_attribute = replica_attribute
        self._api = api
        self._own = api is None
        self.tagged: Tagged | None = None
        self.excluded: Tagged | None = None
        self.replicas: dict[str, str] = {}
        self.read_at: float | None = None  # time.monotonic() of the last good read
        self.reads = 0

    @property
    def wanted(self) -> bool:
        """Whether the config asks for any tag."""
        return bool(self.tags or self.exclude_tags or self.replica_category)

    def api(self) -> Automation:
        if self._api is None:
            self._api = connect_automation(self.conn.settings)
        return self._api

    def read(self) -> None:
        """Read every tag the config names now; raises a one-line VsgtError when vCenter cannot answer."""
        category = self.replica_category
        found = Tagging(self.api()).attached(categories=[category] if category else [],
                                             tags=[*self.tags, *self.exclude_tags])
        included = tagged(self.conn, objects_of(found, self.tags)) if self.tags else None
        excluded = tagged(self.conn, objects_of(found, self.exclude_tags)) if self.exclude_tags else None
        pairs = tag_replicas(self.conn, found, category) if category else {}
        if self.replica_attribute:
            pairs.update(replica_pairs(self.conn, self.replica_attribute))
        self.tagged, self.excluded, self.replicas = included, excluded, pairs
        self.read_at = time.monotonic()
        self.reads += 1

    def refresh(self) -> bool:
        """:meth:`read`; False (and a warning) when vCenter could not answer: the last values stay."""
        try:
            self.read()
        except VsgtError as err:
            log.warning("cannot read vSphere tags (the scope and replicas keep what was read last): %s", err)
            return False
        return True

    def close(self) -> None:
        if self._own and self._api is not None:
            self._api.close()
            self._api = None


__all__ = ["TagCache", "find_object", "names_of", "replicas", "tag_replicas", "tagged"]
