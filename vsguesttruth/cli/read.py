"""Read-only commands: status, map, paths, watch. Tables for people, ``--json`` for scripts."""

from __future__ import annotations

import fnmatch
import json
import operator
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import click
from rich.table import Table
from rich.text import Text

from vsguesttruth.cli import jsonout
from vsguesttruth.cli.connection import connection_options
from vsguesttruth.cli.output import new_console, print_table, styled, verdict_style
from vsguesttruth.errors import VsgtError
from vsguesttruth.guestinfo import Levels
from vsguesttruth.truth import DiskTruth, TruthContext, Verdict, VmTruth, by_disk, verdict_changes

VERDICTS = [v.value for v in Verdict]
#: read vCenter even when a service runs (`status`, `incidents`: they ask the running service first)
snapshot_option = click.option("--snapshot", "cold", is_flag=True,
                               help="Read vCenter directly, even when a vsguesttruth service runs (a cold snapshot).")
def _snapshot():
    """The inventory (with the hosts' open storage events) and the service levels of its VMs."""
    from vsguesttruth.vcenter import snapshot

    session = click.get_current_context().obj
    return snapshot(session.connect(), events=True), session.levels()


def _disk_record(d: DiskTruth, vm: VmTruth) -> dict:
    """The compact per-disk record of `status --json` (`map --json` has the whole chain)."""
    return {
        "vm": d.vm_name, "vm_moref": d.vm, "disk": d.label, "key": d.key, "host": d.host,
        "controller": d.disk.controller, "bus": d.disk.bus, "unit": d.disk.unit, "uuid": d.disk.uuid,
        "backing": d.disk.backing,
        "datastores": [ds.name for ds in d.datastores], "luns": [lun.canonical_name for lun in d.luns],
        "verdict": d.verdict.value, "advice": d.advice.value, "explanation": d.explanation,
        "sla_met": d.sla_met, "level": vm.level.words(),
    }


@click.command()
@click.option("--vm", "vm_names", multiple=True, metavar="NAME", help="Only these VMs (glob patterns allowed).")
@click.option("--cluster", multiple=True, help="Only VMs running in this cluster.")
@click.option("--host", "host_names", multiple=True, metavar="HOST", help="Only VMs running on this host.")
@click.option("--verdict", "verdicts", multiple=True, type=click.Choice(VERDICTS), help="Only disks with this verdict.")
@click.option("--disks", "all_disks", is_flag=True, help="Every disk's row, healthy ones too (default: the incidents, "
              "then the disks that are not healthy).")
@snapshot_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def status(vm_names, cluster, host_names, verdicts, all_disks, cold, as_json) -> None:
    """The incidents first (what failed, what it hits), then every disk that is not healthy: its verdict, the
    service level it is judged by, and why (--disks: every disk). Exit 1 when any shown disk is not healthy.

    Asks the running service (`vsguesttruth serve`: VSGT_SERVICE, or [web] in the config) when there is one,
    as kubectl asks its API server, and says so on stderr; else reads vCenter (a cold snapshot)."""
    wanted = Wanted(vm_names, cluster, host_names, verdicts, all_disks, as_json)
    found = None if cold else _from_service(verdicts, wanted.only_unhealthy)
    if found is not None:
        records, hosts, incidents, counts = found
        _check_wanted(wanted, [r["vm"] for r in records], hosts)
        _print_status(records, hosts, lambda: incidents, wanted, counts if wanted.only_unhealthy else None)
        return
    from datetime import timedelta

    from vsguesttruth.cli.incidents import current

    started = time.monotonic()
    inv, levels = _snapshot()
    session = click.get_current_context().obj
    lookback = timedelta(hours=session.config.incidents.event_lookback_hours)
    said = None if cold else (lambda: _say_cold(started, len(inv.vms)))
    show_status(inv, levels, vm_names, cluster, host_names, verdicts, as_json, all_disks,
                incidents=lambda ctx: current(session.connect(), inv, ctx, levels.default, lookback), checked=said)


def _say_cold(started: float, vms: int) -> None:
    from vsguesttruth.cli import service

    service.cold(started, vms)


