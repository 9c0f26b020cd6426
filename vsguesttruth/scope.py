"""Which VMs the service publishes to: the admin's ``[scope]``, as a pure predicate.

Every criterion given must hold (each one narrows): clusters (of the VM's current host), VM names (glob
patterns), a custom attribute ``name=value`` (the morefs that carry it are read by the vCenter edge and
passed in), vSphere tags (``tags``: the VM, its host, its host's cluster or a datastore of its disks carries
one of them; ``exclude_tags``: none of those carries one). What carries the tags is read by the edge and
passed in as :class:`~vsguesttruth.model.Tagged`. No criterion: every VM.
"""

from __future__ import annotations

import fnmatch
from typing import AbstractSet

from vsguesttruth.config import ScopeConfig
from vsguesttruth.model import Inventory, Tagged, Vm


class Scope:
    """``scope.includes(vm, inventory)``; ``attribute_vms`` is the set the attribute criterion matches,
    ``tagged``/``excluded`` what carries the scope's ``tags``/``exclude_tags`` (``None`` while unknown: then
    no VM passes that criterion)."""

    def __init__(self, config: ScopeConfig, attribute_vms: AbstractSet[str] | None = None,
                 tagged: Tagged | None = None, excluded: Tagged | None = None) -> None:
        self.config = config
        self.attribute_vms = attribute_vms
        self.tagged = tagged
        self.excluded = excluded
        self._clusters = frozenset(config.clusters)
        self._exact = frozenset(p for p in config.vms if not any(c in p for c in "*?["))
        self._patterns = tuple(p for p in config.vms if p not in self._exact)

    def includes(self, vm: Vm, inv: Inventory) -> bool:
        config = self.config
        if config.clusters:
            host = inv.hosts.get(vm.host)
            if host is None or host.cluster not in self._clusters:
                return False
        if config.vms and vm.name not in self._exact and not any(
                fnmatch.fnmatchcase(vm.name, p) for p in self._patterns):
            return False
        if config.attribute is not None and (self.attribute_vms is None or vm.moref not in self.attribute_vms):
            return False
        if config.tags and (self.tagged is None or not self.tagged.carries(vm, inv)):
            return False
        if config.exclude_tags and (self.excluded is None or self.excluded.carries(vm, inv)):
            return False
        return True

    def with_tags(self, tagged: Tagged | None, excluded: Tagged | None) -> "Scope":
        """The same scope with what carries its tags now."""
        return Scope(self.config, self.attribute_vms, tagged, excluded)

    def describe(self) -> str:
        if self.config.everything:
            return "all VMs"
        parts = []
        if self.config.clusters:
            parts.append("clusters " + ", ".join(self.config.clusters))
        if self.config.vms:
            parts.append("VMs " + ", ".join(self.config.vms))
        if self.config.attribute:
            parts.append("attribute {}={}".format(*self.config.attribute))
        if self.config.tags:
            parts.append("tags " + ", ".join(f"{c}:{t}" for c, t in self.config.tags))
        if self.config.exclude_tags:
            parts.append("not tags " + ", ".join(f"{c}:{t}" for c, t in self.config.exclude_tags))
        return " and ".join(parts)
