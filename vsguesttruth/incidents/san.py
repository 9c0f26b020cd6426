"""The SAN as the hosts' paths draw it: target ports, array controllers and fabrics, inferred, never configured.

vCenter knows hosts, HBAs, paths and target WWPNs; it has no object for a switch or an array controller.
Both are inferred here from what the paths say:

- **fabrics** are the connected components of "this HBA reaches that target port" (every path with a
  target is an edge): two HBAs are on the same fabric when some chain of paths links them. They are named
  ``A``, ``B``, ... in the order of the HBA device name most of their HBAs carry, then their lowest target
  WWPN, which gives the names storage admins use when every host cables ``vmhba2`` to one switch;
- **controllers** group target ports: by the array's port name where the admin's config gives one
  (``A-ctl0-p0`` and ``A-ctl0-p1`` are ports of ``A-ctl0``: the name without its last token), else by the
  target node WWN the ports share (``Path.target_node``; many arrays give one node WWN per controller, some
  one per array, in which case the group is the whole array). A group of one port is no controller.

Pure: a ``model.Inventory`` in, plain data out.
"""

from __future__ import annotations

import re
import string
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping

from vsguesttruth.model import Inventory

HbaRef = tuple[str, str]  # (host moref, HBA device)

_LAST_TOKEN = re.compile(r"^(?P<head>.*?[^-_.:/])[-_.:/]+(?P<tail>[^-_.:/]*\d[^-_.:/]*)$")


@dataclass(frozen=True, slots=True)
class Port:
    """An array target port as the hosts' paths show it."""

    wwpn: str  # Path.target: the port WWPN (FC) or the iSCSI target name
    name: str  # the array's name for it ("A-ctl0-p0") where known, else ""
    node: str  # the target node WWN where known, else ""
    controller: str  # the key of its controller, "" when none is inferred
    fabric: str  # the name of its fabric ("A")

    @property
    def label(self) -> str:
        """How people call it: ``52:4a:..:10 (A-ctl0-p0)``."""
        return f"{self.wwpn} ({self.name})" if self.name and self.name != self.wwpn else self.wwpn


@dataclass(frozen=True, slots=True)
class Controller:
    key: str  # "A-ctl0", or "node:<wwnn>"
    name: str  # "A-ctl0", or "node 50:0a:..."
    ports: tuple[str, ...]  # WWPNs


@dataclass(frozen=True, slots=True)
class Fabric:
    name: str  # "A"
    hbas: tuple[HbaRef, ...]
    ports: tuple[str, ...]  # WWPNs
    device: str  # the HBA device name most of its HBAs carry ("vmhba2")


class SanMap:
    """Ports, controllers and fabrics of one inventory, and lookups by the names people type."""

    def __init__(self, ports: Mapping[str, Port], controllers: Mapping[str, Controller],
                 fabrics: Mapping[str, Fabric], hba_fabric: Mapping[HbaRef, str]) -> None:
        self.ports = dict(ports)
        self.controllers = dict(controllers)
        self.fabrics = dict(fabrics)
        self.hba_fabric = dict(hba_fabric)

    def fabric_of(self, host: str, hba: str) -> str:
        return self.hba_fabric.get((host, hba), "")

    def port(self, target: str) -> Port | None:
        return self.ports.get(target)

    def find_port(self, ref: str) -> Port | None:
        """A port by WWPN (any case, with or without colons) or by the array's port name."""
        wanted = _plain(ref)
        for port in self.ports.values():
            if _plain(port.wwpn) == wanted or (port.name and port.name.lower() == ref.lower()):
                return port
        return None

    def find_controller(self, ref: str) -> Controller | None:
        """A controller by its key, its name, a node WWN, or the name/WWPN of one of its ports."""
        low = ref.lower()
        for ctl in self.controllers.values():
            if low in (ctl.key.lower(), ctl.name.lower()) or _plain(ctl.key.removeprefix("node:")) == _plain(ref):
                return ctl
        port = self.find_port(ref)
        if port is not None and port.controller:
            return self.controllers[port.controller]
        return None

    def find_fabric(self, ref: str) -> Fabric | None:
        """A fabric by name (``A``), by an HBA (``esx-a01/vmhba2`` takes host names), or by a port of it."""
        if ref.upper() in self.fabrics:
            return self.fabrics[ref.upper()]
        port = self.find_port(ref)
        return self.fabrics.get(port.fabric) if port is not None else None