@dataclass(frozen=True)
class Wanted:
    """What `status` was asked to show."""
    vm_names: tuple = ()
    cluster: tuple = ()
    host_names: tuple = ()
    verdicts: tuple = ()
    all_disks: bool = False
    as_json: bool = False

    @property
    def only_unhealthy(self) -> bool:
        """Only the disks that are not healthy are printed, of every VM (the service's counts say the rest): the
        running service is asked for those rows only, not for 40,000."""
        return not (self.as_json or self.all_disks or self.vm_names or self.host_names or self.cluster)


def show_status(inv, levels: Levels, vm_names=(), cluster=(), host_names=(), verdicts=(), as_json=False,
                all_disks=False, incidents=None, checked=None) -> None:
    """`status`'s output for an inventory (also what `replay` prints); exit 1 when a shown disk is not healthy.
    ``incidents(ctx)``: the open incidents (None: not shown); ``checked()``: called once the names are known."""
    ctx = TruthContext(inv)
    wanted = Wanted(vm_names, cluster, host_names, verdicts, all_disks, as_json)
    hosts = {h.moref: (h.name, h.cluster or "") for h in inv.hosts.values()}
    _check_wanted(wanted, [vm.name for vm in inv.vms.values()], hosts)
    if checked is not None:
        checked()
    vms = ctx.vm_truths(levels.default, levels.all(inv.vms.values()))
    records = [_disk_record(d, vm) | {"host_moref": d.host_moref} for vm in vms for d in vm.disks]

    def found() -> list[dict]:
        rows, behind = [], {}
        for i in incidents(ctx):
            rows.append(i.as_dict())
            for h in i.hits:
                behind.setdefault((h.vm, h.key), []).append(i.id)
        for r in records:
            r["incidents"] = behind.get((r["vm_moref"], r["key"]), [])
        return rows

    _print_status(records, hosts, found if incidents is not None else (lambda: []), wanted)


def _check_wanted(wanted: Wanted, vm_names: list[str], hosts: dict) -> None:
    """A one-line error for a VM, host or cluster asked for that is not there (``hosts``: moref -> (name,
    cluster))."""
    _check_names("VM", wanted.vm_names, vm_names, patterns=True)
    _check_names("host", wanted.host_names, [name for name, _ in hosts.values()])
    _check_names("cluster", wanted.cluster, [c for _, c in hosts.values() if c])


def _print_status(records: list[dict], hosts: dict, incidents, wanted: Wanted,
                  counts: dict[str, int] | None = None) -> None:
    """The incidents that hit a shown disk, then the disks (records as `status --json` gives them, with
    ``host_moref``); ``incidents()`` gives the open incidents' rows (asked only when a shown disk is not healthy,
    and sets each record's ``incidents``); ``counts``: the disks per verdict of every VM, when ``records`` holds
    only those that are not healthy. Exit 1 when a shown disk is not healthy."""
    disks = [
        d for d in records
        if (not wanted.vm_names or any(fnmatch.fnmatchcase(d["vm"], p) for p in wanted.vm_names))
        and (not wanted.host_names or d["host"] in wanted.host_names)
        and (not wanted.cluster or hosts.get(d["host_moref"], ("", ""))[1] in wanted.cluster)
        and (not wanted.verdicts or d["verdict"] in wanted.verdicts)
    ]
    unhealthy = [d for d in disks if d["verdict"] != Verdict.HEALTHY.value]
    rows = incidents() if unhealthy else []
    shown = {i for d in disks for i in d.get("incidents") or ()}
    found = [r for r in rows if r["id"] in shown]
    if wanted.as_json:
        counts = dict.fromkeys(VERDICTS, 0)
        for d in disks:
            if d["verdict"] in counts:
                counts[d["verdict"]] += 1
        out = [_json_row(d) for d in disks]
        click.echo(jsonout.dumps({"incidents": found, "disks": out, "counts": counts}))
    else:
        if found:
            from vsguesttruth.cli.incidents import print_incidents

            print_incidents(found)
            new_console().print()
        _print_disks([d for d in disks if wanted.all_disks or d["verdict"] != Verdict.HEALTHY.value])
        counted = f"; {len(found)} incident{'s' if len(found) != 1 else ''}" if found else ""
        total, healthy = len(disks), len(disks) - len(unhealthy)
        if counts is not None:
            scope = [v for v in VERDICTS if not wanted.verdicts or v in wanted.verdicts]
            total = sum(int(counts.get(v) or 0) for v in scope)
            healthy = total - len(unhealthy)
        click.echo(f"{total} disks, {healthy} healthy, {len(unhealthy)} not healthy{counted}")
    if unhealthy:
        raise SystemExit(1)


