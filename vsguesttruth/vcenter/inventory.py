"""One pass over vCenter: hosts, clusters, datastores and VMs -> :class:`~vsguesttruth.model.Inventory`.

A single RetrievePropertiesEx (plus ContinueRetrievePropertiesEx pages) through one ContainerView
per type; no per-object calls.
"""

from __future__ import annotations

from typing import Any, Callable

from ..model import Inventory
from .connect import Connection
from .convert import Record, build_inventory
from .properties import DEFAULT_MAX_OBJECTS, create_views, destroy_views, filter_spec, record_of, retrieve


def collect(content: Any, max_objects: int | None = DEFAULT_MAX_OBJECTS,
            on_page: Callable[[int], None] | None = None) -> dict[str, Record]:
    """All records (moref -> Record) in one collector pass. Raw pyVmomi errors."""
    views = create_views(content)
    try:
        spec = filter_spec(views)
        records: dict[str, Record] = {}
        for item in retrieve(content.propertyCollector, [spec], max_objects, on_page):
            mo, record = record_of(item)
            records[mo] = record
        return records
    finally:
        destroy_views(views)


def snapshot(conn: Connection, *, max_objects: int | None = DEFAULT_MAX_OBJECTS,
             on_page: Callable[[int], None] | None = None) -> Inventory:
    """The whole storage inventory now.

    ``max_objects`` is the page size asked of the collector (a vCenter may page smaller).
    A lost session is renewed and the pass retried once; errors are :class:`VsgtError`.
    """
    records = conn.run(lambda: collect(conn.content, max_objects, on_page), "read the inventory")
    return build_inventory(records)
