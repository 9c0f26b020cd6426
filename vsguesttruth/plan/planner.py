"""The planner: every VM whose truth calls for action, and where it should go (:func:`plan`); one VM moved
by hand (:func:`plan_move`). Rules and limits: the package's docstring."""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from typing import Any, Iterable, Mapping

from vsguesttruth.config import RemediationConfig
from vsguesttruth.model import Datastore, Host, Inventory, Vm
from vsguesttruth.policy import ServiceLevel
from vsguesttruth.truth import TruthContext, Verdict, VmTruth

from .decision import Action, Decision, MoveRequest, Plan
from .fit import Fit, judge_host

_NAMES_SHOWN = 3


class _Planner:
    def __init__(self, inv: Inventory, config: RemediationConfig, ctx: TruthContext,
                 level: ServiceLevel | None, levels: Mapping[str, ServiceLevel] | None,
                 replicas: Mapping[str, str] | None) -> None:
        self.inv = inv
        self.config = config
        self.ctx = ctx
        self.level = level or ServiceLevel()
        self.levels = levels or {}
        # config pairs win over attribute pairs
        self.replicas = {**(replicas or {}), **config.replicas}
        self.ds_by_name = {ds.name: ds for ds in inv.datastores.values()}
        self._load: dict[str, int] | None = None
        self._by_cluster: dict[str, list[Host]] | None = None
        # a host's judgement depends on the VM only through its disks' backings and the level: VMs that
        # share a datastore set (most VMs of a LUN) share it, within one plan (one inventory)
        self._judged: dict[tuple[Any, ...], Fit | str] = {}

    @property
    def load(self) -> dict[str, int]:
        """Powered-on VMs per host (counted when a first move is ranked; moves planned earlier count too)."""
        if self._load is None:
            self._load = {h: 0 for h in self.inv.hosts}
            for vm in self.inv.vms.values():
                if vm.host in self._load and vm.power_state == "poweredOn":
                    self._load[vm.host] += 1
        return self._load

    def level_of(self, vm: str) -> ServiceLevel:
        return self.levels.get(vm, self.level)

    # -- candidates --------------------------------------------------------------------------------

    def _hosts_in(self, current: Host | None, manual: bool) -> Any:
        """The hosts a move may go to before the per-host checks: the VM's cluster's when moves stay in it."""
        if manual or not self.config.same_cluster_only or current is None:
            return self.inv.hosts.values()
        if self._by_cluster is None:
            self._by_cluster = {}
            for host in self.inv.hosts.values():
                self._by_cluster.setdefault(host.cluster, []).append(host)
        return self._by_cluster.get(current.cluster, ())

    def candidates(self, vm: Vm, include_current: bool = False, manual: bool = False) -> list[Host]:
        current = self.inv.hosts.get(vm.host)
        out = []
        for host in self._hosts_in(current, manual):
            if host.moref == vm.host and not include_current:
                continue
            if not host.connected or (host.maintenance and host.moref != vm.host):
                continue
            if not manual:
                if self.config.same_cluster_only and current is not None and host.cluster != current.cluster:
                    continue
                if self.config.allowed_hosts and host.moref != vm.host and not any(
                        fnmatch.fnmatchcase(host.name, p) for p in self.config.allowed_hosts):
                    continue
            out.append(host)
        return sorted(out, key=lambda h: h.name)

    def best(self, vm: Vm, hosts: list[Host], remap: Mapping[str, str] | None = None,
             prefer: str = "") -> tuple[Fit | None, dict[str, str]]:
        fits: list[Fit] = []
        unfit: dict[str, str] = {}
        level = self.level_of(vm.moref)
        backing = _backing_key(self.ctx, vm, level, remap)
        for host in hosts:
            key = (host.moref, backing)
            judged = self._judged.get(key)
            if judged is None:
                judged = self._judged[key] = judge_host(self.ctx, vm, host, level, remap)
            if isinstance(judged, str):
                unfit[host.name] = judged
            else:
                fits.append(judged)
        if not fits:
            return None, unfit
        fits.sort(key=lambda f: (f.tier, f.host.moref != prefer, -f.working, self.load.get(f.host.moref, 0),
                                 f.host.name))
        return fits[0], unfit

    def took(self, vm: Vm, to_host: str) -> None:
        if to_host and to_host != vm.host:
            self.load[to_host] = self.load.get(to_host, 0) + 1
            if vm.host in self.load:
                self.load[vm.host] -= 1

    # -- decisions ---------------------------------------------------------------------------------

    def base(self, vm: Vm, truth: VmTruth, trigger: str, request_id: str = "") -> dict[str, Any]:
        host = self.inv.hosts.get(vm.host)
        return dict(vm=vm.moref, vm_name=vm.name, verdict=truth.verdict, trigger=trigger,
                    from_host=vm.host, from_host_name=host.name if host else "", request_id=request_id)

    def refuse(self, vm: Vm, truth: VmTruth, trigger: str, why: str, request_id: str = "") -> Decision:
        return Decision(action=Action.NONE, why=why, **self.base(vm, truth, trigger, request_id))

    def host_move(self, vm: Vm, truth: VmTruth, trigger: str, request_id: str = "") -> Decision:
        current = self.inv.hosts.get(vm.host)
        if current is None:
            return self.refuse(vm, truth, trigger, "the VM's host is not known", request_id)
        if not current.connected:
            return self.refuse(vm, truth, trigger, _not_connected(current), request_id)
        hosts = self.candidates(vm)
        scope = self.scope_words(current)
        if not hosts:
            return self.refuse(vm, truth, trigger, f"no other connected host {scope} out of maintenance to move to",
                               request_id)
        fit, unfit = self.best(vm, hosts)
        if fit is None:
            return self.refuse(vm, truth, trigger, _no_host(unfit, scope), request_id)
        self.took(vm, fit.host.moref)
        problem = {"request": "the guest asked to move", "manual": "requested by the administrator"}.get(
            trigger, _problem(self.inv, truth))
        return Decision(
            action=Action.VMOTION, to_host=fit.host.moref, to_host_name=fit.host.name,
            why=f"{problem}; {_reach_words(fit)}", **self.base(vm, truth, trigger, request_id))

    def failover(self, vm: Vm, truth: VmTruth, request_id: str = "") -> Decision:
        trigger = "media_failure"
        failed: list[str] = []  # datastore morefs
        for disk in truth.disks:
            if disk.verdict is not Verdict.MEDIA_FAILURE:
                continue
            if disk.disk.backing.startswith("rdm") and any(lun.verdict is Verdict.MEDIA_FAILURE for lun in disk.luns):
                return self.refuse(vm, truth, trigger, f"{disk.label} is an RDM of a failed LUN: no datastore replica "
                                   "can take it over; fail the LUN over at the array", request_id)
            failed += [ds.moref for ds in disk.datastores if ds.verdict is Verdict.MEDIA_FAILURE]
        failed = list(dict.fromkeys(failed))
        if not failed:
            return self.refuse(vm, truth, trigger, f"no failed datastore found behind the disks: {truth.explanation}",
                               request_id)
        remap: dict[str, str] = {}
        for moref in failed:
            ds = self.inv.datastores[moref]
            replica_name = self.replicas.get(ds.name)
            if not replica_name:
                return self.refuse(vm, truth, trigger, f"no replica configured for {ds.name}: add [replicas] "
                                   f"\"{ds.name}\" = \"...\"" + (f" or set the custom attribute "
                                   f"{self.config.replica_attribute} on it" if self.config.replica_attribute else ""),
                                   request_id)
            replica = self.ds_by_name.get(replica_name)
            if replica is None:
                return self.refuse(vm, truth, trigger, f"replica {replica_name} of {ds.name} is not a datastore in "
                                   "vCenter", request_id)
            remap[moref] = replica.moref
        for disk in vm.disks:
            if len(disk.datastores) > 1 and set(disk.datastores) & set(failed):
                names = ", ".join(self.inv.datastores[m].name for m in disk.datastores if m in self.inv.datastores)
                return self.refuse(vm, truth, trigger, f"{disk.label}'s snapshot chain spans {names}: a relocation "
                                   "would consolidate it; consolidate or move it by hand", request_id)
        hosts = self.candidates(vm, include_current=True)
        fit, unfit = self.best(vm, hosts, remap, prefer=vm.host)
        first = self.inv.datastores[failed[0]]
        replica = self.inv.datastores[remap[failed[0]]]
        if fit is None:
            scope = self.scope_words(self.inv.hosts.get(vm.host))
            return self.refuse(vm, truth, trigger, f"replica {replica.name} of {first.name}: "
                               + _no_host(unfit, scope, what="host for the replica"), request_id)
        self.took(vm, fit.host.moref)
        disks = tuple((d.key, remap.get(d.datastores[0], d.datastores[0])) for d in vm.disks if d.datastores)
        on = "" if fit.host.moref == vm.host else f" on {fit.host.name}"
        why = (f"{_problem(self.inv, truth)}; relocating to its replica {replica.name}{on}, "
               f"{_reach_words(fit)}")
        return Decision(action=Action.RELOCATE_TO_REPLICA, to_host=fit.host.moref, to_host_name=fit.host.name,
                        from_datastore=first.moref, from_datastore_name=first.name, to_datastore=replica.moref,
                        to_datastore_name=replica.name, disks=disks, why=why,
                        **self.base(vm, truth, trigger, request_id))

    def scope_words(self, current: Host | None) -> str:
        if self.config.allowed_hosts:
            return "among the allowed hosts"
        if self.config.same_cluster_only and current is not None and current.cluster:
            return f"in {current.cluster}"
        return "in vCenter"

    def decide(self, vm: Vm, truth: VmTruth, request: MoveRequest | None) -> Decision | None:
        rid = request.id if request else ""
        if request is not None and not self.config.allow_guest_requests:
            return self.refuse(vm, truth, "request", "the administrator does not allow guests to ask for a move "
                               "([guest] allow_migrate_requests = false)", rid)
        if vm.power_state != "poweredOn" and request is None:
            return None
        verdict = truth.verdict
        if verdict is Verdict.CONNECTIVITY_LOST:
            return self.host_move(vm, truth, verdict.value, rid)
        if verdict is Verdict.MEDIA_FAILURE:
            return self.failover(vm, truth, rid)
        if verdict is Verdict.ALL_PATHS_DOWN:
            return self.refuse(vm, truth, verdict.value, f"{_problem(self.inv, truth)}: no host reaches it, "
                               "moving cannot help; waiting for the paths to return", rid)
        if verdict is Verdict.BELOW_SLA or (verdict is Verdict.DEGRADED and not truth.sla_met and self.config.move_degraded):
            return self.host_move(vm, truth, verdict.value, rid)
        if request is not None:
            return self.host_move(vm, truth, "request", rid)
        return None


