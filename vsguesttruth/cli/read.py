"""Read-only commands: status, map, paths, watch. Tables for people, ``--json`` for scripts."""

from __future__ import annotations

import fnmatch
import json
import time
from datetime import datetime, timezone

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vsguesttruth.cli.connection import connection_options
from vsguesttruth.errors import VsgtError
from vsguesttruth.truth import DiskTruth, TruthContext, Verdict, by_disk, verdict_changes

VERDICTS = [v.value for v in Verdict]
STYLE = {
    "healthy": "green", "degraded": "yellow", "below_sla": "yellow", "connectivity_lost": "red",
    "all_paths_down": "bold red", "media_failure": "bold red", "unknown": "dim",
}


def _console() -> Console:
    return Console(soft_wrap=False, width=None if click.get_text_stream("stdout").isatty() else 160)


def _verdict(v: Verdict | str | None) -> tuple[str, str]:
    """A verdict (or path state) coloured; data is never parsed as rich markup."""
    value = getattr(v, "value", v) or "-"
    return (value, STYLE.get(value, ""))


def _line(*parts: str | tuple[str, str]) -> Text:
    return Text.assemble(*parts)


def _snapshot():
    from vsguesttruth.vcenter import snapshot

    session = click.get_current_context().obj
    return snapshot(session.connect()), session.service_level()


def _disk_record(d: DiskTruth) -> dict:
    """The compact per-disk record of `status --json` (`map --json` has the whole chain)."""
    return {
        "vm": d.vm_name, "vm_moref": d.vm, "disk": d.label, "key": d.key, "host": d.host,
        "controller": d.disk.controller, "bus": d.disk.bus, "unit": d.disk.unit, "uuid": d.disk.uuid,
        "backing": d.disk.backing,
        "datastores": [ds.name for ds in d.datastores], "luns": [lun.canonical_name for lun in d.luns],
        "verdict": d.verdict.value, "advice": d.advice.value, "explanation": d.explanation,
    }


@click.command()
@click.option("--vm", "vm_names", multiple=True, metavar="NAME", help="Only these VMs (glob patterns allowed).")
@click.option("--cluster", multiple=True, help="Only VMs running in this cluster.")
@click.option("--host", "host_names", multiple=True, metavar="HOST", help="Only VMs running on this host.")
@click.option("--verdict", "verdicts", multiple=True, type=click.Choice(VERDICTS), help="Only disks with this verdict.")
@click.option("--snapshot", "cold", is_flag=True,
              help="Read vCenter directly, even when a vsguesttruth service runs (a cold snapshot).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def status(vm_names, cluster, host_names, verdicts, cold, as_json) -> None:
    """Every disk of every VM: its verdict and why. Exit 1 when any shown disk is not healthy.

    Asks the running service (`vsguesttruth serve`: VSGT_SERVICE, or [web] in the config) when there is one,
    as kubectl asks its API server, and says so on stderr; else reads vCenter (a cold snapshot)."""
    records, hosts = _records_from_service(verdicts) if not cold else (None, None)
    started, vms = time.monotonic(), 0
    if records is None:
        inv, level = _snapshot()
        ctx = TruthContext(inv)
        records = [_disk_record(d) | {"host_moref": d.host_moref} for d in ctx.disk_truths(level)]
        hosts = {h.moref: (h.name, h.cluster) for h in inv.hosts.values()}
        vms = len(inv.vms)
    _check_names("VM", vm_names, [r["vm"] for r in records], patterns=True)
    _check_names("host", host_names, [name for name, _ in hosts.values()])
    _check_names("cluster", cluster, [c for _, c in hosts.values() if c])
    if vms and not cold:  # after the names: a wrong one is still a one-line error
        from vsguesttruth.cli import service

        service.cold(started, vms)
    disks = [
        d for d in records
        if (not vm_names or any(fnmatch.fnmatchcase(d["vm"], p) for p in vm_names))
        and (not host_names or d["host"] in host_names)
        and (not cluster or hosts.get(d["host_moref"], ("", ""))[1] in cluster)
        and (not verdicts or d["verdict"] in verdicts)
    ]
    unhealthy = [d for d in disks if d["verdict"] != Verdict.HEALTHY.value]
    if as_json:
        counts = {v: sum(1 for d in disks if d["verdict"] == v) for v in VERDICTS}
        click.echo(json.dumps({"disks": [{k: d[k] for k in DISK_FIELDS} for d in disks], "counts": counts},
                              indent=2))
    else:
        _print_disks(disks)
        click.echo(f"{len(disks)} disks, {len(disks) - len(unhealthy)} healthy, {len(unhealthy)} not healthy")
    if unhealthy:
        raise SystemExit(1)


#: the fields of a disk in `status --json`
DISK_FIELDS = ("vm", "vm_moref", "disk", "key", "host", "controller", "bus", "unit", "uuid", "backing", "datastores",
               "luns", "verdict", "advice", "explanation")
#: above this many disks the table is printed as plain aligned lines (a rich table of 40,000 rows takes a minute)
PLAIN_ROWS = 2000


def _records_from_service(verdicts) -> tuple[list[dict] | None, dict | None]:
    """The disks (and hosts: moref -> (name, cluster)) as the running service judges them now; (None, None)
    when no service answers."""
    from vsguesttruth.cli import service

    found = service.ask("status", [("verdict", v) for v in verdicts])
    if found is None:
        return None, None
    hosts = {h["moref"]: (h["name"], h.get("cluster") or "") for h in found.get("hosts") or ()}
    return list(found.get("disks") or ()), hosts


def _print_disks(disks: list[dict]) -> None:
    columns = ("VM", "DISK", "HOST", "VERDICT", "EXPLANATION")
    rows = [(d["vm"], f"{d['disk']} ({d['controller']} {d['bus']}:{d['unit']})", d["host"] or "-", d["verdict"],
             d["explanation"]) for d in disks]
    if len(rows) > PLAIN_ROWS:
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns[:-1])]
        lines = ["  ".join(c.ljust(w) for c, w in zip(columns[:-1], widths)) + "  " + columns[-1]]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
        click.echo("\n".join(lines))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=column != "EXPLANATION")
    for vm, disk, host, verdict, explanation in rows:
        table.add_row(Text(vm), Text(disk), Text(host), _line(_verdict(verdict)), Text(explanation))
    console = _console()
    console.print(table)


