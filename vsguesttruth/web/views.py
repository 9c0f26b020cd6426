"""What the plugin's pages show of one inventory, built once per inventory and shared by every request.

:class:`Views` answers the pages' questions from one ``Inventory`` and its ``TruthContext``: a record per
virtual disk (judged with the VM's own service level, as its guest is told), host rows whose badges name
what is wrong ("1 of 7 LUNs in APD", "vmhba2 offline") instead of painting a host with its worst LUN, and
the storage views vSphere shows per host (Storage Adapters, Storage Devices, Paths), per LUN, per datastore
and per target port (which hosts, paths and VMs use it). Pure: no I/O; the answers are plain dicts (JSON).

Paths are said in vSphere's words: "Active (I/O)" (available and carrying I/O), "Active" (available, waiting:
an ALUA non-optimized path, or one MRU/Fixed does not use), "Standby", "Disabled", "Dead". The array's name
for a target port is known only when the admin names it (``[san] port_names``): vSphere reports WWNs only.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from functools import cached_property
from typing import Any, Callable

from vsguesttruth.model import Datastore, Host, Inventory, Vm
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import DiskTruth, TruthContext, Verdict, VmTruth

from .hostrows import OTHERS_DECIDE, SEVERITY, datastore_names, host_badges, host_row, kept
from .diskrecords import Targets, disk_record
from .listing import Columns, page

VERDICTS = [v.value for v in Verdict]

def path_status(p: Any) -> str:
    """A path's status as the vSphere Client shows it: "Active (I/O)", "Active", "Standby", "Disabled", "Dead"."""
    if p.state.value == "active":
        return "Active (I/O)" if p.io else "Active"
    return p.state.value.capitalize()