def _backing_key(ctx: TruthContext, vm: Vm, level: ServiceLevel, remap: Mapping[str, str] | None) -> tuple[Any, ...]:
    """What :func:`judge_host` reads of a VM: its disks' labels, backings and datastores, the level, the remap."""
    disks = tuple((d.label, d.backing.startswith("rdm"), ctx.rdm_lun(d) if d.backing.startswith("rdm") else None,
                   tuple(d.datastores)) for d in vm.disks)
    return disks, level, tuple(sorted((remap or {}).items()))


def plan(inv: Inventory, truths: Iterable[VmTruth] | Mapping[str, VmTruth], config: RemediationConfig, *,
         level: ServiceLevel | None = None, levels: Mapping[str, ServiceLevel] | None = None,
         requests: Iterable[MoveRequest] = (), replicas: Mapping[str, str] | None = None,
         context: TruthContext | None = None) -> Plan:
    """What should move where, and why; and what cannot, and why not.

    ``truths``: the VMs' truths (computed with each VM's level: ``levels`` by VM moref, else ``level``; pass the
    same levels here). ``replicas``: datastore name -> replica name from custom attributes (config pairs win).
    ``context``: the ``TruthContext`` of ``inv`` if the caller has one (saves indexing again).
    VMs are planned in name order, so load-balancing between decisions is deterministic.
    """
    items = list(truths.values()) if isinstance(truths, Mapping) else list(truths)
    planner = _Planner(inv, config, context or TruthContext(inv), level, levels, replicas)
    wanted = {r.vm: r for r in requests}
    decisions = []
    for truth in sorted(items, key=lambda t: (t.name, t.vm)):
        vm = inv.vms.get(truth.vm)
        if vm is None:
            continue
        decision = planner.decide(vm, truth, wanted.get(vm.moref))
        if decision is not None:
            decisions.append(decision)
    return Plan(tuple(decisions))