#: the fields of a disk in `status --json`
DISK_FIELDS = ("vm", "vm_moref", "disk", "key", "host", "controller", "bus", "unit", "uuid", "backing", "datastores",
               "luns", "verdict", "advice", "explanation", "sla_met", "level")
_FIELDS = operator.itemgetter(*DISK_FIELDS)


def _json_row(d: dict) -> dict:
    """A disk of `status --json`: its DISK_FIELDS (None when missing) and the incidents behind it."""
    try:
        row = dict(zip(DISK_FIELDS, _FIELDS(d)))
    except KeyError:
        row = {k: d.get(k) for k in DISK_FIELDS}
    row["incidents"] = list(d.get("incidents") or ())
    return row


def _from_service(verdicts, unhealthy: bool = False) -> tuple[list[dict], dict, list[dict], dict] | None:
    """The disks (``unhealthy``: only those that are not healthy), the hosts (moref -> (name, cluster)), the open
    incidents and the disks per verdict as the running service judges them now; None when no service answers."""
    from vsguesttruth.cli import service

    found = service.ask("status", [("verdict", v) for v in verdicts]
                        + ([("unhealthy", "true"), ("hosts", "false")] if unhealthy else []))
    if found is None:
        return None
    hosts = {h["moref"]: (h["name"], h.get("cluster") or "") for h in found.get("hosts") or ()}
    disks = list(found.get("disks") or ())
    rows: list[dict] = []
    if any(d.get("incidents") for d in disks):
        session = click.get_current_context().obj
        endpoint = service.find(session)
        offset = 0
        while endpoint is not None:  # every open incident, a page at a time
            try:
                page = service.get(endpoint, "incidents", [("state", "open"), ("compact", "true"),
                                                           ("offset", str(offset)), ("limit", "500")], session)
            except service.NoService as err:
                click.echo(f"{err}", err=True)
                break
            rows += page.get("items") or []
            offset += 500
            if offset >= int(page.get("matched") or 0):
                break
    return disks, hosts, rows, dict(found.get("counts") or {})


def _print_disks(disks: list[dict]) -> None:
    if not disks:
        return
    print_table(("VM", "DISK", "HOST", "VERDICT", "LEVEL", "INCIDENTS", "EXPLANATION"), [
        (d["vm"], f"{d['disk']} ({d['controller']} {d['bus']}:{d['unit']})", d["host"] or "-",
         styled(verdict_style(d["verdict"])), Text(_level(d), style="" if _level(d).endswith(" met") else "yellow"),
         ", ".join(d.get("incidents") or ()) or "-", d["explanation"]) for d in disks])


def _level(d: dict) -> str:
    """"2p met" / "4p NOT met" from the record's level words ("level 2 paths per LUN: met")."""
    words = str(d.get("level") or "")
    wanted = words.split()[1] + "p" if words.startswith("level ") and len(words.split()) > 1 else "level"
    return f"{wanted} met" if d.get("sla_met", True) else f"{wanted} NOT met"


def _check_names(kind: str, wanted, known: list[str], patterns: bool = False) -> None:
    known_set = set(known)
    for name in wanted:
        found = any(fnmatch.fnmatchcase(k, name) for k in known_set) if patterns else name in known_set
        if not found:
            close = sorted(k for k in known_set if name.lower()[:3] in k.lower())[:5]
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise VsgtError(f"no {kind} named {name!r} in vCenter{hint}")


