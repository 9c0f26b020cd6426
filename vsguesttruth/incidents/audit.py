"""The audit: single points of failure, found before they fail. For every disk that is healthy now:

- ``single_hba``, ``single_target``, ``single_controller``, ``single_fabric``: every available path (active or
  standby) from the VM's host to one of the disk's LUNs goes through one HBA, one array port, one controller
  or one fabric (:mod:`.san`): that one failure takes the disk down (a controller only where the array's port
  names in ``[san] port_names`` say which ports it holds: a shared node WWN may be the whole array's);
- ``presentation``: a LUN of the disk (or an NFS datastore) reaches fewer hosts of the VM's cluster than the VM
  could run on (connected, not in maintenance, allowed by ``[remediation] allowed_hosts``): HA and vMotion
  have fewer places to put the VM, and a move there loses the disk;
- ``path_drift``: a host's path count to a LUN differs from what most of its cluster peers have (zoning or
  masking drift): found per host, with every LUN that drifts, whether or not VMs run there now;
- ``no_replica``: a datastore the admin wants replicated (``[audit] replicas_wanted``, name globs) has no
  replica (``[replicas]``, or the replica custom attribute);
- ``rdm_mapping``: an RDM whose mapping file sits on a datastore reached through a single path from the
  VM's host (the LUN may be redundant, the file that maps it is not).

Each :class:`Finding` names the component and the disks and VMs one failure of it would hit; findings are
ranked by that count. Healthy disks are the truth's (``TruthContext.disk_truths``); paths are read as the
model gives them. Local disks (one path by nature) are not findings. Pure.
"""

from __future__ import annotations

import fnmatch
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from vsguesttruth.gcpause import paused as gc_paused
from vsguesttruth.model import Host, Inventory, Path
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import DiskTruth, TruthContext, Verdict

from .failure import sorted_unique
from .san import SanMap, san_map

KINDS = ("single_hba", "single_target", "single_controller", "single_fabric", "presentation", "path_drift",
         "no_replica", "rdm_mapping")


@dataclass(frozen=True, slots=True)
class Exposed:
    """A disk one failure of the finding's component would hit."""

    vm: str
    vm_name: str
    key: int
    label: str
    host: str  # host name

    def as_dict(self) -> dict[str, Any]:
        return {"vm": self.vm_name, "vm_moref": self.vm, "key": self.key, "disk": self.label, "host": self.host}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    key: str  # the component: "hba:<host moref>/vmhba2", "fabric:A", "lun:<naa>@cl-a", "host:<moref>", ...
    component: str  # how people call it
    why: str  # one line
    disks: tuple[Exposed, ...]
    hosts: tuple[str, ...] = ()  # host names involved
    clusters: tuple[str, ...] = ()
    datastores: tuple[str, ...] = ()  # datastore names
    luns: tuple[str, ...] = ()

    @property
    def vms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.vm_name for d in self.disks))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "component": self.component, "why": self.why,
                "disk_count": len(self.disks), "vm_count": len(self.vms), "vms": list(self.vms),
                "disks": [d.as_dict() for d in self.disks], "hosts": list(self.hosts), "clusters": list(self.clusters),
                "datastores": list(self.datastores), "luns": list(self.luns)}


class _Builder:
    def __init__(self) -> None:
        self.disks: dict[tuple[str, str], dict[tuple[str, int], Exposed]] = defaultdict(dict)
        self.meta: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, kind: str, key: str, disk: Exposed | None, **given: Any) -> None:
        where = (kind, key)
        meta = dict(given)
        if disk is not None:
            self.disks[where][disk.vm, disk.key] = disk
        else:
            self.disks[where]  # noqa: B018 - a finding with no disk (a drifting host without VMs)
        found = self.meta.setdefault(where, {"hosts": set(), "clusters": set(), "datastores": set(), "luns": set()})
        for name in ("hosts", "clusters", "datastores", "luns"):
            found[name].update(meta.pop(name, ()))
        found.update(meta)

    def findings(self) -> list[Finding]:
        out = []
        for (kind, key), disks in self.disks.items():
            meta = self.meta[kind, key]
            ordered = tuple(sorted(disks.values(), key=lambda d: (d.vm_name, d.vm, d.key)))
            vms = len({d.vm for d in ordered})
            why = meta["why"].format(disks=len(ordered), vms=vms, s="s" if len(ordered) != 1 else "",
                                     vs="s" if vms != 1 else "")
            out.append(Finding(kind, key, meta["component"], why, ordered, sorted_unique(meta["hosts"]),
                               sorted_unique(meta["clusters"]), sorted_unique(meta["datastores"]),
                               sorted_unique(meta["luns"])))
        out.sort(key=lambda f: (-len(f.disks), KINDS.index(f.kind), f.key))
        return out