class Views:
    """The pages' answers for one inventory. ``level_of(vm)``: the service level a VM is judged by (its
    guest's policy within the admin's bounds), with where it comes from."""

    def __init__(self, inv: Inventory, ctx: TruthContext, level_of: Callable[[Vm], tuple[ServiceLevel, dict]],
                 previous: "Views | None" = None):
        self.inv = inv
        self.ctx = ctx
        self.level_of = level_of
        self.lock = threading.RLock()  # the TruthContext's caches are not thread-safe
        #: the disk table in an order (and a verdict filter), built once per inventory: (sort, verdicts,
        #: unhealthy only) -> rows
        self.ordered: dict[tuple[Any, ...], list[dict]] = {}
        # the latest views whose rows were built: rows whose inputs did not change are taken over (_per_vm)
        self._previous = previous if previous is None or "_per_vm" in previous.__dict__ else previous._previous
        #: the latest views whose host rows were built (rows of hosts that did not change are taken over)
        self._hosts_from = previous if previous is None or "hosts" in previous.__dict__ else previous._hosts_from

    # -- VMs and disks ------------------------------------------------------------------------------

    def overview(self, sort: str, verdicts: tuple[str, ...], unhealthy: bool) -> list[dict]:
        """The overview's disk table in one order (a verdict filter at most), built once per inventory: each page
        of it is a slice. ``ListError`` for a column that cannot be sorted by."""
        key = (sort, verdicts, unhealthy)
        ordered = self.ordered.get(key)
        if ordered is None:
            if len(self.ordered) >= 16:  # a few orders are asked for; never hold hundreds of copies
                self.ordered.clear()
            ordered = self.ordered[key] = page(self.disks, DISK_COLUMNS, sort=sort, q="", offset=0, limit=None, where=(
                lambda d: (not verdicts or d["verdict"] in verdicts) and (not unhealthy or d["verdict"] != "healthy")))[0]
        return ordered

    def vm_truth(self, moref: str) -> VmTruth:
        level, _ = self.level_of(self.inv.vms[moref])
        with self.lock:
            return self.ctx.vm_truth(moref, level)

    @cached_property
    def vm_truths(self) -> dict[str, VmTruth]:
        with self.lock:
            return {moref: self.vm_truth(moref) for moref in self.inv.vms}

    @cached_property
    def _per_vm(self) -> dict[str, tuple[dict, list[dict], ServiceLevel]]:
        """Each VM's row, its disks' records and the level they were judged by.

        Under a storm of path flaps a new inventory comes every second and changes a few hosts: the rows of a
        VM whose own record, host and datastores are the same objects as in the inventory before, judged by
        the same level, are taken over from the views before, unless a disk was not working from its host
        (only then do other hosts decide the verdict: the reconciler's rule for which documents a change
        touches). At 20,000 VMs that turns a rebuild of seconds into milliseconds.
        """
        before = self._previous
        self._previous = None  # one generation back is enough: do not keep a chain of inventories alive
        old = before._per_vm if before is not None else {}
        old_inv = before.inv if before is not None else None
        out = {}
        moved: dict[str, frozenset[str] | None] = {}  # datastore moref -> the hosts whose mount of it changed
        with self.lock:
            for moref, vm in self.inv.vms.items():
                level, _ = self.level_of(vm)
                kept = old.get(moref)
                if kept is not None and kept[2] == level and _same_inputs(old_inv, self.inv, vm, moved) \
                        and kept[0]["verdict"] not in OTHERS_DECIDE:
                    out[moref] = kept
                    continue
                out[moref] = self._judge(moref, level)
        return out

    def _judge(self, moref: str, level: ServiceLevel) -> tuple[dict, list[dict], ServiceLevel]:
        """A VM's row, its disks' records and the level they were judged by (the caller holds the lock)."""
        t = self.ctx.vm_truth(moref, level)
        row = {"moref": t.vm, "name": t.name, "host": t.host, "host_moref": t.host_moref,
               "cluster": t.cluster, "power_state": t.power_state, "verdict": t.verdict.value,
               "advice": t.advice.value, "explanation": t.explanation, "disks": len(t.disks),
               "sla_met": t.level.met, "level": t.level.words()}
        return row, [self.disk_record(d) | {"level": row["level"]} for d in t.disks], level

    def disks_of(self, moref: str) -> list[dict]:
        """One VM's disk records: from the table when it is built, else judging that VM alone (the disks an
        incident hit: a few VMs of 20,000, while the table would judge them all)."""
        per_vm = self.__dict__.get("_per_vm")
        found = per_vm.get(moref) if per_vm is not None else None
        if found is None:
            vm = self.inv.vms.get(moref)
            if vm is None:
                return []
            with self.lock:
                found = self._alone.get(moref)
                if found is None:
                    found = self._alone[moref] = self._judge(moref, self.level_of(vm)[0])
        return found[1]

    @cached_property
    def _alone(self) -> dict[str, tuple[dict, list[dict], ServiceLevel]]:
        return {}

    @cached_property
    def vms(self) -> list[dict]:
        """One row per VM (the VM lists: every VM, the VMs on a host)."""
        rows = [row for row, _, _ in self._per_vm.values()]
        rows.sort(key=lambda r: (r["name"], r["moref"]))
        return rows

    @cached_property
    def disks(self) -> list[dict]:
        """One record per virtual disk, VMs by name, disks in device order."""
        out: list[dict] = []
        per_vm = self._per_vm
        for row in self.vms:
            out.extend(per_vm[row["moref"]][1])
        return out

    def disk_record(self, d: DiskTruth) -> dict:
        """The compact per-disk record (the fields of ``status --json``, and what the filters need)."""
        return disk_record(d, self._targets)

    @cached_property
    def _targets(self) -> "Targets":
        return Targets(self.inv)

    @cached_property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(VERDICTS, 0)
        for d in self.disks:
            counts[d["verdict"]] += 1
        return counts

    # -- hosts --------------------------------------------------------------------------------------

    @cached_property
    def hosts(self) -> list[dict]:
        """One row per host: the path summary line and badges saying what is wrong, by name. The row of a host
        that is the same object as in the views before is taken over (:func:`.hostrows.kept`)."""
        before = self._hosts_from
        self._hosts_from = None  # one generation back is enough, as for the VMs' rows
        old = {r["moref"]: r for r in before.hosts} if before is not None else {}
        same_names = before is not None and datastore_names(before.inv) == datastore_names(self.inv)
        on_host: dict[str, int] = defaultdict(int)
        for vm in self.inv.vms.values():
            on_host[vm.host] += 1
        rows = []
        for host in sorted(self.inv.hosts.values(), key=lambda h: h.name):
            vms = on_host.get(host.moref, 0)
            row = kept(old.get(host.moref), before.inv if before is not None else None, host) if same_names else None
            if row is None:
                with self.lock:
                    row = host_row(self.ctx.host_summary(host.moref), vms)
            elif row["vms"] != vms:
                row = {**row, "vms": vms}
            rows.append(row)
        return rows

    def host_detail(self, moref: str) -> dict:
        """vSphere's Storage Adapters, Storage Devices and Paths of one host, judged; and the VMs on it."""
        host = self.inv.hosts[moref]
        with self.lock:
            summary = self.ctx.host_summary(moref)
        out = summary.as_dict()
        out["badges"] = host_badges(summary)
        out["adapters"] = [_adapter(host, hba.device) for hba in host.hbas]
        judged = {lun.canonical_name: lun for lun in summary.luns}
        devices = []
        for name, lun_judged in judged.items():
            lun = host.lun(name)
            paths = [p for p in host.paths if p.lun == name]
            devices.append({
                "canonical_name": name, "display_name": lun_judged.display_name or (lun.display_name if lun else ""),
                "vendor": lun.vendor if lun else "", "model": lun.model if lun else "",
                "capacity_bytes": lun.capacity_bytes if lun else 0, "media": lun_judged.media,
                "lun_type": lun_judged.lun_type, "local": lun_judged.local,
                "operational_state": list(lun_judged.operational_state), "datastore": lun_judged.datastore,
                "path_selection_policy": lun_judged.path_selection_policy, "satp": lun_judged.satp,
                "claimed_by": lun.claimed_by if lun else "",
                "paths_working": lun_judged.available, "paths_available": lun_judged.available,
                "paths_io": lun_judged.io, "paths_total": lun_judged.total,
                "targets": len({p.target for p in paths if p.target}),
                "verdict": lun_judged.verdict.value, "explanation": lun_judged.explanation,
            })
        out["devices"] = devices
        out["paths"] = [_path_row(host, p) for p in sorted(host.paths, key=lambda p: (p.hba, p.name))]
        out["vms"] = [r for r in self.vms if r["host_moref"] == moref]
        out["quarantine"] = host.quarantine
        return out

    # -- LUNs, datastores, target ports -------------------------------------------------------------

    @cached_property
    def _by(self) -> dict[str, dict[str, list[dict]]]:
        """Disk records by LUN, by datastore moref, by target port."""
        index: dict[str, dict[str, list[dict]]] = {"lun": defaultdict(list), "datastore": defaultdict(list),
                                                   "target": defaultdict(list)}
        for d in self.disks:
            for name in d["luns"]:
                index["lun"][name].append(d)
            for moref in d["datastore_morefs"]:
                index["datastore"][moref].append(d)
            for target in d["targets"]:
                index["target"][target].append(d)
        return index

    @cached_property
    def _paths_by_target(self) -> dict[str, list[tuple[Host, Any]]]:
        found: dict[str, list[tuple[Host, Any]]] = defaultdict(list)
        for host in self.inv.hosts.values():
            for p in host.paths:
                if p.target:
                    found[p.target].append((host, p))
        return found

    @cached_property
    def luns(self) -> list[dict]:
        rows = []
        seen: dict[str, list[Host]] = defaultdict(list)
        for host in self.inv.hosts.values():
            for lun in host.luns:
                seen[lun.canonical_name].append(host)
        for name in sorted(seen):
            hosts = seen[name]
            lun = hosts[0].lun(name)
            with self.lock:
                verdicts = [self.ctx.lun_truth(h.moref, name).verdict for h in hosts]
            paths = [p for h in hosts for p in h.paths if p.lun == name]
            rows.append({
                "canonical_name": name, "display_name": lun.display_name if lun else "",
                "vendor": lun.vendor if lun else "", "model": lun.model if lun else "",
                "capacity_bytes": lun.capacity_bytes if lun else 0, "local": bool(lun and lun.local),
                "datastores": sorted({ds.name for ds in self.inv.datastores.values() if name in ds.extents}),
                "hosts": len(hosts), "paths_working": sum(p.available for p in paths), "paths_total": len(paths),
                "verdict": Verdict.worst(verdicts).value, "disks": len(self._by["lun"].get(name, ())),
            })
        return rows

    def lun_detail(self, name: str) -> dict:
        row = next(r for r in self.luns if r["canonical_name"] == name)
        per_host = []
        for host in sorted(self.inv.hosts.values(), key=lambda h: h.name):
            paths = [p for p in host.paths if p.lun == name]
            if not paths and host.lun(name) is None:
                continue
            with self.lock:
                judged = self.ctx.lun_truth(host.moref, name)
            per_host.append({"host": host.name, "host_moref": host.moref, "verdict": judged.verdict.value,
                             "explanation": judged.explanation, "paths_working": sum(p.available for p in paths),
                             "paths_total": len(paths), "paths": [_path_row(host, p) for p in paths]})
        return {**row, "per_host": per_host, "targets": sorted({t for h in per_host for p in h["paths"]
                                                                 for t in [p["target"]] if t}),
                "vms": _vms_of(self._by["lun"].get(name, ()))}

    @cached_property
    def datastores(self) -> list[dict]:
        rows = []
        for ds in sorted(self.inv.datastores.values(), key=lambda d: d.name):
            mounts = [m for m in ds.mounts if m.mounted]
            rows.append({
                "moref": ds.moref, "name": ds.name, "kind": ds.kind, "url": ds.url, "remote": ds.remote,
                "capacity_bytes": ds.capacity_bytes, "free_bytes": ds.free_bytes, "extents": list(ds.extents),
                "hosts": len(mounts), "accessible_on": sum(1 for m in mounts if m.accessible),
                "disks": len(self._by["datastore"].get(ds.moref, ())),
                "verdict": Verdict.worst(Verdict(d["verdict"]) for d in self._by["datastore"].get(ds.moref, ())).value,
            })
        return rows

    def datastore_detail(self, moref: str) -> dict:
        ds = self.inv.datastores[moref]
        row = next(r for r in self.datastores if r["moref"] == moref)
        mounts = []
        for m in sorted(ds.mounts, key=lambda m: self.inv.hosts[m.host].name if m.host in self.inv.hosts else m.host):
            host = self.inv.hosts.get(m.host)
            mounts.append({"host": host.name if host else m.host, "host_moref": m.host, "mounted": m.mounted,
                           "accessible": m.mounted and m.accessible, "reason": m.inaccessible_reason})
        return {**row, "mounts": mounts, "vms": _vms_of(self._by["datastore"].get(moref, ()))}

    @cached_property
    def targets(self) -> list[dict]:
        rows = []
        for target, used in sorted(self._paths_by_target.items()):
            paths = [p for _, p in used]
            rows.append({
                "target": target, "port_name": next((p.target_port_name for p in paths if p.target_port_name), ""),
                "node_name": next((p.target_node for p in paths if p.target_node), ""),
                "hosts": len({h.moref for h, _ in used}), "luns": len({p.lun for p in paths}),
                "paths_working": sum(p.available for p in paths), "paths_io": sum(1 for p in paths if p.io),
                "paths_total": len(paths),
                "paths_dead": sum(p.state.value == "dead" for p in paths),
                "disks": len(self._by["target"].get(target, ())),
            })
        return rows

    def target_detail(self, target: str) -> dict:
        row = next(r for r in self.targets if r["target"] == target)
        used = self._paths_by_target[target]
        paths = [{**_path_row(h, p), "host": h.name, "host_moref": h.moref}
                 for h, p in sorted(used, key=lambda hp: (hp[0].name, hp[1].name))]
        hosts = sorted({(h.name, h.moref) for h, _ in used})
        return {**row, "paths": paths, "host_list": [{"name": n, "moref": m} for n, m in hosts],
                "lun_list": sorted({p.lun for _, p in used}), "vms": _vms_of(self._by["target"].get(target, ()))}