def plan_for(inv: Inventory, vm_moref: str, config: RemediationConfig, *, level: ServiceLevel | None = None,
             replicas: Mapping[str, str] | None = None, context: TruthContext | None = None) -> Decision:
    """What the planner does about one VM now (the plugin's move action and ``GET /plan?vm=``): its decision in
    :func:`plan`, or a refusal (action ``none``, trigger its verdict) that says why there is nothing to move."""
    ctx = context or TruthContext(inv)
    vm = inv.vms[vm_moref]
    truth = ctx.vm_truth(vm_moref, level)
    planner = _Planner(inv, config, ctx, level, None, replicas)
    decided = planner.decide(vm, truth, None)
    if decided is not None:
        return decided
    return planner.refuse(vm, truth, truth.verdict.value, _nothing_to_do(vm, truth, config))


def _nothing_to_do(vm: Vm, truth: VmTruth, config: RemediationConfig) -> str:
    if vm.power_state != "poweredOn":
        return f"{vm.name} is {vm.power_state}: nothing to move"
    if truth.verdict is Verdict.HEALTHY:
        return f"{vm.name} is healthy: nothing to move"
    if truth.verdict is Verdict.DEGRADED:
        why = ("the planner moves a degraded VM only below its service level" if truth.sla_met else
               "[remediation] move_degraded is off")
        return f"{_short(truth.explanation)}: redundancy lost, keep using the disks ({why})"
    return f"{_short(truth.explanation)}: nothing the planner can do ({truth.verdict.value})"