def _cluster_of(inv, host_moref: str) -> str:
    host = inv.hosts.get(host_moref)
    return host.cluster if host else ""


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
    inv, level = _snapshot()
    vm = inv.vm_by_name(vm_name)
    if vm is None:
        _check_names("VM", [vm_name], [v.name for v in inv.vms.values()])
    truth = TruthContext(inv).vm_truth(vm.moref, level)
    if as_json:
        click.echo(json.dumps(truth.as_dict(), indent=2))
        return
    console = _console()
    console.print(_line((truth.name, "bold"), f" ({truth.vm}, {truth.power_state}) on {truth.host or '?'}"
                        f"{' in ' + truth.cluster if truth.cluster else ''}: ", _verdict(truth.verdict), f": {truth.explanation}"))
    for d in truth.disks:
        disk = d.disk
        console.print(_line("  ", (d.label, "bold"), f" {disk.controller} {disk.bus}:{disk.unit}, {disk.capacity_bytes / 2**30:.1f} GiB, "
                            f"{disk.backing}, uuid {disk.uuid or '-'}: ", _verdict(d.verdict), f": {d.explanation}"))
        for f in disk.files:
            console.print(_line(f"    file {f}"))
        for ds in d.datastores:
            mounts = ", ".join(f"{m.host}{'' if m.accessible else ' (' + (m.reason or 'inaccessible') + ')'}" for m in ds.mounts)
            console.print(_line(f"    datastore {ds.name} ({ds.kind}{', ' + ds.remote if ds.remote else ''}): ",
                                _verdict(ds.verdict), f"; mounted on {mounts or '-'}"))
        for lun in d.luns:
            console.print(_line(f"    LUN {lun.canonical_name} {lun.media} {lun.lun_type} VAAI {lun.vaai}"
                                f"{' (extent of ' + lun.datastore + ')' if lun.datastore else ''}: ", _verdict(lun.verdict)))
            for hp in lun.hosts:
                here = " <- VM here" if hp.host == truth.host else ""
                state = ",".join(hp.operational_state)
                console.print(_line(f"      {hp.host}: {hp.working}/{hp.total} paths working, LUN {state}"
                                    f"{'' if hp.connected else ' (host not connected)'}{here}"))
                for p in hp.paths:
                    console.print(_line(f"        {p.name:<20} {p.hba:<8} target {p.target or '-':<24} ", _verdict_path(p.state.value)))