def _same_inputs(old: Inventory | None, new: Inventory, vm: Vm, moved: dict[str, frozenset[str] | None]) -> bool:
    """Whether the VM and its host are the same objects in both inventories, and its disks' datastores the same as
    its host sees them (``moved``: :func:`_mounts_changed` of each datastore, filled as asked)."""
    if old is None or old.vms.get(vm.moref) is not vm or old.hosts.get(vm.host) is not new.hosts.get(vm.host):
        return False
    for d in vm.disks:
        for m in d.datastores:
            before, now = old.datastores.get(m), new.datastores.get(m)
            if before is now:
                continue
            if m not in moved:
                moved[m] = _mounts_changed(before, now)
            hosts = moved[m]
            if hosts is None or vm.host in hosts:
                return False
    return True


def _mounts_changed(old: Datastore | None, new: Datastore | None) -> frozenset[str] | None:
    """The hosts whose mount of a datastore changed, when nothing else of it did (None: something else did). A LUN
    lost on one host changes its datastore's mounts (each second under a storm of path flaps); the datastore's VMs
    on other hosts see no change."""
    if old is None or new is None or (old.name, old.kind, old.url, old.accessible, old.extents, old.remote) != \
            (new.name, new.kind, new.url, new.accessible, new.extents, new.remote):
        return None
    before, now = {m.host: m for m in old.mounts}, {m.host: m for m in new.mounts}
    return frozenset(h for h in before.keys() | now.keys() if before.get(h) != now.get(h))


