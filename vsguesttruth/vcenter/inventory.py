"""One pass over vCenter: hosts, clusters, datastores and VMs -> :class:`~vsguesttruth.model.Inventory`.

A single RetrievePropertiesEx (plus ContinueRetrievePropertiesEx pages) through one ContainerView
per type; no per-object calls.

Memory: each page's pyVmomi objects are reduced to compact values (:func:`convert.compact`) as the
page arrives and dropped, so only one page of pyVmomi objects is ever alive; the model is assembled
from the compact values at the end (cluster and datastore names resolve across pages). The cyclic
garbage collector is paused during the pass: it would otherwise rescan the whole growing heap again
and again (nothing built here makes reference cycles).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Callable

from ..gcpause import paused as gc_paused
from ..model import Inventory
from . import eventfeed
from .connect import Connection
from .errors import VsgtError
from .convert import Record, assemble_inventory, compact_record, properties_for
from .properties import DEFAULT_MAX_OBJECTS, api_version, create_views, destroy_views, filter_spec, record_of, retrieve

log = logging.getLogger(__name__)


def collect(content: Any, max_objects: int | None = DEFAULT_MAX_OBJECTS,
            on_page: Callable[[int], None] | None = None) -> dict[str, Record]:
    """All records (moref -> Record of compact values) in one collector pass. Raw pyVmomi errors."""
    views = create_views(content)
    try:
        spec = filter_spec(views, properties_for(api_version(content)))
        records: dict[str, Record] = {}
        items = retrieve(content.propertyCollector, [spec], max_objects, on_page, prefetch=True)
        try:
            with gc_paused():
                for item in items:
                    mo, record = record_of(item)
                    records[mo] = compact_record(record.kind, record.props)
        finally:
            items.close()  # on an error: wait for a page fetched ahead, cancel the rest
        return records
    finally:
        destroy_views(views)


def snapshot(conn: Connection, *, max_objects: int | None = DEFAULT_MAX_OBJECTS,
             on_page: Callable[[int], None] | None = None, events: bool = False) -> Inventory:
    """The whole storage inventory now.

    ``max_objects`` is the page size asked of the collector (a vCenter may page smaller).
    ``events``: also read the hosts' open storage conditions from the last day of events (evidence and
    "since"; a failure to read them is logged, the inventory stands without).
    A lost session is renewed and the pass retried once; errors are :class:`VsgtError`.
    """
    records = conn.run(lambda: collect(conn.content, max_objects, on_page), "read the inventory")
    with gc_paused():
        inv = assemble_inventory(records, dict(conn.settings.port_names))
    if events:
        try:
            inv = replace(inv, device_events=eventfeed.recent(conn))
        except VsgtError as err:
            log.warning("the hosts' storage events are not read: %s", err)
    return inv