@click.command("map")
@click.argument("vm_name", metavar="VM")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def map_(vm_name, as_json) -> None:
    """The whole chain of one VM: disk -> datastore -> extents -> LUNs -> paths on every host."""
    inv, levels = _snapshot()
    vm = inv.vm_by_name(vm_name)
    if vm is None:
        _check_names("VM", [vm_name], [v.name for v in inv.vms.values()])
    truth = TruthContext(inv).vm_truth(vm.moref, levels.of(vm))
    if as_json:
        out = truth.as_dict()
        out["level"] = {**out["level"], **levels.source(vm)}
        click.echo(json.dumps(out, indent=2))
        return
    console = new_console()
    console.print(styled((truth.name, "bold"), f" ({truth.vm}, {truth.power_state}) on {truth.host or '?'}"
                        f"{' in ' + truth.cluster if truth.cluster else ''}: ", verdict_style(truth.verdict), f": {truth.explanation}"))
    source = {"default": "the service's", "applied": "set by its guest", "invalid": "its guest's was refused"}.get(
        levels.source(vm)["source"], "")
    console.print(styled(f"  service {truth.level.words()} ({source}); advice {truth.advice.value}"))
    for d in truth.disks:
        disk = d.disk
        console.print(styled("  ", (d.label, "bold"), f" {disk.controller} {disk.bus}:{disk.unit}, {disk.capacity_bytes / 2**30:.1f} GiB, "
                            f"{disk.backing}, uuid {disk.uuid or '-'}: ", verdict_style(d.verdict), f": {d.explanation}"))
        for f in disk.files:
            console.print(styled(f"    file {f}"))
        if d.mapping is not None:
            console.print(styled(f"    RDM mapping file on datastore {d.mapping.name} (vMotion and power-on need it; "
                                "I/O goes to the LUN): ", verdict_style(d.mapping.verdict)))
        for ds in d.datastores:
            mounts = ", ".join(f"{m.host}{'' if m.accessible else ' (' + (m.reason or 'inaccessible') + ')'}" for m in ds.mounts)
            console.print(styled(f"    datastore {ds.name} ({ds.kind}{', ' + ds.remote if ds.remote else ''}): ",
                                verdict_style(ds.verdict), f"; mounted on {mounts or '-'}"))
        for lun in d.luns:
            policy = f", {lun.path_selection_policy} / {lun.satp}" if lun.path_selection_policy else ""
            console.print(styled(f"    LUN {lun.canonical_name} {lun.media} {lun.lun_type} VAAI {lun.vaai}{policy}"
                                f"{' (extent of ' + lun.datastore + ')' if lun.datastore else ''}: ", verdict_style(lun.verdict)))
            for hp in lun.hosts:
                console.print(styled(f"      {hp.host}: {_host_paths_words(hp)}{' <- VM here' if hp.host == truth.host else ''}"))
                for p in hp.paths:
                    named = f" ({p.target_port_name})" if p.target_port_name else ""
                    console.print(styled(f"        {p.name:<20} {p.hba:<8} target {(p.target or '-') + named:<24} ",
                                        _verdict_path(p)))


def _host_paths_words(hp) -> str:
    """"4/4 paths available, 2 carrying I/O (VMW_PSP_RR), LUN ok", and what the events say since when."""
    io = f", {hp.io} carrying I/O" if hp.io is not None else ""
    policy = f" ({hp.path_selection_policy})" if hp.path_selection_policy else ""
    reported = "" if hp.reported else " (paths not reported: not claimed by NMP)"
    evidence = "; ".join(x for x in (hp.pdl and f"PDL: {hp.pdl}", hp.apd and f"APD: {hp.apd}") if x)
    since = f"; {'since' if hp.since_source == 'event' else 'seen since'} {hp.since:%Y-%m-%d %H:%M:%SZ}" if hp.since else ""
    return (f"{hp.available}/{hp.total} paths available{io}{policy}{reported}, LUN {','.join(hp.operational_state)}"
            f"{'' if hp.connected else ' (host not connected)'}{'; ' + evidence if evidence else ''}{since}")


def _verdict_path(p) -> tuple[str, str]:
    state = p.state.value
    words = f"{state} (I/O)" if p.io else state
    return (words, {"active": "green", "standby": "green", "dead": "red", "disabled": "yellow"}.get(state, ""))


