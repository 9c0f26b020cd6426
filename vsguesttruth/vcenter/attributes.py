"""Custom attributes (``CustomFieldsManager``): which VMs carry ``name=value``, for the publish scope.

Read with one RetrievePropertiesEx of ``customValue`` over a VM ContainerView, not watched: the watch
stays lean (``customValue`` is on every VM), and the service re-reads it every ``attribute_refresh``
seconds. Values compare exactly; a name no field has means no VM matches.
"""

from __future__ import annotations

from typing import Any

from .connect import Connection
from .convert import VM
from .properties import create_views, destroy_views, filter_spec, retrieve


def field_keys(content: Any, name: str) -> set[int]:
    """Keys of the custom fields called ``name`` that apply to VMs (or to every type)."""
    manager = content.customFieldsManager
    fields = (getattr(manager, "field", None) or ()) if manager is not None else ()
    return {int(f.key) for f in fields
            if f.name == name and (not f.managedObjectType or f.managedObjectType.__name__.endswith("VirtualMachine"))}


def vms_with_attribute(conn: Connection, name: str, value: str) -> set[str]:
    """Morefs of the VMs whose custom attribute ``name`` is exactly ``value``. Raises VsgtError."""

    def call() -> set[str]:
        keys = field_keys(conn.content, name)
        if not keys:
            return set()
        views = create_views(conn.content, (VM,))
        try:
            found: set[str] = set()
            for item in retrieve(conn.content.propertyCollector, [filter_spec(views, {VM: ("customValue",)})]):
                for prop in item.propSet or ():
                    for cv in prop.val or ():
                        if int(cv.key) in keys and str(getattr(cv, "value", "")) == value:
                            found.add(item.obj._moId)
            return found
        finally:
            destroy_views(views)

    return conn.run(call, f"read the custom attribute {name}")
