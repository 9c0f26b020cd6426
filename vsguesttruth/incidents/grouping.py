"""Grouping: the evidence of one inventory, explained by the smallest failed components.

1. **Symptoms** (:class:`~.failure.Symptom`) are read from the model and the truth (:mod:`.evidence`): every
   path that does not work on a connected host, every LUN a host sees (or runs a VM on) without a path, every
   HBA offline, every LUN the truth reads as permanently lost or impaired on a host, every mount that fails
   where the LUN's paths do not say why, every host vCenter cannot reach.
2. **Candidates**: each symptom could be explained by the components it passes through: a path, its HBA, its
   target port, that port's controller, the HBA's fabric, its LUN (:mod:`.san` infers fabrics and
   controllers). A candidate has *failed* when everything of it is down: every path through it (on the
   connected hosts) not working, or an HBA offline, a LUN lost; a single path, a mount or a host has failed
   whenever it shows.
3. **Choice**: the failed candidates that explain the most evidence first (on equal evidence the smaller
   kind, path < hba < target < controller < lun < datastore < fabric < host); a candidate is kept when it
   explains some symptom no kept one explains. A dead array port is one ``target`` failure, not 42 dead
   paths; both ports of a controller are one ``controller``; every path of fabric A one ``fabric``; two
   unrelated faults stay two failures, even when some paths are down for both reasons.

Pure and deterministic: the same model gives the same failures whatever the order of its hosts, paths or VMs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Mapping

from vsguesttruth.gcpause import paused as gc_paused
from vsguesttruth.model import Inventory, Mount
from vsguesttruth.truth import TruthContext
from vsguesttruth.truth.rules import PDL

from .failure import Failure, Kind, Scope, Symptom, sorted_unique
from .evidence import Evidence, PathCounts
from .footprint import VmPrint, footprints as all_footprints
from .san import SanMap, san_map

_LOST_WORDS = frozenset({"lostCommunication", "permanentDeviceLoss"})


def symptoms(inv: Inventory, ctx: TruthContext, prints: Mapping[str, VmPrint]) -> list[Symptom]:
    """Every piece of evidence of a failure in the inventory (sorted): :class:`~.evidence.Evidence`'s, fresh."""
    return Evidence().symptoms(inv, ctx, prints)


@dataclass
class _Candidate:
    kind: Kind
    key: str
    covered: set[int]


def failures(inv: Inventory, ctx: TruthContext | None = None, *, san: SanMap | None = None,
             prints: Mapping[str, VmPrint] | None = None, evidence: Evidence | None = None) -> tuple[Failure, ...]:
    """The failed components that explain every symptom of the inventory (none for a healthy one), the most
    evidence first. ``prints``: the VMs' footprints if the caller keeps them (:class:`~.footprint.Footprints`);
    ``evidence``: the symptoms kept from the inventory before, if the caller keeps them (the incident pass)."""
    with gc_paused():
        return _failures(inv, ctx, san=san, prints=prints, evidence=evidence or Evidence())


def _failures(inv: Inventory, ctx: TruthContext | None, *, san: SanMap | None, prints: Mapping[str, VmPrint] | None,
              evidence: Evidence) -> tuple[Failure, ...]:
    ctx = ctx or TruthContext(inv)
    prints = all_footprints(inv, ctx) if prints is None else prints
    found = evidence.symptoms(inv, ctx, prints)
    if not found:
        return ()
    san = san or san_map(inv)
    paths = evidence.paths(inv)
    offline_hbas: dict[str, list[str]] = defaultdict(list)
    for s in found:
        if s.kind == "hba":
            offline_hbas[s.host].append(s.what)
    covered: dict[tuple[Kind, str], set[int]] = defaultdict(set)

    def add(kind: Kind, key: str, index: int) -> None:
        covered[kind, key].add(index)

    for i, s in enumerate(found):
        if s.kind == "path":
            p = paths[s.host, s.what]
            add(Kind.PATH, f"{s.host}/{p.name}", i)
            add(Kind.HBA, f"{s.host}/{p.hba}", i)
            add(Kind.LUN, p.lun, i)
            port = san.port(p.target) if p.target else None
            if port is not None:
                add(Kind.TARGET, port.wwpn, i)
                if port.controller:
                    add(Kind.CONTROLLER, port.controller, i)
            fabric = san.fabric_of(s.host, p.hba)
            if fabric:
                add(Kind.FABRIC, fabric, i)
        elif s.kind == "no_path":
            add(Kind.PATH, f"{s.host}/{s.lun}", i)
            add(Kind.LUN, s.lun, i)
            for device in offline_hbas.get(s.host, ()):
                add(Kind.HBA, f"{s.host}/{device}", i)
                if san.fabric_of(s.host, device):
                    add(Kind.FABRIC, san.fabric_of(s.host, device), i)
        elif s.kind == "hba":
            add(Kind.HBA, f"{s.host}/{s.what}", i)
            if san.fabric_of(s.host, s.what):
                add(Kind.FABRIC, san.fabric_of(s.host, s.what), i)
        elif s.kind in ("lost", "impaired"):
            add(Kind.LUN, s.lun, i)
        elif s.kind == "mount":
            add(Kind.DATASTORE, s.what, i)
        else:
            add(Kind.HOST, s.host, i)

    cands = {(kind, key): _Candidate(kind, key, indexes) for (kind, key), indexes in covered.items()}
    failed = [c for c in cands.values() if _failed(c, found, san, evidence.counts, offline_hbas)]
    failed.sort(key=lambda c: (-len(c.covered), c.kind.rank, c.key))
    chosen: list[_Candidate] = []
    explained: set[int] = set()
    for c in failed:
        if c.covered - explained:
            chosen.append(c)
            explained |= c.covered
    kept = evidence.described(san)
    described: dict[tuple, Failure] = {}
    out = []
    for c in chosen:
        shown = tuple(found[i] for i in sorted(c.covered))
        key = (c.kind, c.key, shown)
        f = kept.get(key)
        described[key] = f if f is not None else _describe(c, list(shown), inv, ctx, san, paths)
        out.append(described[key])
    evidence.keep_described(described)
    out.sort(key=lambda f: (-len(f.symptoms), f.kind.rank, f.key))
    return tuple(out)