def audit(inv: Inventory, ctx: TruthContext | None = None, *, level: ServiceLevel | None = None,
          san: SanMap | None = None, replicas: Mapping[str, str] | None = None,
          replicas_wanted: Iterable[str] = (), allowed_hosts: Iterable[str] = ()) -> list[Finding]:
    """Every single point of failure of the inventory's healthy disks, the most disks first.

    ``replicas``: datastore name -> replica name (config and custom attribute); ``replicas_wanted``: name
    globs of datastores the admin wants replicated; ``allowed_hosts``: host name globs VMs may run on (empty:
    any host of their cluster)."""
    with gc_paused():
        return _audit(inv, ctx, level=level, san=san, replicas=replicas, replicas_wanted=replicas_wanted,
                      allowed_hosts=allowed_hosts)


def _audit(inv: Inventory, ctx: TruthContext | None = None, *, level: ServiceLevel | None = None,
           san: SanMap | None = None, replicas: Mapping[str, str] | None = None,
           replicas_wanted: Iterable[str] = (), allowed_hosts: Iterable[str] = ()) -> list[Finding]:
    ctx = ctx or TruthContext(inv)
    san = san or san_map(inv)
    allowed = tuple(allowed_hosts)
    out = _Builder()

    def paths_of(host: Host) -> Mapping[str, list[Path]]:
        return ctx.paths_by_lun(host.moref)

    healthy = [d for d in ctx.disk_truths(level) if d.verdict is Verdict.HEALTHY]
    stores_of: dict[str, list[str]] = defaultdict(list)  # LUN -> the datastores it is an extent of
    for ds in inv.datastores.values():
        for name in ds.extents:
            stores_of[name].append(ds.name)
    cluster_hosts: dict[str, list[Host]] = defaultdict(list)
    for host in inv.hosts.values():
        if host.cluster:
            cluster_hosts[host.cluster].append(host)
    runnable = {c: [h for h in hosts if h.connected and not h.maintenance
                    and (not allowed or any(fnmatch.fnmatchcase(h.name, g) for g in allowed))]
                for c, hosts in cluster_hosts.items()}
    singles: dict[tuple[str, str], list[tuple[str, str, dict]]] = {}
    presented: dict[tuple[str, str], tuple[str, str, dict] | None] = {}
    for d in healthy:
        host = inv.hosts.get(d.host_moref)
        if host is None:
            continue
        disk = Exposed(d.vm, d.vm_name, d.key, d.label, host.name)
        for lun in d.luns:
            if lun.local:
                continue
            name = lun.canonical_name
            found = singles.get((host.moref, name))
            if found is None:
                found = singles[host.moref, name] = _single(host, name, paths_of(host).get(name, ()), san,
                                                             stores_of.get(name, []))
            if host.cluster:
                if (host.cluster, name) not in presented:
                    presented[host.cluster, name] = _presentation(host.cluster, name, runnable[host.cluster], paths_of,
                                                                    stores_of.get(name, []))
                found = found + [x for x in [presented[host.cluster, name]] if x is not None]
            for kind, key, meta in found:
                out.add(kind, key, disk, **meta)
        for ds in d.datastores:
            if not ds.extents and host.cluster:
                if (host.cluster, ds.moref) not in presented:
                    presented[host.cluster, ds.moref] = _mounted(host.cluster, ds.moref, runnable[host.cluster], inv)
                found_ds = presented[host.cluster, ds.moref]
                if found_ds is not None:
                    out.add(found_ds[0], found_ds[1], disk, **found_ds[2])
        if d.disk.backing.startswith("rdm") and d.disk.datastores:
            _rdm_mapping(out, disk, d, host, paths_of(host), inv)
    _drift(out, cluster_hosts, paths_of, healthy, inv, stores_of)
    _replicas(out, healthy, inv, replicas or {}, tuple(replicas_wanted))
    return out.findings()


