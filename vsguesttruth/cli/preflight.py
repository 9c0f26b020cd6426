"""``vsguesttruth preflight``: read-only, can each enabled feature work with this account and these VMs?"""

from __future__ import annotations

import json

import click

from vsguesttruth.cli.connection import connection_options
from vsguesttruth.features import Finding, enabled, privilege_findings, tools_finding, verdicts


@click.command()
@click.option("--all", "everything", is_flag=True, help="Check every feature, not only those the config enables.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def preflight(everything, as_json) -> None:
    """Check, changing nothing, that the account holds what each enabled feature needs.

    Asks vCenter (AuthorizationManager.HasPrivilegeOnEntities, for our own session) about each privilege on
    the objects it is needed on: the vCenter root, the in-scope VMs, their hosts, the datastores and resource
    pools they may move to; reads VMware Tools status of the in-scope VMs, and how many of them can use VM
    data sets. One line per finding; exit 1 when an enabled feature cannot work.
    """
    from vsguesttruth.delivery import uses_datasets
    from vsguesttruth.reconcile.service import tag_cache
    from vsguesttruth.scope import Scope
    from vsguesttruth.vcenter import (
        missing_privileges,
        root_folder,
        root_pools,
        snapshot,
        tools_status,
        vcenter_major,
        vms_with_attribute,
    )

    session = click.get_current_context().obj
    config = session.config
    conn = session.connect()
    features = enabled(config, everything)
    inv = snapshot(conn)
    attribute = config.scope.attribute
    scope = Scope(config.scope, vms_with_attribute(conn, *attribute) if attribute else None)
    tags = tag_cache(conn, config)
    if tags is not None:
        try:
            tags.read()
        finally:
            tags.close()
        scope = scope.with_tags(tags.tagged, tags.excluded)
    vms = sorted((vm for vm in inv.vms.values() if scope.includes(vm, inv)), key=lambda vm: vm.name)
    hosts = {vm.host for vm in vms if vm.host in inv.hosts}
    wanted: dict[str, list[str]] = {}
    for feature in features:
        for need in feature.needs:
            wanted.setdefault(need.on, []).append(need.privilege)
    entities = {
        "vcenter": [root_folder(conn)],
        "vm": [(vm.moref, vm.name) for vm in vms],
        "host": sorted((h, inv.hosts[h].name) for h in hosts),
        "datastore": sorted((d.moref, d.name) for d in inv.datastores.values() if any(m.host in hosts for m in d.mounts)),
        "pool": root_pools(conn, hosts) if "pool" in wanted else [],
        "cluster": _clusters(conn, hosts) if "cluster" in wanted else [],
    }
    missing = missing_privileges(conn, {k: sorted(set(v)) for k, v in wanted.items()}, entities)
    findings = [Finding("ok", "read", f"connected to {conn.url} as {conn.settings.username}; "
                                      f"{len(vms)} of {len(inv.vms)} VMs in scope ({scope.describe()})")]
    findings += privilege_findings(features, missing, {k: len(v) for k, v in entities.items()})
    findings.append(tools_finding(tools_status(conn, {vm.moref for vm in vms})))
    if any(f.name == "datasets" for f in features):
        channel = config.delivery.channel if config.delivery.channel != "guestinfo" else "auto"
        on_sets = sum(1 for vm in vms if uses_datasets(vm, channel, vcenter_major(conn)))
        findings.append(Finding("ok" if on_sets or not vms else "warn", "datasets",
                                f"{on_sets} of {len(vms)} in-scope VMs get data sets ({channel}: virtual hardware "
                                f"vmx-20+{', vCenter 8.0+' if channel == 'auto' else ''}); the rest keep guestinfo"))
    closing = verdicts(features, findings)
    if as_json:
        click.echo(json.dumps({"findings": [f.as_dict() for f in findings + closing],
                               "features": {f.feature: f.level == "ok" for f in closing}}, indent=2))
    else:
        for finding in findings + closing:
            click.echo(finding.line())
    if any(f.level == "fail" for f in closing):
        raise SystemExit(1)


def _clusters(conn, hosts: set[str]) -> list[tuple[str, str]]:
    """The clusters of ``hosts``: where Proactive HA is configured."""
    from vsguesttruth.vcenter.health import clusters

    return sorted((c.moref, c.name) for c in clusters(conn) if hosts.intersection(c.hosts))


COMMANDS = [preflight]