def _failed(c: _Candidate, found: list[Symptom], san: SanMap, counts: PathCounts,
            offline_hbas: Mapping[str, list[str]]) -> bool:
    if c.kind in (Kind.PATH, Kind.DATASTORE, Kind.HOST):
        return True
    if c.kind is Kind.HBA:
        host, device = c.key.split("/", 1)
        return device in offline_hbas.get(host, ()) or counts.dead([counts.of_hba(host, device)])
    if c.kind is Kind.TARGET:
        return counts.dead([counts.of_target(c.key)])
    if c.kind is Kind.CONTROLLER:
        return counts.dead(counts.of_target(w) for w in san.controllers[c.key].ports)
    if c.kind is Kind.FABRIC:
        fabric = san.fabrics[c.key]
        down = all(device in offline_hbas.get(host, ()) for host, device in fabric.hbas)
        return down or counts.dead(counts.of_target(w) for w in fabric.ports)
    # a LUN: lost or impaired somewhere, or no working path to it on any connected host
    if any(found[i].kind in ("lost", "impaired") for i in c.covered):
        return True
    total, working = counts.of_lun(c.key)
    return working == 0 and (total > 0 or all(found[i].kind == "no_path" for i in c.covered))


def _describe(c: _Candidate, evidence: list[Symptom], inv: Inventory, ctx: TruthContext, san: SanMap,
              paths: Mapping[tuple[str, str], object]) -> Failure:
    hosts = sorted({s.host for s in evidence}, key=lambda m: (inv.hosts[m].name if m in inv.hosts else m, m))
    scope: set[Scope] = set()
    luns: set[str] = set()
    stores: set[str] = set()
    for s in evidence:
        if s.kind == "host":
            scope.add((s.host, "*", ""))
        elif s.kind == "mount":
            scope.add((s.host, "ds", s.what))
            stores.add(s.what)
        elif s.kind == "hba":
            continue
        else:
            scope.add((s.host, "lun", s.lun))
            luns.add(s.lun)
            # where the LUN's datastore is gone too (lost, or its mount inaccessible there), an RDM's mapping
            # file on it is hit
            scope.update((s.host, "ds", ds.moref) for ds in ctx.datastores_of(s.lun) if (
                s.kind == "lost" or c.kind is Kind.LUN
                or _inaccessible(ctx.mount_of(ds, s.host))))
    if c.kind is Kind.HBA:  # a cable pulled and rescanned: the LUNs it carried have no path left there
        host, device = c.key.split("/", 1)
        scope.update((host, "lun", s.lun) for s in evidence if s.kind == "no_path")
    for name in luns:
        stores.update(ds.moref for ds in ctx.datastores_of(name))
    host_names = tuple(inv.hosts[m].name if m in inv.hosts else m for m in hosts)
    clusters = sorted_unique(inv.hosts[m].cluster for m in hosts if m in inv.hosts and inv.hosts[m].cluster)
    ds_names = sorted_unique(inv.datastores[m].name for m in stores if m in inv.datastores)
    name, cause, detail = _naming(c, evidence, inv, ctx, san, paths, ds_names)
    return Failure(
        kind=c.kind, key=f"{c.kind.value}:{c.key}", name=name, cause=cause, symptoms=tuple(evidence),
        scope=frozenset(scope), hosts=tuple(hosts), host_names=host_names, clusters=clusters,
        luns=tuple(sorted(luns)), datastores=ds_names, detail=detail,
    )


