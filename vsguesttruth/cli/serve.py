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
from vsguesttruth.cli.output import STYLE
from vsguesttruth.errors import VsgtError


def _logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet or not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.command()
@click.option("--quiet", "-q", is_flag=True, help="No line per publish pass; warnings only.")
@click.option("--verbose", "-v", count=True, help="Log each write (-vv: debug).")
@click.option("--mode", type=click.Choice(["off", "advise", "auto", "proactive-ha"]), help="Override [remediation] mode.")
@click.option("--web/--no-web", "with_web", default=None,
              help="Serve the plugin UI, API and /metrics too [on when [web] has a certificate, or with --lab].")
@click.option("--port", type=click.IntRange(0, 65535), help="Plugin server port ([web] port; 0 picks a free one).")
@connection_options
def serve(quiet, verbose, mode, with_web, port) -> None:
    """The service: publish the truth into guests, remediate, and serve the plugin, until stopped.

    Watches vCenter; after every change writes the state document of each VM whose truth changed (and only
    those), re-probes host storage on the guests' policy intervals, answers guest requests; runs remediation
    in the configured mode ([remediation] mode: off, advise (default), auto, proactive-ha: each host's storage
    health posted to vSphere's Proactive HA, which evacuates a host that lost its paths) under its guard rails; serves
    the vSphere Client plugin, the JSON API and /metrics over HTTPS. SIGTERM or Ctrl-C stops it cleanly;
    SIGHUP reads the vSphere tags of [scope] and the replica tags again at its next wake.
    One instance per vCenter acts (it holds a lease in vCenter); another one started beside it stands by
    (read-only pages and metrics) and takes over when the first stops ([service] lease_seconds).
    Scope and bounds: [scope], [guest], [publish], [delivery], [service], [remediation], [web] in the config file.
    """
    from dataclasses import replace

    from vsguesttruth.vcenter import Lease

    from vsguesttruth.gcpause import limit_arenas

    limit_arenas()  # before the writers' threads start
    _logging(verbose, quiet)
    session = click.get_current_context().obj
    level = session.service_level()
    conn = session.connect()
    config = session.config
    remedy_config = replace(config.remediation, mode=mode) if mode else config.remediation

    def role(_active: bool) -> None:
        if not quiet:
            click.echo(f"{datetime.now():%H:%M:%S} {lease.describe()}")

    lease = Lease(conn, seconds=config.service.lease_seconds, renew=config.service.lease_renew_seconds,
                  on_change=role).start()
    try:
        service = _serve(session, conn, config, remedy_config, lease, level, quiet, with_web, port)
    finally:
        lease.stop(release=True)  # the instance standing by takes over at its next look
    if not quiet:
        sets = f", {service.delivery.writes} data set entries" if service.delivery is not None else ""
        click.echo(f"stopped after {service.passes} passes, {service.publisher.writes} writes{sets}")


#: seconds a thread holds the GIL while another waits for it (Python's default: 0.005). The service's ~130
#: threads mostly wait on vCenter: each answer they read must take the GIL back from the one thread judging an
#: inventory or building a page, and at 5 ms a turn the writes in flight crawled while a `status` was built
SWITCH_INTERVAL = 0.001


