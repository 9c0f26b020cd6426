"""vSphere tags on the lab's objects, for demos and tests: attach, detach, list (``vsguesttruth lab tag``).

Through the product's own Automation API client (``vsguesttruth.vcenter.automation``) on the lab's
Automation API, as an admin would tag in the vSphere Client: the category (multiple cardinality, every object
type) and the tag are created when missing. Objects are named as the CLI names them: ``vm``, ``host``,
``cluster`` or ``datastore`` and the object's name.
"""

from __future__ import annotations

from typing import Any

KINDS = {"vm": "VirtualMachine", "host": "HostSystem", "cluster": "ClusterComputeResource", "datastore": "Datastore"}
NAMES = {v: k for k, v in KINDS.items()}


class LabTags:
    """Tags on the running lab (``info``: a LabInfo)."""

    def __init__(self, info: Any) -> None:
        from vsguesttruth.vcenter import ConnectionSettings, connect
        from vsguesttruth.vcenter.automation import Tagging, connect_automation

        settings = ConnectionSettings(url=info.url, username=info.username, password=info.password,
                                      ca_file=info.cert or None)
        self.conn = connect(settings)
        try:
            self.api = connect_automation(settings)
        except BaseException:
            self.conn.close()
            raise
        self.tagging = Tagging(self.api)

    def close(self) -> None:
        self.api.close()
        self.conn.close()

    def __enter__(self) -> "LabTags":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ref(self, kind: str, name: str) -> Any:
        from vsguesttruth.vcenter import find_object

        return find_object(self.conn, KINDS[kind], name)

    def attach(self, tag: str, kind: str, name: str) -> None:
        from vsguesttruth.vcenter.automation import split_tag

        self.tagging.attach(*split_tag(tag), self._ref(kind, name))

    def detach(self, tag: str, kind: str, name: str) -> bool:
        from vsguesttruth.vcenter.automation import split_tag

        return self.tagging.detach(*split_tag(tag), self._ref(kind, name))

    def of(self, kind: str, name: str) -> list[str]:
        """The tags ``category:tag`` on one object."""
        return [f"{c}:{t}" for c, t in self.tagging.tags_of(self._ref(kind, name))]

    def carrying(self, tag: str) -> list[tuple[str, str]]:
        """``(kind, name)`` of the objects carrying ``category:tag``."""
        from vsguesttruth.vcenter.automation import split_tag
        from vsguesttruth.vcenter.tags import names_of

        pair = split_tag(tag)
        refs = self.tagging.attached(tags=[pair]).get(pair, frozenset())
        out = []
        for type_name in sorted({r.kind for r in refs}):
            names = names_of(self.conn, type_name, [r.moref for r in refs if r.kind == type_name])
            out += [(NAMES.get(type_name, type_name), names.get(r.moref, r.moref)) for r in refs if r.kind == type_name]
        return sorted(out)