def _naming(c: _Candidate, evidence: list[Symptom], inv: Inventory, ctx: TruthContext, san: SanMap,
            paths: Mapping[tuple[str, str], object], ds_names: tuple[str, ...]) -> tuple[str, str, dict]:
    states = {s.state for s in evidence if s.kind == "path"}
    path_cause = "disabled" if states == {"disabled"} else "dead" if "dead" in states or not states else states.pop()
    if c.kind is Kind.PATH:
        host_moref, what = c.key.split("/", 1)
        host = inv.hosts[host_moref].name if host_moref in inv.hosts else host_moref
        if evidence[0].kind == "no_path":
            return f"no path from {host} to {_lun_words(inv, what, ds_names, host_moref)}", "no_path", {
                "host": host, "lun": what}
        p = paths[host_moref, what]
        port = san.port(p.target) if p.target else None  # type: ignore[attr-defined]
        where = f" (target {port.label})" if port is not None else ""
        return f"path {what} on {host}{where}", path_cause, {
            "host": host, "path": what, "hba": p.hba, "lun": p.lun,  # type: ignore[attr-defined]
            "target": port.wwpn if port else "", "port_name": port.name if port else ""}
    if c.kind is Kind.HBA:
        host_moref, device = c.key.split("/", 1)
        host = inv.hosts[host_moref]
        hba = next((h for h in host.hbas if h.device == device), None)
        wwpn = f" (WWPN {hba.wwpn})" if hba is not None and hba.wwpn else ""
        cause = "offline" if any(s.kind == "hba" for s in evidence) else path_cause
        return f"{device} on {host.name}{wwpn}", cause, {
            "host": host.name, "hba": device, "wwpn": hba.wwpn if hba else "", "fabric": san.fabric_of(host_moref, device)}
    if c.kind is Kind.TARGET:
        port = san.ports[c.key]
        return f"target {port.label}", path_cause, {
            "target": port.wwpn, "port_name": port.name, "controller": port.controller, "fabric": port.fabric}
    if c.kind is Kind.CONTROLLER:
        ctl = san.controllers[c.key]
        names = [san.ports[w].name or w for w in ctl.ports]
        return f"controller {ctl.name} (ports {', '.join(names)})", path_cause, {
            "controller": ctl.name, "targets": list(ctl.ports), "port_names": names}
    if c.kind is Kind.FABRIC:
        fabric = san.fabrics[c.key]
        hosts = len({h for h, _ in fabric.hbas})
        cause = "offline" if any(s.kind == "hba" for s in evidence) and not states else path_cause
        return (f"fabric {fabric.name} ({fabric.device or 'HBAs'} on {hosts} host{'s' if hosts != 1 else ''}, "
                f"{len(fabric.ports)} target port{'s' if len(fabric.ports) != 1 else ''})"), cause, {
            "fabric": fabric.name, "targets": list(fabric.ports), "hbas": len(fabric.hbas)}
    if c.kind is Kind.LUN:
        return f"LUN {_lun_words(inv, c.key, ds_names, evidence[0].host)}", _lun_cause(evidence), {"lun": c.key}
    if c.kind is Kind.DATASTORE:
        ds = inv.datastores.get(c.key)
        reasons = {s.state for s in evidence}
        cause = "not_mounted" if reasons == {"not_mounted"} else "inaccessible"
        return f"datastore {ds.name if ds else c.key}", cause, {
            "datastore": ds.name if ds else c.key, "reasons": sorted(reasons)}
    host = inv.hosts[c.key]
    return f"host {host.name}", host.connection_state, {"host": host.name}


def _inaccessible(mount: Mount | None) -> bool:
    return mount is not None and not mount.accessible


def _lun_cause(evidence: list[Symptom]) -> str:
    lost = [s.state for s in evidence if s.kind == "lost"]
    if lost:
        return "pdl" if any(_LOST_WORDS & set(s.split(",")) or s == PDL for s in lost) else "failed"
    if any(s.kind == "impaired" for s in evidence):
        return "impaired"
    if all(s.kind == "no_path" for s in evidence):
        return "no_path"
    return "apd"


def _lun_words(inv: Inventory, name: str, ds_names: tuple[str, ...], host_moref: str) -> str:
    """``naa.6006... (gold01, datastore ds-gold)``: the display name a host gives it and its datastores."""
    host = inv.hosts.get(host_moref)
    lun = host.lun(name) if host is not None else None
    display = lun.display_name if lun is not None and lun.display_name != name else ""
    stores = f"datastore {', '.join(ds_names)}" if ds_names else ""
    extra = ", ".join(x for x in (display, stores) if x)
    return f"{name} ({extra})" if extra else name