def plan_move(inv: Inventory, vm_moref: str, config: RemediationConfig, *, to_host: str = "", to_datastore: str = "",
              level: ServiceLevel | None = None, replicas: Mapping[str, str] | None = None,
              context: TruthContext | None = None) -> Decision:
    """A manual move of one VM (``vsguesttruth migrate``): morefs of the target host and/or datastore.

    Without a target, what the planner would do for this VM, or else the best other host. A target that does
    not reach the VM's storage gives a refusal (action ``none``); the CLI may force it (:func:`force`).
    Cluster and allowed-host limits do not apply: the admin chose.
    """
    ctx = context or TruthContext(inv)
    vm = inv.vms[vm_moref]
    truth = ctx.vm_truth(vm_moref, level)
    planner = _Planner(inv, config, ctx, level, None, replicas)
    if not to_host and not to_datastore:
        decided = planner.decide(vm, truth, None)
        if decided is not None and decided.moves:
            return replace(decided, trigger="manual")
        moved = planner.host_move(vm, truth, "manual")
        if not moved.moves and decided is not None:
            return replace(decided, trigger="manual")
        return moved
    host = inv.hosts.get(to_host or vm.host)
    if host is None:
        return planner.refuse(vm, truth, "manual", f"host {to_host} is not in the inventory")
    remap: dict[str, str] = {}
    target_ds: Datastore | None = None
    if to_datastore:
        target_ds = inv.datastores.get(to_datastore)
        if target_ds is None:
            return planner.refuse(vm, truth, "manual", f"datastore {to_datastore} is not in the inventory")
        remap = {m: target_ds.moref for d in vm.disks for m in d.datastores}
    base = planner.base(vm, truth, "manual")
    current = inv.hosts.get(vm.host)
    if current is not None and not current.connected:
        return planner.refuse(vm, truth, "manual", _not_connected(current))
    judged = judge_host(ctx, vm, host, planner.level_of(vm_moref), remap)
    if not host.connected:
        judged = f"{host.name} is {host.connection_state}"
    elif host.maintenance and host.moref != vm.host:
        judged = f"{host.name} is in maintenance mode"
    if target_ds is not None:
        action = Action.RELOCATE_TO_REPLICA if planner.replicas.get(_first_ds_name(inv, vm)) == target_ds.name \
            else Action.STORAGE_VMOTION
        disks = tuple((d.key, target_ds.moref) for d in vm.disks if d.datastores)
        first = inv.datastores.get(next((m for d in vm.disks for m in d.datastores), ""), None)
        extra = dict(to_datastore=target_ds.moref, to_datastore_name=target_ds.name, disks=disks,
                     from_datastore=first.moref if first else "", from_datastore_name=first.name if first else "")
    else:
        if host.moref == vm.host:
            return planner.refuse(vm, truth, "manual", f"{vm.name} already runs on {host.name}")
        action, extra = Action.VMOTION, {}
    if isinstance(judged, str):
        return Decision(action=Action.NONE, why=f"{host.name} does not suit {vm.name}: {judged}",
                        to_host=host.moref, to_host_name=host.name, **extra, **base)
    return Decision(action=action, to_host=host.moref, to_host_name=host.name, **extra,
                    why=f"requested by the administrator{_state_words(inv, truth)}; {_reach_words(judged)}", **base)