def _single(host: Host, lun: str, paths: Iterable[Path], san: SanMap, stores: list[str]) -> list[tuple[str, str, dict]]:
    """The single points of failure of one LUN from one host: (kind, key, what the finding says); ``stores``: the
    datastores the LUN is an extent of."""
    up = [p for p in paths if p.state.working]
    if not up:
        return []
    meta = dict(hosts=[host.name], clusters=[host.cluster] if host.cluster else [], datastores=stores, luns=[lun])
    every = "every available path of {disks} disk{s} ({vms} VM{vs})"
    found = []
    hbas = {p.hba for p in up}
    if len(hbas) == 1:
        hba = hbas.pop()
        found.append(("single_hba", f"hba:{host.moref}/{hba}", dict(
            component=f"{hba} on {host.name}", why=f"{every} on {host.name} goes through {hba}", **meta)))
    ports = [san.port(p.target) for p in up]
    fabrics = {san.fabric_of(host.moref, p.hba) for p in up}
    if len(fabrics) == 1 and "" not in fabrics:
        fabric = fabrics.pop()
        found.append(("single_fabric", f"fabric:{fabric}", dict(
            component=f"fabric {fabric}", why=f"{every} goes through fabric {fabric}", **meta)))
    if any(port is None for port in ports):
        return found  # a path without a known target port (not read): no port-level finding
    targets = {port.wwpn for port in ports}  # type: ignore[union-attr]
    if len(targets) == 1:
        label = ports[0].label  # type: ignore[union-attr]
        found.append(("single_target", f"target:{targets.pop()}", dict(
            component=f"target {label}", why=f"{every} goes through target {label}", **meta)))
    controllers = {port.controller for port in ports}  # type: ignore[union-attr]
    if len(controllers) == 1 and "" not in controllers and len({p.target for p in up}) > 1 \
            and not next(iter(controllers)).startswith("node:"):  # a node WWN may be the whole array's: no claim
        ctl = san.controllers[controllers.pop()]
        found.append(("single_controller", f"controller:{ctl.key}", dict(
            component=f"controller {ctl.name}", why=f"{every} goes through controller {ctl.name}", **meta)))
    return found


def _presentation(cluster: str, lun: str, runnable: list[Host], paths_of: Any,
                  stores: list[str]) -> tuple[str, str, dict] | None:
    """A LUN that reaches fewer of the cluster's hosts than a VM of it could run on (kind, key, what it says)."""
    if len(runnable) < 2:
        return None
    reach = [h for h in runnable if any(p.state.working for p in paths_of(h).get(lun, ()))]
    if len(reach) == len(runnable):
        return None
    missing = [h.name for h in runnable if h not in reach]
    return ("presentation", f"lun:{lun}@{cluster}", dict(
        component=f"LUN {lun}{' (' + ', '.join(stores) + ')' if stores else ''} in {cluster}",
        why=(f"reaches {len(reach)} of the {len(runnable)} hosts of {cluster} its {{disks}} disk{{s}} ({{vms}} VM{{vs}}) "
             f"could run on; not {', '.join(missing)}"),
        hosts=missing, clusters=[cluster], datastores=stores, luns=[lun]))


def _mounted(cluster: str, moref: str, runnable: list[Host], inv: Inventory) -> tuple[str, str, dict] | None:
    """The same for a datastore without extents (NFS): mounted on fewer hosts of the cluster."""
    ds = inv.datastores.get(moref)
    if ds is None or len(runnable) < 2:
        return None
    mounted = {m.host for m in ds.mounts if m.mounted}
    missing = [h.name for h in runnable if h.moref not in mounted]
    if not missing:
        return None
    return ("presentation", f"datastore:{moref}@{cluster}", dict(
        component=f"datastore {ds.name} in {cluster}",
        why=(f"mounted on {len(runnable) - len(missing)} of the {len(runnable)} hosts of {cluster} its {{disks}} "
             f"disk{{s}} ({{vms}} VM{{vs}}) could run on; not {', '.join(missing)}"),
        hosts=missing, clusters=[cluster], datastores=[ds.name]))