def _verdict_path(state: str) -> tuple[str, str]:
    return (state, {"active": "green", "standby": "green", "dead": "red", "disabled": "yellow"}.get(state, ""))


@click.command()
@click.option("--host", "host_names", multiple=True, metavar="HOST", help="Only this host, with the detail per LUN.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def paths(host_names, as_json) -> None:
    """Per host: "2/2 HBAs online, 10/10 LUNs ok, 31/32 paths working", and the detail per LUN."""
    inv, _ = _snapshot()
    _check_names("host", host_names, [h.name for h in inv.hosts.values()])
    ctx = TruthContext(inv)
    hosts = sorted((h for h in inv.hosts.values() if not host_names or h.name in host_names), key=lambda h: h.name)
    summaries = [ctx.host_summary(h.moref) for h in hosts]
    if as_json:
        click.echo(json.dumps({"hosts": [s.as_dict() for s in summaries]}, indent=2))
        return
    console = _console()
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("HOST", "CLUSTER", "STATE", "VERDICT", "SUMMARY"):
        table.add_column(column, no_wrap=True)
    for s in summaries:
        table.add_row(Text(s.name), Text(s.cluster or "-"), Text(s.connection_state), _line(_verdict(s.verdict)), Text(s.line))
    console.print(table)
    if not host_names:
        return
    for s in summaries:
        hbas = ", ".join(f"{h.device} {h.kind} {h.status}{' ' + h.wwpn if h.wwpn else ''}" for h in s.hbas)
        console.print(_line("\n", (s.name, "bold"), f": {hbas}"))
        detail = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("LUN", "DATASTORE", "MEDIA", "VAAI", "STATE", "PATHS", "BY HBA", "VERDICT"):
            detail.add_column(column, no_wrap=True)
        for lun in s.luns:
            by_hba = "  ".join(f"{hba} {_counts(c)}" for hba, c in lun.by_hba.items())
            detail.add_row(*map(Text, (lun.canonical_name, lun.datastore or "-", lun.media, lun.vaai.replace("vStorage", ""),
                           ",".join(lun.operational_state), f"{lun.working}/{lun.total}", by_hba)), _line(_verdict(lun.verdict)))
        console.print(detail)


def _counts(counts) -> str:
    return " ".join(f"{n} {state}" for state, n in counts.items() if n)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines, one per change.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many verdict changes.")
@click.option("--duration", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@connection_options
def watch(as_json, count, duration) -> None:
    """Follow vCenter live and print every verdict change as it happens."""
    from vsguesttruth.vcenter import Informer

    session = click.get_current_context().obj
    level = session.service_level()
    deadline = time.monotonic() + duration if duration is not None else None
    seen = 0
    old = None
    with Informer(session.connect()) as informer:
        while deadline is None or time.monotonic() < deadline:
            inv = informer.next(None if deadline is None else max(deadline - time.monotonic(), 0))
            if inv is None:
                continue
            truths = by_disk(TruthContext(inv).disk_truths(level))
            if old is None:
                bad = sum(1 for t in truths.values() if t.verdict is not Verdict.HEALTHY)
                if not as_json:
                    click.echo(f"watching {len(inv.vms)} VMs, {len(truths)} disks on {len(inv.hosts)} hosts; "
                               f"{bad} not healthy", err=True)
            for change in verdict_changes(old, truths) if old is not None else ():
                _print_change(change, as_json)
                seen += 1
                if count is not None and seen >= count:
                    return
            old = truths


def _print_change(change, as_json: bool) -> None:
    now = datetime.now(timezone.utc)
    if as_json:
        click.echo(json.dumps({"time": now.isoformat(timespec="milliseconds"), **change.as_dict()}))
        return
    old_v = change.old.value if change.old else "(new)"
    new_v = change.new.value if change.new else "(gone)"
    click.echo(f"{now:%H:%M:%S} {change.vm_name} {change.label} on {change.host or '?'}: {old_v} -> {new_v}: {change.explanation}")


COMMANDS = [status, map_, paths, watch]
