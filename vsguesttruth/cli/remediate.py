"""Remediation commands: plan (what would move, where, why), migrate (by hand), remediate --once (cron)."""

from __future__ import annotations

import fnmatch
import json
import sys
from dataclasses import replace

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from vsguesttruth.cli.connection import connection_options
from vsguesttruth.errors import VsgtError
from vsguesttruth.plan import Decision, force, plan, plan_move
from vsguesttruth.truth import TruthContext

STYLE = {"move": "green", "advise": "cyan", "hold": "yellow", "refuse": "red"}


def _console(err: bool = False) -> Console:
    stream = click.get_text_stream("stderr" if err else "stdout")
    return Console(soft_wrap=False, stderr=err, width=None if stream.isatty() else 160)


def _gather(vm_names=()):
    """Snapshot, truths (filtered by VM name patterns, each VM by its own service level), the levels, replica
    pairs from the custom attribute and tags."""
    from vsguesttruth.vcenter import replicas as read_replicas, snapshot

    session = click.get_current_context().obj
    conn = session.connect()
    inv = snapshot(conn, events=True)
    levels = session.levels()
    ctx = TruthContext(inv)
    for pattern in vm_names:
        if not any(fnmatch.fnmatchcase(vm.name, pattern) for vm in inv.vms.values()):
            raise VsgtError(f"no VM named {pattern!r} in vCenter")
    truths = [t for t in ctx.vm_truths(levels.default, levels.all(inv.vms.values()))
              if not vm_names or any(fnmatch.fnmatchcase(t.name, p) for p in vm_names)]
    config = session.config.remediation
    replicas = read_replicas(conn, config.replica_attribute, config.replica_tag_category)
    return session, conn, inv, ctx, levels, truths, replicas


def _decision_row(d: Decision, kind: str = "", reason: str = "") -> list[Text]:
    to = d.to_host_name if d.action.value == "vmotion" else (
        f"{d.to_datastore_name}{' @ ' + d.to_host_name if d.to_host_name else ''}" if d.moves else "-")
    kind = kind or ("move" if d.moves else "refuse")
    return [Text(d.vm_name), Text(kind, style=STYLE.get(kind, "")), Text(d.action.value), Text(d.from_host_name or "-"),
            Text(to), Text(d.verdict.value), Text(reason + (": " if reason else "") + d.why)]