def _not_connected(host: Host) -> str:
    return (f"the VM's host {host.name} is {host.connection_state}: vCenter cannot migrate a VM of a host it does "
            "not reach; it is looked at again when the host is back")


def _first_ds_name(inv: Inventory, vm: Vm) -> str:
    moref = next((m for d in vm.disks for m in d.datastores), "")
    ds = inv.datastores.get(moref)
    return ds.name if ds else ""


# ---------------------------------------------------------------------------------------------------
# Wording


def _problem(inv: Inventory, truth: VmTruth) -> str:
    """What is wrong, in a few words: "Hard disk 1, Hard disk 2 lost every path on esx-a01 (vmhba2 offline, ...)"."""
    bad = [d for d in truth.disks if d.verdict is truth.verdict]
    if not bad:
        return _short(truth.explanation)
    labels = ", ".join(d.label for d in bad[:_NAMES_SHOWN]) + (f" and {len(bad) - _NAMES_SHOWN} more" if len(bad) > _NAMES_SHOWN else "")
    host = inv.hosts.get(truth.host_moref)
    where = truth.host or "?"
    if truth.verdict is Verdict.CONNECTIVITY_LOST and host is not None:
        names = {lun.canonical_name for d in bad for lun in d.luns}
        dead = sorted({p.hba for p in host.paths if p.lun in names and not p.state.working})
        offline = {h.device for h in host.hbas if not h.online and h.status.lower() != "unknown"}
        hbas = ", ".join(f"{h} offline" if h in offline else f"{h} dead" for h in dead)
        if hbas:
            return f"{labels} lost every path on {where} ({hbas})"
        stores = sorted({ds.name for d in bad for ds in d.datastores if ds.verdict is truth.verdict})
        return f"{labels} lost {', '.join(stores) or 'its storage'} on {where}"
    if truth.verdict in (Verdict.MEDIA_FAILURE, Verdict.ALL_PATHS_DOWN):
        stores = sorted({ds.name for d in bad for ds in d.datastores if ds.verdict is truth.verdict})
        what = "permanently lost (PDL/failed)" if truth.verdict is Verdict.MEDIA_FAILURE else "all paths down on every host (APD)"
        if stores:
            return f"{', '.join(stores)} {what} under {labels}"
    return _short(f"{bad[0].label}: {bad[0].explanation}", 200)


def _state_words(inv: Inventory, truth: VmTruth) -> str:
    if truth.verdict is Verdict.HEALTHY:
        return " (the VM is healthy)"
    return f" ({truth.verdict.value}: {_problem(inv, truth)})"


def _reach_words(fit: Fit) -> str:
    disks = (f"all {fit.disks} disks" if fit.disks > 2 else "both disks") if fit.disks > 1 else "its disk"
    paths = f" on {fit.working}/{fit.total} paths" if fit.total else ""
    quality = "" if fit.tier == 0 else " (with reduced redundancy)"
    return f"{fit.host.name} reaches {disks}{paths}{quality}"


def _no_host(unfit: Mapping[str, str], scope: str, what: str = "healthy host") -> str:
    reasons = list(dict.fromkeys(unfit.values()))
    if len(reasons) == 1 and len(unfit) > 1:
        return f"no {what} {scope}: on every other host ({_names(list(unfit))}) {reasons[0]}; waiting"
    shown = [f"{h}: {r}" for h, r in list(unfit.items())[:_NAMES_SHOWN]]
    more = f"; and {len(unfit) - _NAMES_SHOWN} more" if len(unfit) > _NAMES_SHOWN else ""
    return f"no {what} {scope} ({'; '.join(shown)}{more}); waiting"


def _names(names: list[str]) -> str:
    if len(names) <= _NAMES_SHOWN:
        return ", ".join(names)
    return f"{', '.join(names[:_NAMES_SHOWN])} and {len(names) - _NAMES_SHOWN} more"


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
