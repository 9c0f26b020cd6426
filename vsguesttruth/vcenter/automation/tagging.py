"""vSphere tags (``com.vmware.cis.tagging``, Automation API only): which objects carry which tags, in one batch.

Admins mark scope and intent with tags ("category:tag"). :meth:`Tagging.attached` answers, for a few
categories (all their tags) and tags, the objects carrying each, with one
``list_attached_objects_on_tags`` call for all of them; resolving names to ids takes one ``list`` of
categories, a ``get`` per category, and per category asked one ``list_tags_for_category`` and a ``get`` per
tag. Callers read on a timer and cache (never per VM, never per pass). Objects come back as plain
:class:`ObjectRef` (managed object type and id); names as plain strings.

:meth:`Tagging.attach`/:meth:`~Tagging.detach` (creating the category and the tag as needed) and
:meth:`Tagging.tags_of` serve ``vsguesttruth lab tag`` and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from com.vmware.cis.tagging_client import Category, CategoryModel, Tag, TagAssociation
from com.vmware.vapi.std import errors_client as vapi_errors
from com.vmware.vapi.std_client import DynamicID

from .session import Automation

#: the managed object types tags are attached to here (what a tag category may be associable with)
KINDS = ("VirtualMachine", "HostSystem", "ClusterComputeResource", "Datastore")


@dataclass(frozen=True, order=True)
class ObjectRef:
    """A tagged object: its managed object type (``VirtualMachine``) and id (``vm-42``)."""

    kind: str
    moref: str


def split_tag(text: str) -> tuple[str, str]:
    """``"category:tag"`` -> ``(category, tag)`` (split at the first colon); ValueError when either is empty."""
    category, sep, tag = text.partition(":")
    if not sep or not category.strip() or not tag.strip():
        raise ValueError(f"{text!r} is not \"category:tag\"")
    return category.strip(), tag.strip()


class Tagging:
    """Reads and changes tag associations through one :class:`Automation` session."""

    def __init__(self, api: Automation) -> None:
        self.api = api

    # -- names and ids ------------------------------------------------------------------------------

    def _categories(self) -> dict[str, str]:
        """Category name -> id."""
        ids = self.api.call("list tag categories", lambda: self.api.service(Category).list())
        out: dict[str, str] = {}
        for cid in ids:
            try:
                model = self.api.call("read a tag category", lambda: self.api.service(Category).get(cid),
                                      expect=(vapi_errors.NotFound,))
            except vapi_errors.NotFound:  # deleted meanwhile
                continue
            out[model.name] = cid
        return out

    def _tags(self, category_id: str) -> dict[str, str]:
        """Tag name -> id, for the tags of one category."""
        try:
            ids = self.api.call("list the tags of a category",
                                lambda: self.api.service(Tag).list_tags_for_category(category_id),
                                expect=(vapi_errors.NotFound,))
        except vapi_errors.NotFound:
            return {}
        out: dict[str, str] = {}
        for tid in ids:
            try:
                model = self.api.call("read a tag", lambda: self.api.service(Tag).get(tid),
                                      expect=(vapi_errors.NotFound,))
            except vapi_errors.NotFound:
                continue
            out[model.name] = tid
        return out

    # -- reading ------------------------------------------------------------------------------------

    def attached(self, categories: Iterable[str] = (), tags: Iterable[tuple[str, str]] = ()
                 ) -> dict[tuple[str, str], frozenset[ObjectRef]]:
        """``(category, tag) -> objects`` for every tag of ``categories`` and for the ``(category, tag)``
        pairs ``tags``; a name vCenter does not have is absent from the answer (nothing carries it)."""
        wanted_categories = set(categories)
        wanted_tags = set(tags)
        names = self._categories()
        ids: dict[str, tuple[str, str]] = {}  # tag id -> (category, tag)
        for category in sorted(wanted_categories | {c for c, _ in wanted_tags}):
            if category not in names:
                continue
            for tag, tid in self._tags(names[category]).items():
                if category in wanted_categories or (category, tag) in wanted_tags:
                    ids[tid] = (category, tag)
        out: dict[tuple[str, str], frozenset[ObjectRef]] = {pair: frozenset() for pair in ids.values()}
        if not ids:
            return out
        found = self.api.call("list the objects carrying tags",
                              lambda: self.api.service(TagAssociation).list_attached_objects_on_tags(sorted(ids)))
        for item in found:
            pair = ids.get(item.tag_id)
            if pair is not None:
                out[pair] = frozenset(ObjectRef(str(o.type), str(o.id)) for o in item.object_ids or ())
        return out

    def tags_of(self, ref: ObjectRef) -> list[tuple[str, str]]:
        """The ``(category, tag)`` pairs attached to one object, sorted."""
        ids = self.api.call(f"list the tags of {ref.moref}",
                            lambda: self.api.service(TagAssociation).list_attached_tags(_dynamic(ref)))
        category_names: dict[str, str] = {}
        out = []
        for tid in ids:
            model = self.api.call("read a tag", lambda: self.api.service(Tag).get(tid))
            if model.category_id not in category_names:
                category_names[model.category_id] = self.api.call(
                    "read a tag category", lambda: self.api.service(Category).get(model.category_id)).name
            out.append((category_names[model.category_id], model.name))
        return sorted(out)

    # -- changing -----------------------------------------------------------------------------------

    def ensure_tag(self, category: str, tag: str, description: str = "") -> str:
        """The id of tag ``category:tag``, creating the category (multiple cardinality, every object type
        here) and the tag when they do not exist."""
        categories = self._categories()
        cid = categories.get(category)
        if cid is None:
            spec = Category.CreateSpec(name=category, description=description or f"{category} (vsguesttruth)",
                                       cardinality=CategoryModel.Cardinality.MULTIPLE, associable_types=set(KINDS))
            try:
                cid = self.api.call(f"create the tag category {category}",
                                    lambda: self.api.service(Category).create(spec),
                                    expect=(vapi_errors.AlreadyExists,))
            except vapi_errors.AlreadyExists:  # created meanwhile
                cid = self._categories()[category]
        tid = self._tags(cid).get(tag)
        if tid is None:
            spec = Tag.CreateSpec(name=tag, description=description, category_id=cid)
            try:
                tid = self.api.call(f"create the tag {category}:{tag}", lambda: self.api.service(Tag).create(spec),
                                    expect=(vapi_errors.AlreadyExists,))
            except vapi_errors.AlreadyExists:
                tid = self._tags(cid)[tag]
        return tid

    def attach(self, category: str, tag: str, ref: ObjectRef) -> None:
        """Attach ``category:tag`` (created as needed) to one object; attaching again changes nothing."""
        tid = self.ensure_tag(category, tag)
        self.api.call(f"attach {category}:{tag} to {ref.moref}",
                      lambda: self.api.service(TagAssociation).attach(tid, _dynamic(ref)))

    def detach(self, category: str, tag: str, ref: ObjectRef) -> bool:
        """Detach ``category:tag`` from one object; False when no such tag exists."""
        cid = self._categories().get(category)
        tid = self._tags(cid).get(tag) if cid else None
        if tid is None:
            return False
        self.api.call(f"detach {category}:{tag} from {ref.moref}",
                      lambda: self.api.service(TagAssociation).detach(tid, _dynamic(ref)))
        return True


def _dynamic(ref: ObjectRef) -> DynamicID:
    return DynamicID(type=ref.kind, id=ref.moref)


def objects_of(found: Mapping[tuple[str, str], frozenset[ObjectRef]], pairs: Iterable[tuple[str, str]]
               ) -> frozenset[ObjectRef]:
    """The objects carrying any of ``pairs``."""
    out: set[ObjectRef] = set()
    for pair in pairs:
        out |= found.get(pair, frozenset())
    return frozenset(out)


__all__ = ["KINDS", "ObjectRef", "Tagging", "objects_of", "split_tag"]