def _adapter(host: Host, device: str) -> dict:
    hba = next(h for h in host.hbas if h.device == device)
    paths = [p for p in host.paths if p.hba == device]
    return {"device": hba.device, "kind": hba.kind, "words": hba.words, "protocol": hba.protocol,
            "model": hba.model, "status": hba.status, "online": hba.online, "san": hba.san,
            "wwpn": hba.wwpn, "wwnn": hba.wwnn,
            "targets": len({p.target for p in paths if p.target}), "devices": len({p.lun for p in paths}),
            "paths_total": len(paths), "paths_working": sum(p.available for p in paths),
            "paths_io": sum(1 for p in paths if p.io)}


def _path_row(host: Host, p: Any) -> dict:
    lun = host.lun(p.lun)
    return {"runtime_name": p.name, "hba": p.hba, "target": p.target, "target_node": p.target_node,
            "port_name": p.target_port_name, "lun": p.lun, "lun_display": lun.display_name if lun else "",
            "state": p.state.value, "available": p.available, "io": p.io, "status": path_status(p),
            "path_selection_policy": lun.path_selection_policy if lun else ""}


def _vms_of(records: Any) -> list[dict]:
    """The VMs of some disk records: name, host, worst verdict, and their disks there."""
    by_vm: dict[str, dict] = {}
    for d in records:
        row = by_vm.setdefault(d["vm_moref"], {"moref": d["vm_moref"], "name": d["vm"], "host": d["host"],
                                               "host_moref": d["host_moref"], "verdict": "healthy", "disks": []})
        row["disks"].append(d["disk"])
        if SEVERITY[d["verdict"]] > SEVERITY[row["verdict"]]:
            row["verdict"] = d["verdict"]
    return sorted(by_vm.values(), key=lambda r: (-SEVERITY[r["verdict"]], r["name"]))


