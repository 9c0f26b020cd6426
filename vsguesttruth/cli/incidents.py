"""Root-cause commands: incidents (what broke, what it hits, since when), audit (what is fragile before it
breaks), what-if (what one failure would do, and what the service would then do). Thin: the answers are the
incidents core's (``vsguesttruth.incidents``); this reads vCenter and prints."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from vsguesttruth.cli import jsonout
from vsguesttruth.cli.connection import connection_options
from vsguesttruth.cli.output import new_console, print_table, styled, verdict_style
from vsguesttruth.cli.read import _snapshot, snapshot_option
from vsguesttruth.errors import VsgtError
from vsguesttruth.incidents import EVENT_TYPES, History, Incident, Lifecycle, failures, footprints, hits
from vsguesttruth.incidents.actions import actions, summary
from vsguesttruth.incidents.audit import audit as find_spofs
from vsguesttruth.incidents.whatif import Failure, WhatIfError, what_if
from vsguesttruth.truth import TruthContext

EXIT_UNHEALTHY = 1


def current(conn: Any, inv: Any, ctx: TruthContext, level: Any, lookback: timedelta) -> list[Incident]:
    """The incidents open now: the inventory grouped, dated by the hosts' storage events (``conn`` None, as in a
    replayed capture: no history, dated now), with their hits."""
    prints = footprints(inv, ctx)
    found = failures(inv, ctx, prints=prints)
    if not found:
        return []
    history = History()
    if conn is not None:
        from vsguesttruth.vcenter.storage_events import StorageEventReader

        history.add(StorageEventReader(conn, EVENT_TYPES, lookback)())
    hit_vms = {h.vm for hs in hits(found, prints, inv).values() for h in hs}
    truths = {m: ctx.vm_truth(m, level) for m in hit_vms}
    life = Lifecycle()
    life.step(found, datetime.now(timezone.utc), starts=history.starts(found), hits=hits(found, prints, inv, truths))
    return life.incidents()


def _when(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def print_incidents(rows: list[dict]) -> None:
    """The incidents' table (one row each)."""
    print_table(("ID", "STATE", "KIND", "SINCE", "HOSTS", "VMS", "DISKS", "WHAT FAILED"), [
        (r["id"], Text(r["state"], style="red" if r["state"] == "open" else "green"), r["kind"],
         _when(datetime.fromisoformat(r["since"])), str(r.get("host_count", "-")), str(r.get("vm_count", "-")),
         str(r.get("disk_count", "-")), r["line"]) for r in rows])


@click.command()
@click.option("--open", "only_open", is_flag=True, help="Only the incidents open now.")
@snapshot_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def incidents(only_open, cold, as_json) -> None:
    """What broke: each failed component (a path, an HBA, an array port or controller, a fabric, a LUN, a datastore,
    a host) with the hosts, VMs and disks it hits, since when, and what the service did. Incidents resolved in the
    last [incidents] event_lookback_hours come from the service's records in vCenter's events. Exit 1 while one is
    open.

    Asks the running service when there is one (as `status` does: its incidents are dated by what it saw and
    know what it did), else reads vCenter."""
    found_rows = None if cold else _from_service(only_open)
    if found_rows is not None:
        _print_incidents(found_rows, only_open, as_json)
        return
    from vsguesttruth.vcenter import events, incident_events

    started = time.monotonic()
    inv, levels = _snapshot()
    level = levels.default  # the service's level (the guests' own levels judge their disks in `status`)
    session = click.get_current_context().obj
    conn = session.connect()
    lookback = timedelta(hours=session.config.incidents.event_lookback_hours)
    now = datetime.now(timezone.utc)
    found = current(conn, inv, TruthContext(inv), level, lookback)
    rows = []
    done = events.query(conn, since=now - lookback) if found else []
    ours = [e.as_dict() for e in done]
    for i in found:
        row = i.as_dict(now)
        row["hits"] = [h.as_dict() for h in i.hits]
        row["actions"] = actions(i, ours, now)
        rows.append(row)
    if not only_open:
        open_ids = {i.id for i in found}
        for r in reversed(incident_events.recorded(conn, lookback)):
            if r.resolved_at is not None and r.id not in open_ids:
                rows.append({**r.as_dict(), "component": r.line, "hosts": [], "vms": [], "hits": [], "actions": []})
    from vsguesttruth.cli import service

    if not cold:
        service.cold(started, len(inv.vms))
    _print_incidents(rows, only_open, as_json)


