"""PropertyCollector plumbing: container views, the filter spec, paged retrieval, property changes.

Modelled on govmomi's ``view.Manager`` + ``property.Collector``: one recursive ContainerView per
managed object type on the root folder, one FilterSpec that traverses every view's ``view``
property and names exactly the property paths :data:`convert.PROPERTIES` lists.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from pyVmomi import vim, vmodl

from . import fastdecode
from .convert import PROPERTIES, VIM_TYPES, Record

log = logging.getLogger(__name__)

PC = vmodl.query.PropertyCollector

#: A real vCenter pages at this size anyway; the lab answers in one page.
DEFAULT_MAX_OBJECTS = 1000


# --------------------------------------------------------------------------------------------
# views and specs


def create_views(content: Any, kinds: Sequence[str] = tuple(PROPERTIES)) -> dict[str, Any]:
    """One recursive ContainerView on the root folder per managed object type."""
    views: dict[str, Any] = {}
    try:
        for kind in kinds:
            views[kind] = content.viewManager.CreateContainerView(content.rootFolder, [VIM_TYPES[kind]], True)
    except BaseException:
        destroy_views(views)
        raise
    return views


def api_version(content: Any) -> str | None:
    """The API version the session speaks (``vim.version.v8_0_2_0``), from its stub; None when unknown."""
    return getattr(getattr(getattr(content, "propertyCollector", None), "_stub", None), "version", None)


def destroy_views(views: Mapping[str, Any]) -> None:
    """Best effort: a view of a dead session is gone already."""
    for view in views.values():
        try:
            view.DestroyView()
        except Exception:  # noqa: BLE001
            pass


def filter_spec(views: Mapping[str, Any], properties: Mapping[str, Sequence[str]] = PROPERTIES) -> Any:
    """A FilterSpec: each view's ``view`` list, and the listed paths for each type."""
    object_set = [
        PC.ObjectSpec(
            obj=view,
            skip=True,
            selectSet=[PC.TraversalSpec(name=f"view-{kind}", type=vim.view.ContainerView, path="view", skip=False)],
        )
        for kind, view in views.items()
    ]
    prop_set = [
        PC.PropertySpec(type=VIM_TYPES[kind], pathSet=list(properties[kind]), all=False)
        for kind in views
        if kind in properties
    ]
    return PC.FilterSpec(objectSet=object_set, propSet=prop_set)


def object_filter_spec(refs: Sequence[Any], properties: Mapping[str, Sequence[str]] = PROPERTIES) -> Any:
    """A FilterSpec for a few objects by reference (a refetch after a change we can't apply)."""
    kinds = sorted({ref._wsdlName for ref in refs})
    return PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=ref, skip=False) for ref in refs],
        propSet=[PC.PropertySpec(type=VIM_TYPES[k], pathSet=list(properties[k]), all=False) for k in kinds],
        reportMissingObjectsInResults=True,
    )


# --------------------------------------------------------------------------------------------
# retrieval


def retrieve(
    collector: Any,
    specs: Sequence[Any],
    max_objects: int | None = DEFAULT_MAX_OBJECTS,
    on_page: Callable[[int], None] | None = None,
    *,
    prefetch: bool = False,
) -> Iterator[Any]:
    """RetrievePropertiesEx, then ContinueRetrievePropertiesEx while there is a token.

    Yields ObjectContent. ``on_page(n)`` is called with each page's object count. If the caller
    stops early, the remaining pages are cancelled (CancelRetrievePropertiesEx).

    ``prefetch``: ask for the next page (in a helper thread) as soon as a page arrives, while the
    caller consumes this one, so the server builds page n+1 while we decode page n. At most two
    pages are held at once.
    """
    options = PC.RetrieveOptions(maxObjects=max_objects) if max_objects else PC.RetrieveOptions()
    result = fastdecode.invoke(None, collector, "RetrievePropertiesEx", specSet=list(specs), options=options)
    while result is not None:
        if on_page is not None:
            on_page(len(result.objects or ()))
        token = result.token
        ahead = _Prefetch(collector, token) if token and prefetch else None
        try:
            yield from result.objects or ()
        except GeneratorExit:
            if ahead is not None:
                try:
                    token = ahead.result().token
                except Exception:  # noqa: BLE001
                    token = None
            if token:
                try:
                    collector.CancelRetrievePropertiesEx(token=token)
                except Exception:  # noqa: BLE001
                    pass
            raise
        if not token:
            return
        result = None  # drop this page before the next one is decoded
        if ahead is not None:
            result = ahead.result()
        else:
            result = fastdecode.invoke(None, collector, "ContinueRetrievePropertiesEx", token=token)


class _Prefetch:
    """ContinueRetrievePropertiesEx(token) running in a helper thread."""

    def __init__(self, collector: Any, token: str) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(collector, token), name="vsgt-prefetch", daemon=True)
        self._thread.start()

    def _run(self, collector: Any, token: str) -> None:
        try:
            self._value = fastdecode.invoke(None, collector, "ContinueRetrievePropertiesEx", token=token)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer's thread
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        value, self._value = self._value, None
        return value


def check_missing(content: Any) -> None:
    """Raise NotAuthenticated if a property is missing because the session is gone.

    (Some servers, vcsim among them, answer RetrieveProperties of a dead session with a
    MissingProperty per path rather than a fault.) Other missing paths (a property this vCenter
    version lacks, no permission on one object) just stay absent.
    """
    for missing in getattr(content, "missingSet", None) or ():
        fault = getattr(missing, "fault", None)
        fault = getattr(fault, "fault", fault)  # LocalizedMethodFault wraps the fault
        if isinstance(fault, vim.fault.NotAuthenticated):
            raise fault
        log.debug("%s: property %s missing: %s", content.obj, missing.path, type(fault).__name__)


def record_of(content: Any) -> tuple[str, Record]:
    """ObjectContent -> (moref, Record)."""
    check_missing(content)
    props = {prop.name: prop.val for prop in content.propSet or ()}
    return content.obj._moId, Record(kind=content.obj._wsdlName, props=props)


# --------------------------------------------------------------------------------------------
# property changes on nested paths


@dataclass(frozen=True)
class Key:
    """``[2000]`` or ``["key-vim.host.ScsiDisk-0200"]`` in a property path."""

    value: str | int


_TOKEN = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+)|([^\]]*))\s*\]')


def parse_path(path: str) -> list[str | Key]:
    """``config.hardware.device[2000].backing`` -> ``['config', 'hardware', 'device', Key(2000), 'backing']``."""
    out: list[str | Key] = []
    pos = 0
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if not match or match.end() == pos:
            raise ValueError(f"cannot parse property path {path!r}")
        name, quoted, number, bare = match.groups()
        if name is not None:
            out.append(name)
        elif quoted is not None:
            out.append(Key(re.sub(r"\\(.)", r"\1", quoted)))
        elif number is not None:
            out.append(Key(int(number)))
        else:
            out.append(Key((bare or "").strip()))
        pos = match.end()
    return out