# -- how the lists sort and what their search reads (GET /disks, /hosts, /vms, /luns, /datastores, /targets) --

DISK_COLUMNS = Columns(
    keys={"verdict": lambda d: SEVERITY[d["verdict"]], "vm": lambda d: d["vm"].lower(), "disk": lambda d: d["key"],
          "host": lambda d: d["host"].lower(), "datastore": lambda d: ",".join(d["datastores"]).lower(),
          "lun": lambda d: ",".join(d["luns"])},
    default="-verdict", tiebreak=lambda d: (d["vm"].lower(), d["vm_moref"], d["key"]),
    text=lambda d: " ".join([d["vm"], d["disk"], d["host"], d["explanation"], *d["datastores"], *d["luns"],
                             *d["targets"]]))
HOST_COLUMNS = Columns(
    keys={"name": lambda h: h["name"].lower(), "cluster": lambda h: h["cluster"].lower(),
          "problems": lambda h: (len(h["badges"]), max((SEVERITY[b["verdict"]] for b in h["badges"]), default=0)),
          "paths": lambda h: h["paths_total"] - h["paths_working"], "vms": lambda h: h["vms"]},
    default="name", tiebreak=lambda h: h["name"],
    text=lambda h: " ".join([h["name"], h["cluster"], h["line"], *(b["text"] for b in h["badges"])]))
VM_COLUMNS = Columns(
    keys={"name": lambda v: v["name"].lower(), "verdict": lambda v: SEVERITY[v["verdict"]],
          "host": lambda v: v["host"].lower(), "disks": lambda v: v["disks"]},
    default="name", tiebreak=lambda v: (v["name"], v["moref"]),
    text=lambda v: " ".join([v["name"], v["host"], v["cluster"], v["explanation"]]))
LUN_COLUMNS = Columns(
    keys={"name": lambda r: r["canonical_name"], "verdict": lambda r: SEVERITY[r["verdict"]],
          "disks": lambda r: r["disks"], "hosts": lambda r: r["hosts"]},
    default="-verdict", tiebreak=lambda r: r["canonical_name"],
    text=lambda r: " ".join([r["canonical_name"], r["display_name"], r["vendor"], *r["datastores"]]))
DATASTORE_COLUMNS = Columns(
    keys={"name": lambda r: r["name"].lower(), "verdict": lambda r: SEVERITY[r["verdict"]],
          "disks": lambda r: r["disks"], "kind": lambda r: r["kind"]},
    default="-verdict", tiebreak=lambda r: r["name"], text=lambda r: " ".join([r["name"], r["kind"], r["remote"]]))
TARGET_COLUMNS = Columns(
    keys={"target": lambda r: r["target"], "dead": lambda r: r["paths_dead"], "disks": lambda r: r["disks"]},
    default="-dead", tiebreak=lambda r: r["target"], text=lambda r: " ".join([r["target"], r["port_name"]]))