def _from_service(only_open: bool) -> list[dict] | None:
    """The incidents as the running service keeps them (open ones with their hits and what it did, in the list's
    own pages: an incident that resolves meanwhile is not asked for again); None when no service answers."""
    from vsguesttruth.cli import service

    query = ([("state", "open")] if only_open else []) + [("hits", "true"), ("limit", "500")]
    first = service.ask("incidents", query)
    if first is None:
        return None
    session = click.get_current_context().obj
    endpoint = service.find(session)
    rows, page = list(first.get("items") or ()), first
    try:
        while len(rows) < int(page.get("matched") or 0) and page.get("items"):
            page = service.get(endpoint, "incidents", query + [("offset", str(len(rows)))], session)
            rows += page.get("items") or []
    except service.NoService as err:
        raise VsgtError(f"the vsguesttruth service stopped answering ({err}): try again, or ask vCenter with "
                        "`incidents --snapshot`") from None
    for row in rows:
        row.setdefault("hits", []), row.setdefault("actions", [])
    return rows


def _print_incidents(rows: list[dict], only_open: bool, as_json: bool) -> None:
    """The incidents (open ones first, as the service lists them); exit 1 while one is open."""
    found = [r for r in rows if r["state"] == "open"]
    session = click.get_current_context().obj
    lookback = timedelta(hours=session.config.incidents.event_lookback_hours)
    if as_json:
        click.echo(jsonout.dumps({"incidents": rows, "open": len(found)}))
    else:
        console = new_console()
        if not rows:
            console.print("no incident: every component the paths show works"
                          + ("" if only_open else f" (none resolved in the last {lookback.total_seconds() / 3600:.0f} h)"))
        else:
            print_incidents(rows)
            for r in rows:
                if r["state"] != "open":
                    continue
                vms = ", ".join(r["vms"][:8]) + (f" and {len(r['vms']) - 8} more" if len(r["vms"]) > 8 else "")
                console.print(styled((r["id"], "bold"), f": {r['vm_count']} VMs hit ({vms or '-'}); hosts "
                                    f"{', '.join(r['hosts'][:6])}{' ...' if len(r['hosts']) > 6 else ''}"))
                did = summary(r["actions"])
                if did:
                    console.print(styled("  service: ", did))
    if found:
        raise SystemExit(EXIT_UNHEALTHY)


@click.command("audit")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def audit_cmd(as_json) -> None:
    """Single points of failure of the disks that are healthy now, the most disks one failure would hit first:
    one HBA, array port, controller or fabric under every available path; LUNs missing from hosts a VM could run
    on; path-count drift between cluster peers; datastores without the replica [audit] replicas_wanted asks for;
    RDM mapping files behind one path. Exit 1 when there is one."""
    from vsguesttruth.vcenter import replica_pairs

    inv, levels = _snapshot()
    level = levels.default  # the service's level (the guests' own levels judge their disks in `status`)
    session = click.get_current_context().obj
    config = session.config
    replicas = dict(replica_pairs(session.connect(), config.remediation.replica_attribute)) \
        if config.remediation.replica_attribute else {}
    replicas.update(config.remediation.replicas)
    found = find_spofs(inv, TruthContext(inv), level=level, replicas=replicas,
                       replicas_wanted=config.audit.replicas_wanted, allowed_hosts=config.remediation.allowed_hosts)
    if as_json:
        click.echo(json.dumps({"findings": [f.as_dict() for f in found]}, indent=2))
    else:
        console = new_console()
        if not found:
            console.print("no single point of failure found")
        else:
            table = Table(box=None, pad_edge=False, header_style="bold")
            for column in ("KIND", "COMPONENT", "DISKS", "VMS", "WHY"):
                table.add_column(column, no_wrap=column != "WHY")
            for f in found:
                vms = ", ".join(f.vms[:4]) + (f" +{len(f.vms) - 4}" if len(f.vms) > 4 else "")
                table.add_row(Text(f.kind), Text(f.component), Text(str(len(f.disks))), Text(vms or "-"), Text(f.why))
            console.print(table)
            console.print(f"{len(found)} single points of failure; {len({(d.vm, d.key) for f in found for d in f.disks})} "
                          "disks exposed")
    if found:
        raise SystemExit(EXIT_UNHEALTHY)


# -- what-if ------------------------------------------------------------------------------------------------


@click.group("what-if")
def what_if_cmd() -> None:
    """What one failure would do: the disks whose verdict changes, the incident it opens, what remediation would
    move where (and what it could not move, and why), applied to the model, never to vCenter."""


