"""``vsguesttruth role``: the vCenter privileges each enabled feature needs, and the role that holds them."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from vsguesttruth.cli.connection import connection_options
from vsguesttruth.features import FEATURES, enabled, role_privileges

GRANT_HINT = ("grant it to the service account on the vCenter root with propagation (vSphere Client: Administration "
              "> Access Control > Global Permissions, or `govc permissions.set -principal USER -role NAME /`)")


@click.command()
@click.option("--all", "everything", is_flag=True, help="Every feature, not only those the config enables.")
@click.option("--create", "create", metavar="NAME", help="Create the role NAME in vCenter (or update it).")
@click.option("--dry-run", is_flag=True, help="With --create: say what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def role(everything, create, dry_run, as_json) -> None:
    """The vCenter privileges each enabled feature needs (read, publish, advise, remediate, proactive-ha, ...).

    Features follow the config: [remediation] mode advise/auto/proactive-ha, [web] cert_file or public_url. With
    --create NAME the role is made in vCenter (AuthorizationManager.AddAuthorizationRole), or updated when
    it exists with other privileges; running it again changes nothing.
    """
    if dry_run and not create:
        raise click.UsageError("--dry-run goes with --create NAME")
    session = click.get_current_context().obj
    config = session.config
    features = enabled(config, everything)
    privileges = role_privileges(features)
    result = None
    if create:
        from vsguesttruth.vcenter import ensure_role

        result = ensure_role(session.connect(), create, privileges, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps({"features": [f.as_dict(config) for f in FEATURES if everything or f in features],
                               "privileges": privileges, "role": result.as_dict() if result else None}, indent=2))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("FEATURE", "ENABLED BY", "PRIVILEGE", "ON", "FOR"):
        table.add_column(column)
    for feature in features:
        for need in feature.needs:
            table.add_row(feature.name, feature.why_enabled, need.privilege, need.on, need.why)
    Console(soft_wrap=False, width=200, markup=False).print(table)
    click.echo(f"the role holds {len(privileges)} privileges (vCenter adds System.Anonymous, System.Read, "
               f"System.View): {', '.join(privileges)}")
    if result is not None:
        change = "".join(f" +{p}" for p in result.added) + "".join(f" -{p}" for p in result.removed)
        ident = f" (id {result.role_id})" if result.role_id is not None else ""
        click.echo(f"role {result.name}{ident}: {result.action}{':' + change if change else ''}")
        if not dry_run:
            click.echo(GRANT_HINT.replace("NAME", result.name))


COMMANDS = [role]
