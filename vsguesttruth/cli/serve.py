"""Publishing commands: ``serve`` (the reconcile loop) and ``publish --once`` (one pass, for cron)."""

from __future__ import annotations

import json
import logging
import signal
import sys
from datetime import datetime

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vsguesttruth.cli.connection import connection_options
from vsguesttruth.cli.read import STYLE
from vsguesttruth.errors import VsgtError


def _logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet or not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.command()
@click.option("--quiet", "-q", is_flag=True, help="No line per publish pass; warnings only.")
@click.option("--verbose", "-v", count=True, help="Log each write (-vv: debug).")
@connection_options
def serve(quiet, verbose) -> None:
    """Publish the truth into every in-scope guest's guestinfo, and answer guests, until stopped.

    Watches vCenter; after every change writes the state document of each VM whose truth changed (and only
    those), re-probes host storage on the guests' policy intervals, answers guest requests. SIGTERM or
    Ctrl-C stops it cleanly. Scope and bounds: [scope], [guest], [publish] in the config file.
    """
    from vsguesttruth.service import Service

    _logging(verbose, quiet)
    session = click.get_current_context().obj
    level = session.service_level()
    conn = session.connect()

    def line(result) -> None:
        if not quiet:
            stamp = datetime.now().strftime("%H:%M:%S")
            click.echo(f"{stamp} {result.line()}")

    service = Service(conn, session.config, level=level, on_pass=line)
    previous = {sig: signal.signal(sig, lambda *_: service.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not quiet:
            click.echo(f"serving {conn.url}: scope {service.reconciler.scope.describe()}; Ctrl-C stops")
        service.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not quiet:
        click.echo(f"stopped after {service.passes} passes, {service.publisher.writes} writes")


@click.command()
@click.option("--once", is_flag=True, help="One pass (required: `serve` publishes continuously).")
@click.option("--dry-run", is_flag=True, help="Compute and show what would be written; write nothing.")
@click.option("--all", "show_all", is_flag=True, help="List unchanged VMs too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--verbose", "-v", count=True, help="Log each write.")
@connection_options
def publish(once, dry_run, show_all, as_json, verbose) -> None:
    """Write each in-scope VM's state document where it differs from what the VM has (one pass).

    Also answers pending guest requests. Exit 3 when a write failed.
    """
    from vsguesttruth.service import publish_once

    if not once:
        raise click.UsageError("publish runs one pass: pass --once (or run `vsguesttruth serve`)")
    _logging(verbose, False)
    session = click.get_current_context().obj
    level = session.service_level()
    result = publish_once(session.connect(), session.config, level=level, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        shown = [o for o in result.outcomes if show_all or o.state != "unchanged" or o.response]
        if shown:
            table = Table(box=None, pad_edge=False)
            for column in ("VM", "STATE", "GENERATION", "VERDICT", "RESPONSE", "ERROR"):
                table.add_column(column)
            for o in shown:
                table.add_row(o.name, o.state, "" if o.generation is None else str(o.generation),
                              Text(o.verdict, style=STYLE.get(o.verdict, "")), o.response, o.error)
            Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160).print(table)
        click.echo(result.line())
    if result.failed:
        raise VsgtError(f"{result.failed} write(s) failed; see the log above")


COMMANDS = [serve, publish]
