"""The vCenter plugin: `plugin register/unregister/status`, and `web` (the plugin server, standalone)."""

from __future__ import annotations

import json
import signal
import threading

import click

from vsguesttruth.cli.connection import connection_options
from vsguesttruth.errors import ConfigError


@click.group()
def plugin() -> None:
    """Register vsguesttruth with vCenter as a vSphere Client remote plugin."""


def _vcenter_url_options(fn):
    """connection_options, with the vCenter URL as --vcenter-url: in `plugin register`, --url is the plugin's."""
    wrapped = connection_options(fn)
    for param in getattr(wrapped, "__click_params__", []):
        if param.name == "url":
            param.opts = ["--vcenter-url"]
            param.help = "vCenter URL (https://host/sdk) [VSGT_URL, GOVC_URL]."
    return wrapped


@plugin.command()
@click.option("--url", "plugin_url", metavar="URL",
              help="Where vCenter reaches the plugin server: https://HOST:PORT (or the full .../plugin.json). "
                   "Default: [web] public_url.")
@click.option("--admin-email", default="", help="Contact shown in vCenter's extension list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_vcenter_url_options
def register(plugin_url, admin_email, as_json) -> None:
    """Register (or update) the extension: plugin.json's URL, the server's certificate, our event types.

    The plugin server must be running at URL: its manifest and certificate are fetched first. Here --url is
    the plugin server's; vCenter's comes from --vcenter-url, the config file, VSGT_URL, or --lab.
    """
    from vsguesttruth.vcenter import extension

    session = click.get_current_context().obj
    url = plugin_url or session.config.web.public_url
    if not url:
        raise ConfigError("no plugin URL: pass --url https://HOST:PORT, or set [web] public_url in the config file")
    status = extension.register(session.connect(), url, admin_email=admin_email)
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2))
        return
    click.echo(f"{status.action} {status.key} {status.version}: vSphere Client loads {status.url} "
               f"(certificate thumbprint {status.thumbprint}); {len(status.events)} event types")
    click.echo("users see it after they log in to the vSphere Client again")


@plugin.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def unregister(as_json) -> None:
    """Remove the extension from vCenter (nothing to do when it is not registered)."""
    from vsguesttruth.vcenter import extension

    removed = extension.unregister(click.get_current_context().obj.connect())
    if as_json:
        click.echo(json.dumps({"key": extension.PLUGIN_KEY, "removed": removed}))
    else:
        click.echo(f"unregistered {extension.PLUGIN_KEY}" if removed else f"{extension.PLUGIN_KEY} was not registered")


@plugin.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def status(as_json) -> None:
    """Show the registered extension. Exit 1 when it is not registered."""
    from vsguesttruth.vcenter import extension

    found = extension.status(click.get_current_context().obj.connect())
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2))
    elif found.registered:
        click.echo(f"{found.key} {found.version} registered: {found.client_type} from {found.url}")
        click.echo(f"  server {found.server_type}, thumbprint {found.thumbprint}")
        click.echo(f"  event types: {', '.join(found.events) or '-'}")
    else:
        click.echo(f"{found.key} is not registered")
    if not found.registered:
        raise SystemExit(1)


def _incidents(source, config):
    """An incident lifecycle of the pages' own watch (the standalone server: no service keeps one for it), its
    failures dated by the storage events the watch reads."""
    from vsguesttruth.incidents import IncidentController
    from vsguesttruth.web import IncidentSource

    controller = IncidentController(keep=config.incidents.keep_resolved)
    source.informer.listen_events(controller.hear)
    source.informer.listen(controller.listen)
    return IncidentSource(controller.state, config.remediation, config.audit)


@click.command()
@click.option("--listen", metavar="ADDRESS", help="Address to listen on [web] listen (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port ([web] port, default 8443; 0 picks a free one).")
@click.option("--cert", "cert_file", type=click.Path(exists=True, dir_okay=False), help="TLS certificate (PEM).")
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False), help="TLS private key (PEM).")
@click.option("--self-signed", is_flag=True, help="Make a self-signed certificate (the default with --lab).")
@connection_options
def web(listen, port, cert_file, key_file, self_signed) -> None:
    """Serve the plugin UI, the JSON API and /metrics over HTTPS, from a live watch on vCenter.

    The standalone plugin server (`serve` runs the same beside the reconcile loop). With --lab it makes a
    self-signed certificate and, when no API tokens are configured, a one-off token in the printed URL.
    Stops gracefully on Ctrl-C or SIGTERM.
    """
    from dataclasses import replace

    from vsguesttruth.vcenter import connect
    from vsguesttruth.web import WatcherSource, make_auth, self_signed as make_cert, start_web
    from vsguesttruth.web.labtoken import LabToken, note

    session = click.get_current_context().obj
    config = session.config.web
    config = replace(config, listen=listen or config.listen, port=config.port if port is None else port)
    if bool(cert_file) != bool(key_file):
        raise ConfigError("give both --cert and --key, or neither")
    if cert_file:
        config = replace(config, cert_file=cert_file, key_file=key_file)
    elif self_signed or session.use_lab or not (config.cert_file and config.key_file):
        if not (self_signed or session.use_lab):
            raise ConfigError("no TLS certificate: pass --cert/--key, set [web] cert_file/key_file, or --self-signed")
        from vsguesttruth.lab import Lab

        directory = Lab().run_dir if session.use_lab else _state_dir()
        cert, key = make_cert(directory)
        config = replace(config, cert_file=str(cert), key_file=str(key))
    settings = session.settings()
    lab_token = LabToken() if session.use_lab and not config.api_tokens_file else None  # the lab's pages may act
    source = WatcherSource(lambda: connect(settings), session.service_level())
    incidents = _incidents(source, session.config)
    source.start()
    server = start_web(source, config, auth=make_auth(config, settings, lab_token.tokens if lab_token else None),
                       on_stop=source.stop, guest=session.config.guest, incidents=incidents)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        page = f"{server.url}/ui/global.html"
        if lab_token is not None:
            from vsguesttruth.lab import Lab

            page += " " + note(lab_token.save(Lab().run_dir, page))
        click.echo(f"vsguesttruth web: {page}", err=False)
        click.echo(f"  plugin.json {server.url}/plugin.json, API {server.url}/docs, metrics {server.url}/metrics")
        while not stop.wait(0.5):
            pass
        click.echo("stopping", err=True)
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _state_dir():
    import os
    from pathlib import Path

    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"), "vsguesttruth")


COMMANDS = [plugin, web]