def _table(rows: list[list[Text]]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("VM", "STATUS", "ACTION", "FROM", "TO", "VERDICT", "WHY"):
        table.add_column(column, no_wrap=column != "WHY")
    for row in rows:
        table.add_row(*row)
    return table


@click.command("plan")
@click.option("--vm", "vm_names", multiple=True, metavar="NAME", help="Only these VMs (glob patterns allowed).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def plan_cmd(vm_names, as_json) -> None:
    """What would move, where and why; and what cannot move, and why not. Changes nothing."""
    session, _, inv, ctx, levels, truths, replicas = _gather(vm_names)
    result = plan(inv, truths, session.config.remediation, level=levels.default,
                  levels=levels.all(inv.vms.values()), replicas=replicas, context=ctx)
    if as_json:
        click.echo(json.dumps({"mode": session.config.remediation.mode, **result.as_dict()}, indent=2))
        return
    console = _console()
    if not result.decisions:
        console.print(f"nothing to do: no VM's storage calls for a move ({len(truths)} VMs checked)")
        return
    console.print(_table([_decision_row(d) for d in result.decisions]))
    console.print(f"{len(result.moves)} to move, {len(result.refusals)} refused; mode {session.config.remediation.mode}")


@click.command()
@click.argument("vm_name", metavar="VM")
@click.option("--to-host", metavar="HOST", help="Target host (default: the planner picks).")
@click.option("--to-datastore", metavar="DATASTORE", help="Target datastore (a Storage vMotion).")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", "force_", is_flag=True, help="Move even to a target that does not reach the VM's storage.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def migrate(vm_name, to_host, to_datastore, dry_run, yes, force_, as_json) -> None:
    """Move one VM by hand: to a host (vMotion) and/or a datastore (Storage vMotion)."""
    from vsguesttruth.remediation import VcenterExecutor, move

    session, conn, inv, ctx, levels, _, replicas = _gather()
    vm = inv.vm_by_name(vm_name)
    if vm is None:
        raise VsgtError(f"no VM named {vm_name!r} in vCenter")
    host = inv.host_by_name(to_host) if to_host else None
    if to_host and host is None:
        raise VsgtError(f"no host named {to_host!r} in vCenter")
    ds = next((d for d in inv.datastores.values() if d.name == to_datastore), None) if to_datastore else None
    if to_datastore and ds is None:
        raise VsgtError(f"no datastore named {to_datastore!r} in vCenter")
    config = session.config.remediation
    decision = plan_move(inv, vm.moref, config, to_host=host.moref if host else "",
                         to_datastore=ds.moref if ds else "", level=levels.of(vm), replicas=replicas, context=ctx)
    if not decision.moves:
        if force_ and decision.to_host:
            decision = force(decision)
        else:
            hint = "; --force moves it anyway" if decision.to_host and (to_host or to_datastore) else ""
            raise VsgtError(f"refusing to move {vm.name}: {decision.why}{hint}")
    if as_json and dry_run:
        click.echo(json.dumps({"dry_run": True, "decision": decision.as_dict()}, indent=2))
        return
    console = _console(err=as_json)
    console.print(Text(("FORCED " if decision.forced else "") + decision.line()))
    if dry_run:
        console.print("dry run: nothing moved")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise VsgtError("not a terminal, cannot ask for confirmation: pass --yes")
        click.confirm(f"Move {vm.name}?", abort=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                  console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task(f"{decision.action.value} {vm.name}", total=100)
        _, seconds = move(VcenterExecutor(conn, config), decision,
                          progress=lambda pct: bar.update(task, completed=pct))
    if as_json:
        click.echo(json.dumps({"moved": True, "seconds": round(seconds, 3), "decision": decision.as_dict()}, indent=2))
    else:
        console.print(f"moved {vm.name} {decision.target_words()} in {seconds:.1f} s")


@click.command()
@click.option("--once", is_flag=True, help="Run one remediation pass and exit (for cron).")
@click.option("--mode", type=click.Choice(["advise", "auto"]), help="Override [remediation] mode.")
@click.option("--dry-run", is_flag=True, help="Show what the pass would do now; move nothing, post nothing.")
@click.option("--vm", "vm_names", multiple=True, metavar="NAME", help="Only these VMs (glob patterns allowed).")
@click.option("--max-wait", type=click.FloatRange(min=0), default=None,
              help="Longest time to wait for verdicts to hold (hysteresis), seconds [stable_seconds + 60].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def remediate(once, mode, dry_run, vm_names, max_wait, as_json) -> None:
    """One pass of the remediation, under the guard rails of [remediation]. Exit 1 when a move failed.

    A pass acts, then looks again, until nothing more can move now: VMs whose verdict has not yet held for
    stable_seconds are looked at again once it has (up to --max-wait). Cooldowns and the hourly budget
    carry over between runs through the events vsguesttruth posts on the VMs.
    """
    from vsguesttruth.remediation import DryRun, RemediationLoop

    if not once:
        raise click.UsageError("pass --once (the continuous loop is `vsguesttruth serve`)")
    session = click.get_current_context().obj
    config = session.config.remediation
    if mode:
        config = replace(config, mode=mode)
    if dry_run:
        config = replace(config, stable_seconds=0)
    if config.mode == "off":
        click.echo("remediation mode is off ([remediation] mode): nothing to do", err=True)
        return
    conn = session.connect()
    loop = RemediationLoop(conn, config, executor=DryRun() if dry_run else None).start(follow=not dry_run)
    try:
        report = loop.run_once(level=session.service_level(), levels=session.levels(), vms=vm_names,
                               max_wait=max_wait, act=not dry_run)
    finally:
        loop.stop()
    if as_json:
        click.echo(json.dumps({"mode": config.mode, "dry_run": dry_run, "seconds": round(report.seconds, 3),
                               "moved": report.moved, "failed": report.failed,
                               "moves": [{"vm": n, "ok": ok} for n, ok in report.moves],
                               "actions": [a.as_dict() for a in report.actions]}, indent=2))
    else:
        console = _console()
        rows = []
        for a in report.actions:
            kind = "moved" if any(n == a.decision.vm_name and ok for n, ok in report.moves) else (
                "failed" if any(n == a.decision.vm_name for n, _ in report.moves) else a.kind)
            rows.append(_decision_row(a.decision, kind, a.reason))
        if rows:
            console.print(_table(rows))
        console.print(f"mode {config.mode}{' (dry run)' if dry_run else ''}: {report.moved} moved, "
                      f"{report.failed} failed, {len(report.actions) - report.moved - report.failed} not moved, "
                      f"in {report.seconds:.1f} s")
    if report.failed:
        raise SystemExit(1)


COMMANDS = [plan_cmd, migrate, remediate]