def _serve(session, conn, config, remedy_config, lease, level, quiet, with_web, port):
    """The service, its remediation and its plugin server, until stopped; the service."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    from vsguesttruth.reconcile import Service
    from vsguesttruth.remediation import RemediationLoop
    from vsguesttruth.web import metrics, track

    def line(result) -> None:
        metrics.pass_done(result.seconds)
        metrics.publish_done("ok", result.states + result.responses)
        metrics.publish_done("failed", result.failed)
        if not quiet:
            stamp = datetime.now().strftime("%H:%M:%S")
            click.echo(f"{stamp} {result.line()}")

    remedy = None
    if remedy_config.mode != "off":  # started by the service once it acts (it holds the lease)
        remedy = RemediationLoop(conn, remedy_config, lease=lease, proactive=_proactive(conn, config, remedy_config, lease),
                                 on_done=lambda ok: metrics.migration_done("done" if ok else "failed"))
        metrics.track_in_flight(lambda: len(remedy.remediator.in_flight))
    service = Service(conn, config, level=level, remediation=remedy, on_pass=line, lease=lease)
    if remedy is not None and remedy_config.replica_tag_category:
        service.on_tags = lambda tags: setattr(remedy, "replicas", tags.replicas)  # replica tags, as read
    track(service.informer)
    metrics.track_publisher(service.publisher)
    metrics.track_pass_running(lambda: service.busy)
    metrics.track_active(lambda: service.acting)
    web = _start_web(session, service, remedy, with_web, port)
    previous = {sig: signal.signal(sig, lambda *_: service.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda *_: service.refresh_tags())
    try:
        if not quiet:
            click.echo(f"serving {conn.url}: scope {service.reconciler.scope.describe()}; "
                       f"remediation {remedy_config.mode}; Ctrl-C stops")
            click.echo(f"{datetime.now():%H:%M:%S} {lease.describe()}")
            if web is not None:
                click.echo(f"plugin UI {web.url}/ui/global.html{web.note}  "
                           f"(plugin.json {web.url}/plugin.json, API {web.url}/docs, metrics {web.url}/metrics)")
        service.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if web is not None:
            web.stop()
            if session.use_lab:
                from vsguesttruth.cli import service as read_service

                read_service.forget_lab()
        if remedy is not None:
            remedy.stop()
    return service


def _proactive(conn, config, remedy_config, lease):
    """Mode proactive-ha: the health provider's controller (posting only while this instance holds the lease)."""
    if remedy_config.mode != "proactive-ha":
        return None
    from vsguesttruth.remediation.proactive import ProactiveHa
    from vsguesttruth.vcenter.health import HealthProvider

    return ProactiveHa(HealthProvider(conn, gate=lease.check), remedy_config.stable_seconds,
                       clusters=config.scope.clusters)


def _start_web(session, service, remedy, with_web, port):
    """The plugin server beside the loop, sharing its watch; None when not wanted."""
    from dataclasses import replace

    from vsguesttruth.web import IncidentSource, WatcherSource, make_auth, self_signed, start_web
    from vsguesttruth.web.labtoken import LabToken, note

    config = session.config.web
    has_cert = bool(config.cert_file and config.key_file)
    if with_web is False or (with_web is None and not (has_cert or session.use_lab)):
        return None
    if port is not None:
        config = replace(config, port=port)
    if not has_cert:
        if not session.use_lab:
            raise VsgtError("the plugin server needs a certificate: set [web] cert_file and key_file, or --no-web")
        from vsguesttruth.lab import Lab

        cert, key = self_signed(Lab().run_dir)
        config = replace(config, cert_file=str(cert), key_file=str(key))
    lab_token = LabToken() if session.use_lab and not config.api_tokens_file else None  # the lab demo's pages
    source = WatcherSource.sharing(service.informer, service.level, conn=service.conn, judged=service.judged)
    incidents = IncidentSource(service.incidents.state, remedy.config if remedy else session.config.remediation,
                               session.config.audit, (lambda: remedy.replicas) if remedy else dict)
    server = start_web(source, config, auth=make_auth(config, session.settings(), lab_token.tokens if lab_token else None),
                       plan=remedy.manual.plan if remedy else None, migrate=remedy.manual.migrate if remedy else None,
                       guest=session.config.guest, role=service.role, incidents=incidents,
                       health=remedy.proactive.as_dict if remedy is not None and remedy.proactive is not None else None)
    server.note = ""
    if session.use_lab:  # the lab's read commands ask this server (cli.service)
        from vsguesttruth.cli import service as read_service

        read_service.remember_lab(server.url, config.cert_file)
    if lab_token is not None:
        from vsguesttruth.lab import Lab

        server.note = " " + note(lab_token.save(Lab().run_dir, f"{server.url}/ui/global.html"))
    return server


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
    from vsguesttruth.reconcile import publish_once

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
        first = next((o for o in result.outcomes if o.error), None)
        raise VsgtError(f"{result.failed} write(s) failed" + (f", the first: {first.name}: {first.error}" if first else
                                                               "; see the log above"))


COMMANDS = [serve, publish]
