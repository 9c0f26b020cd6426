"""capture and replay: a user's vCenter, recorded for a bug report and judged offline the same way."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from vsguesttruth.cli.connection import connection_options
from vsguesttruth.cli.read import VERDICTS, show_status


@click.command()
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, writable=True),
              help="The file to write [vsguesttruth-capture-<UTC time>.json.gz].")
@click.option("--hash", "hashed", is_flag=True,
              help="Replace names and identifiers by stable hashes, leave out inquiry data and guest documents.")
@click.option("--event-hours", type=click.FloatRange(min=0), default=24.0, show_default=True,
              help="How far back the hosts' storage events are recorded.")
@connection_options
def capture(output, hashed, event_hours) -> None:
    """Record vCenter's replies for the storage view into one file, to attach to a bug report; `replay`
    judges it offline exactly as `status` judged the live vCenter. Reads only."""
    from vsguesttruth.vcenter.capture import capture as record

    session = click.get_current_context().obj
    path = output or f"vsguesttruth-capture-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json.gz"
    done = record(session.connect(), path, hashed=hashed, event_seconds=event_hours * 3600,
                  port_names=session.config.san.port_names)
    click.echo(f"wrote {done['path']}: {done['objects']} objects in {done['replies']} replies, {done['events']} storage "
               f"events{', names and identifiers hashed' if hashed else ''} ({done['bytes'] // 1024} KiB before gzip)")


@click.command()
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--vm", "vm_names", multiple=True, metavar="NAME", help="Only these VMs (glob patterns allowed).")
@click.option("--cluster", multiple=True, help="Only VMs running in this cluster.")
@click.option("--host", "host_names", multiple=True, metavar="HOST", help="Only VMs running on this host.")
@click.option("--verdict", "verdicts", multiple=True, type=click.Choice(VERDICTS), help="Only disks with this verdict.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="VSGT_CONFIG",
              help="Config file ([service_level], [guest] bounds).")
def replay(path, vm_names, cluster, host_names, verdicts, as_json, config_path) -> None:
    """Judge a capture (`vsguesttruth capture`) offline: the same decoding and truth as `status`, the same
    output. Exit 1 when a shown disk is not healthy."""
    from vsguesttruth import config as config_file
    from vsguesttruth.guestinfo import Levels
    from vsguesttruth.policy import PolicyError, ServiceLevel
    from vsguesttruth.errors import ConfigError
    from vsguesttruth.vcenter.capture import replay as load

    config = config_file.load(config_path)
    try:
        level = ServiceLevel.from_dict(config.service_level)
    except (PolicyError, TypeError) as err:
        raise ConfigError(f"config file {config.path}: [service_level]: {err}") from None
    from datetime import timedelta

    from vsguesttruth.cli.incidents import current

    inv = load(path)
    show_status(inv, Levels(config.guest, level), vm_names, cluster, host_names, verdicts, as_json,
                incidents=lambda ctx: current(None, inv, ctx, level, timedelta(0)))


COMMANDS = [capture, replay]