def _rdm_mapping(out: _Builder, disk: Exposed, d: DiskTruth, host: Host, paths: Mapping[str, list[Path]],
                 inv: Inventory) -> None:
    ds = inv.datastores.get(d.disk.datastores[-1])  # the chain's last file is the mapping file
    if ds is None or not ds.extents:
        return
    up = [p for name in ds.extents for p in paths.get(name, ()) if p.state.working]
    if len(up) == 1:
        out.add("rdm_mapping", f"rdm:{ds.moref}@{host.moref}", disk, component=f"datastore {ds.name} on {host.name}",
                why=(f"the mapping files of {{disks}} RDM disk{{s}} ({{vms}} VM{{vs}}) sit on {ds.name}, reached through "
                     f"one path ({up[0].name}) from {host.name}"),
                hosts=[host.name], clusters=[host.cluster] if host.cluster else [], datastores=[ds.name],
                luns=list(ds.extents))


def _drift(out: _Builder, cluster_hosts: Mapping[str, list[Host]], paths_of: Any, healthy: list[DiskTruth],
           inv: Inventory, stores_of: Mapping[str, list[str]]) -> None:
    on_host: dict[tuple[str, str], list[DiskTruth]] = defaultdict(list)
    for d in healthy:
        for lun in d.luns:
            on_host[d.host_moref, lun.canonical_name].append(d)
    for cluster, hosts in cluster_hosts.items():
        peers = [h for h in hosts if h.connected]
        if len(peers) < 2:
            continue
        counts: dict[str, dict[str, int]] = defaultdict(dict)  # lun -> host moref -> paths
        for h in peers:
            for name, paths in paths_of(h).items():
                if paths and paths[0].target:
                    counts[name][h.moref] = len(paths)
        drifting: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        for name, per_host in counts.items():
            if len(per_host) < 2:
                continue
            usual, seen = Counter(per_host.values()).most_common(1)[0]
            if seen * 2 <= len(per_host):
                continue  # no majority: nothing to call drift
            for moref, n in per_host.items():
                if n != usual:
                    drifting[moref].append((name, n, usual))
        for moref, luns in drifting.items():
            host = inv.hosts[moref]
            words = sorted({(n, usual) for _, n, usual in luns})
            what = "; ".join(f"{n} path{'s' if n != 1 else ''} where its peers have {usual}" for n, usual in words)
            names = sorted(name for name, _, _ in luns)
            stores = sorted({ds for name in names for ds in stores_of.get(name, ())})
            exposed = [Exposed(d.vm, d.vm_name, d.key, d.label, host.name)
                       for name in names for d in on_host.get((moref, name), ())]
            key = f"host:{moref}"
            for disk in exposed or [None]:
                out.add("path_drift", key, disk, component=f"{host.name} in {cluster}",
                        why=(f"{host.name} has {what} on {len(names)} LUN{'s' if len(names) != 1 else ''} "
                             f"(zoning or masking drift); {{disks}} disk{{s}} ({{vms}} VM{{vs}}) there now"),
                        hosts=[host.name], clusters=[cluster], datastores=stores, luns=names)


def _replicas(out: _Builder, healthy: list[DiskTruth], inv: Inventory, replicas: Mapping[str, str],
              wanted: tuple[str, ...]) -> None:
    if not wanted:
        return
    by_name = {ds.name: ds for ds in inv.datastores.values()}
    for d in healthy:
        for ds in d.datastores:
            if not any(fnmatch.fnmatchcase(ds.name, g) for g in wanted):
                continue
            replica = replicas.get(ds.name)
            if replica and replica in by_name:
                continue
            why = (f"has no replica ({'its replica ' + replica + ' is not a datastore in vCenter' if replica else 'none configured'}); "
                   f"a media failure of it would leave {{disks}} disk{{s}} ({{vms}} VM{{vs}}) nowhere to fail over")
            out.add("no_replica", f"datastore:{ds.moref}", Exposed(d.vm, d.vm_name, d.key, d.label, d.host),
                    component=f"datastore {ds.name}", why=why, datastores=[ds.name], luns=list(ds.extents),
                    hosts=[], clusters=[])