@click.command()
@click.option("--host", "host_names", multiple=True, metavar="HOST", help="Only this host, with the detail per LUN.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def paths(host_names, as_json) -> None:
    """Per host: "2/2 FC HBAs online, 1 local adapter, 10/10 LUNs ok, 40/40 paths available, 20 carrying
    I/O", and the detail per LUN (its path selection policy, paths by HBA)."""
    inv, _ = _snapshot()
    _check_names("host", host_names, [h.name for h in inv.hosts.values()])
    ctx = TruthContext(inv)
    hosts = sorted((h for h in inv.hosts.values() if not host_names or h.name in host_names), key=lambda h: h.name)
    summaries = [ctx.host_summary(h.moref) for h in hosts]
    if as_json:
        click.echo(json.dumps({"hosts": [s.as_dict() for s in summaries]}, indent=2))
        return
    console = new_console()
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("HOST", "CLUSTER", "STATE", "VERDICT", "SUMMARY"):
        table.add_column(column, no_wrap=True)
    for s in summaries:
        table.add_row(Text(s.name), Text(s.cluster or "-"), Text(s.connection_state), styled(verdict_style(s.verdict)), Text(s.line))
    console.print(table)
    if not host_names:
        return
    for s in summaries:
        hbas = ", ".join(f"{h.device} {h.words} {h.status}{' ' + h.wwpn if h.wwpn else ''}" for h in s.hbas)
        console.print(styled("\n", (s.name, "bold"), f": {hbas}"))
        detail = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("LUN", "DATASTORE", "MEDIA", "VAAI", "STATE", "PSP", "PATHS", "I/O", "BY HBA", "VERDICT"):
            detail.add_column(column, no_wrap=True)
        for lun in s.luns:
            by_hba = "  ".join(f"{hba} {_counts(c)}" for hba, c in lun.by_hba.items())
            detail.add_row(*map(Text, (lun.canonical_name, lun.datastore or "-", lun.media, lun.vaai.replace("vStorage", ""),
                           ",".join(lun.operational_state), lun.path_selection_policy or "-",
                           f"{lun.available}/{lun.total}", "-" if lun.io is None else str(lun.io), by_hba)),
                           styled(verdict_style(lun.verdict)))
        console.print(detail)


def _counts(counts) -> str:
    return " ".join(f"{n} {state}" for state, n in counts.items() if n)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines, one per change.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many verdict changes.")
@click.option("--duration", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@connection_options
def watch(as_json, count, duration) -> None:
    """Follow vCenter live and print every incident opening and resolving and every verdict change as it happens."""
    from datetime import timedelta

    from vsguesttruth.incidents import EVENT_TYPES, IncidentController
    from vsguesttruth.vcenter import Informer
    from vsguesttruth.vcenter.storage_events import StorageEventReader

    session = click.get_current_context().obj
    levels = session.levels()
    deadline = time.monotonic() + duration if duration is not None else None
    seen = 0
    old = None
    conn = session.connect()
    lookback = timedelta(hours=session.config.incidents.event_lookback_hours)
    incidents = IncidentController(read_events=StorageEventReader(conn, EVENT_TYPES, lookback))
    with Informer(conn) as informer:
        while deadline is None or time.monotonic() < deadline:
            inv = informer.next(None if deadline is None else max(deadline - time.monotonic(), 0))
            if inv is None:
                continue
            for transition in incidents.observe(inv):
                _print_incident(transition, as_json, first=old is None)
            truths = by_disk(TruthContext(inv).disk_truths(levels.default, levels.all(inv.vms.values())))
            if old is None:  # on stderr in both modes: a script can wait for it before it changes anything
                bad = sum(1 for t in truths.values() if t.verdict is not Verdict.HEALTHY)
                click.echo(f"watching {len(inv.vms)} VMs, {len(truths)} disks on {len(inv.hosts)} hosts; "
                           f"{bad} not healthy", err=True)
            for change in verdict_changes(old, truths) if old is not None else ():
                _print_change(change, as_json)
                seen += 1
                if count is not None and seen >= count:
                    return
            old = truths


def _print_incident(transition, as_json: bool, first: bool) -> None:
    """An incident opening or resolving (the ones open when the watch starts: "open")."""
    now = datetime.now(timezone.utc)
    i = transition.incident
    change = "open" if first else transition.change
    if as_json:
        click.echo(json.dumps({"time": now.isoformat(timespec="milliseconds"), "incident": change, **i.as_dict(now)}))
        return
    if first:
        click.echo(f"{now:%H:%M:%S} incident {i.id} open since {i.since.astimezone():%H:%M:%S}: {i.failure.line()}; "
                   f"{len(i.hits)} disks of {len(i.vms())} VMs hit")
        return
    click.echo(f"{now:%H:%M:%S} {transition.line()}")


def _print_change(change, as_json: bool) -> None:
    now = datetime.now(timezone.utc)
    if as_json:
        click.echo(json.dumps({"time": now.isoformat(timespec="milliseconds"), **change.as_dict()}))
        return
    old_v = change.old.value if change.old else "(new)"
    new_v = change.new.value if change.new else "(gone)"
    click.echo(f"{now:%H:%M:%S} {change.vm_name} {change.label} on {change.host or '?'}: {old_v} -> {new_v}: {change.explanation}")


COMMANDS = [status, map_, paths, watch]