def san_map(inv: Inventory) -> SanMap:
    """Infer ports, controllers and fabrics from every path with a target (of every host, connected or not:
    the structure of a host vCenter cannot reach is its last known one)."""
    parent: dict[object, object] = {}

    def find(x: object) -> object:
        root = x
        while parent[root] is not root:
            root = parent[root]
        while parent[x] is not root:
            parent[x], x = root, parent[x]
        return root

    def union(a: object, b: object) -> None:
        for x in (a, b):
            if x not in parent:
                parent[x] = x
        ra, rb = find(a), find(b)
        if ra is not rb:
            parent[ra] = rb

    names: dict[str, str] = {}
    nodes: dict[str, str] = {}
    for host in inv.hosts.values():
        edges = set()
        for p in host.paths:
            if not p.target:
                continue
            edges.add((p.hba, p.target))
            if p.target_port_name and p.target not in names:
                names[p.target] = p.target_port_name
            if p.target_node and p.target not in nodes:
                nodes[p.target] = p.target_node
        for hba, target in edges:
            union(("h", host.moref, hba), ("t", target))
    groups: dict[object, list[object]] = defaultdict(list)
    for x in parent:
        groups[find(x)].append(x)
    fabrics = _name_fabrics(groups.values())
    hba_fabric: dict[HbaRef, str] = {}
    port_fabric: dict[str, str] = {}
    for fabric in fabrics.values():
        hba_fabric.update((h, fabric.name) for h in fabric.hbas)
        port_fabric.update((t, fabric.name) for t in fabric.ports)
    controllers = _controllers(sorted(port_fabric), names, nodes)
    of_port = {wwpn: c.key for c in controllers.values() for wwpn in c.ports}
    ports = {t: Port(t, names.get(t, ""), nodes.get(t, ""), of_port.get(t, ""), port_fabric[t]) for t in sorted(port_fabric)}
    return SanMap(ports, controllers, fabrics, hba_fabric)


def _name_fabrics(groups: Iterable[list[object]]) -> dict[str, Fabric]:
    found = []
    for members in groups:
        hbas = tuple(sorted((m[1], m[2]) for m in members if m[0] == "h"))  # type: ignore[index]
        ports = tuple(sorted(m[1] for m in members if m[0] == "t"))  # type: ignore[index]
        device = Counter(d for _, d in hbas).most_common()
        top = min((d for d, n in device if n == device[0][1]), default="")
        found.append((top, ports[0] if ports else "", hbas, ports))
    found.sort(key=lambda f: (f[0], f[1]))
    out = {}
    for i, (device, _, hbas, ports) in enumerate(found):
        name = _letters(i)
        out[name] = Fabric(name, hbas, ports, device)
    return out


def _letters(i: int) -> str:
    letters = string.ascii_uppercase
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


def _controllers(ports: list[str], names: Mapping[str, str], nodes: Mapping[str, str]) -> dict[str, Controller]:
    """Ports grouped by their name's head (``A-ctl0-p1`` -> ``A-ctl0``), else by a shared node WWN."""
    by_key: dict[str, list[str]] = defaultdict(list)
    for wwpn in ports:
        key = controller_of_name(names.get(wwpn, ""))
        if not key and nodes.get(wwpn):
            key = "node:" + nodes[wwpn]
        if key:
            by_key[key].append(wwpn)
    return {key: Controller(key, key.replace("node:", "node ", 1), tuple(members))
            for key, members in sorted(by_key.items()) if len(members) > 1}


def controller_of_name(port_name: str) -> str:
    """The controller an array port name implies: the name without its last numbered token
    (``A-ctl0-p0`` -> ``A-ctl0``, ``CT0.FC2`` -> ``CT0``, ``SPA_port1`` -> ``SPA``); "" when it has none."""
    found = _LAST_TOKEN.match(port_name.strip())
    return found.group("head") if found else ""


def _plain(wwn: str) -> str:
    return wwn.lower().replace(":", "").replace("-", "")