def _what_if(failure: Failure, as_json: bool) -> None:
    from vsguesttruth.guestinfo import POLICY
    from vsguesttruth.guestinfo.policy import effective_policy
    from vsguesttruth.vcenter import events, replica_pairs

    inv, levels = _snapshot()
    level = levels.default  # the service's level (the guests' own levels judge their disks in `status`)
    session = click.get_current_context().obj
    conn = session.connect()
    config = session.config
    replicas = replica_pairs(conn, config.remediation.replica_attribute) if config.remediation.replica_attribute else {}
    recent = {vm: ago for vm, ago in events.recent_moves(conn, max(config.remediation.cooldown_seconds, 3600))}
    try:
        answer = what_if(inv, failure, config.remediation, level=level, replicas=replicas, recent_moves=recent,
                         level_of=lambda vm: effective_policy(vm.guestinfo.get(POLICY), config.guest, level).level)
    except WhatIfError as err:
        raise click.UsageError(str(err)) from None
    if as_json:
        click.echo(json.dumps(answer.as_dict(), indent=2))
        return
    from vsguesttruth.cli.remediate import _decision_row, _table

    console = new_console()
    counts = ", ".join(f"{n} {v}" for v, n in sorted(answer.counts().items()))
    console.print(styled(("what if ", "bold"), failure.words(), f": {answer.description}"))
    console.print(f"{len(answer.changes)} disks of {len(answer.vms)} VMs change verdict"
                  + (f" ({counts})" if counts else "") + (f" on {', '.join(answer.hosts)}" if answer.hosts else ""))
    for f in answer.incidents:
        console.print(styled("incident: ", f.line()))
    if answer.changes:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("VM", "DISK", "HOST", "NOW", "THEN", "WHY"):
            table.add_column(column, no_wrap=column != "WHY")
        for c in answer.changes:
            table.add_row(Text(c.vm_name), Text(c.label), Text(c.host or "-"), styled(verdict_style(c.old)),
                          styled(verdict_style(c.new)), Text(c.explanation))
        console.print(table)
    decisions = answer.plan.decisions
    if decisions:
        console.print(_table([_decision_row(d) for d in decisions]))
    console.print(f"remediation ({config.remediation.mode}): {len(answer.plan.moves)} would move, "
                  f"{len(answer.plan.refusals)} could not")
    for line in answer.rails.lines():
        console.print(f"  {line}")
    if answer.unhealthy_hosts:
        hosts = ", ".join(f"{h} ({s})" for h, s in answer.unhealthy_hosts)
        console.print(f"Proactive HA would newly be told (storage health): {hosts}")
    for note in answer.notes:
        console.print(f"note: {note}")


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@what_if_cmd.command("hba")
@click.argument("host")
@click.argument("hba")
@json_option
@connection_options
def what_if_hba(host, hba, as_json) -> None:
    """HBA on HOST fails (a pulled cable): it goes offline, its paths die."""
    _what_if(Failure("hba", host, hba), as_json)


@what_if_cmd.command("target")
@click.argument("target", metavar="WWPN|PORT-NAME")
@json_option
@connection_options
def what_if_target(target, as_json) -> None:
    """An array target port fails: its paths die on every host."""
    _what_if(Failure("target", target), as_json)


@what_if_cmd.command("controller")
@click.argument("controller", metavar="CONTROLLER|PORT")
@json_option
@connection_options
def what_if_controller(controller, as_json) -> None:
    """An array controller fails: every port of it (by its name, a node WWN, or one of its ports)."""
    _what_if(Failure("controller", controller), as_json)


@what_if_cmd.command("fabric")
@click.argument("fabric", metavar="FABRIC|PORT")
@json_option
@connection_options
def what_if_fabric(fabric, as_json) -> None:
    """A fabric fails (its switch): every HBA on it offline, every path through it dead (fabrics A, B, ... as the
    paths draw them; or name one of its target ports)."""
    _what_if(Failure("fabric", fabric), as_json)


@what_if_cmd.command("host")
@click.argument("host")
@json_option
@connection_options
def what_if_host(host, as_json) -> None:
    """A host stops responding."""
    _what_if(Failure("host", host), as_json)


@what_if_cmd.command("lun")
@click.argument("lun", metavar="NAA|NAME")
@click.option("--pdl", "state", flag_value="pdl", help="Permanent device loss.")
@click.option("--apd", "state", flag_value="apd", help="All paths down.")
@json_option
@connection_options
def what_if_lun(lun, state, as_json) -> None:
    """A LUN (canonical name, display name, or a datastore on one LUN) fails: --pdl or --apd."""
    if state is None:
        raise click.UsageError("say how the LUN fails: --pdl or --apd")
    _what_if(Failure("lun", lun, state=state), as_json)


COMMANDS = [incidents, audit_cmd, what_if_cmd]

__all__ = ["COMMANDS", "current", "print_incidents"]
