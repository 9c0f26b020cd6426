"""``vsguesttruth ha``: vsguesttruth as vSphere's Proactive HA storage health provider.

``ha status`` shows the provider, each cluster's Proactive HA settings and what each host is reported as;
``ha enable --cluster X`` turns Proactive HA on for a cluster with vsguesttruth as its provider (a dry run
unless ``--apply``).
"""

from __future__ import annotations

import json

import click

from vsguesttruth.cli.connection import connection_options
from vsguesttruth.errors import VsgtError

_RANK = {"green": 0, "gray": 1, "yellow": 2, "red": 3}
_WORDS = {
    "QuarantineMode": "quarantine (DRS moves its VMs where that costs no performance and places none there)",
    "MaintenanceMode": "maintenance mode (DRS moves every VM off it)",
}


@click.group()
def ha() -> None:
    """Proactive HA: vSphere evacuates a host that vsguesttruth reports as having lost its storage paths.

    Run `serve` with [remediation] mode = "proactive-ha" (or --mode proactive-ha): it registers the health
    provider and posts each host's storage health; `ha enable --cluster X --apply` lets the cluster act on it.
    """


def _provider(conn):
    from vsguesttruth.vcenter.health import PROVIDER_NAME, find_provider

    return PROVIDER_NAME, find_provider(conn)


@ha.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def status(as_json) -> None:
    """The health provider, each cluster's Proactive HA settings, and what each host is reported as."""
    from vsguesttruth.vcenter.health import clusters, host_modes, monitored, posted

    session = click.get_current_context().obj
    conn = session.connect()
    name, pid = _provider(conn)
    updates = posted(conn, pid) if pid else {}
    watched = monitored(conn, pid) if pid else set()
    modes = host_modes(conn)
    reported: dict[str, tuple[str, str, str]] = {}  # host -> (worst status, info id, remediation)
    for (host, info), (state, text) in updates.items():
        if host not in reported or _RANK.get(state, 0) > _RANK.get(reported[host][0], 0):
            reported[host] = (state, info, text)
    found = clusters(conn)
    hosts = []
    for cluster in found:
        for moref in sorted(cluster.hosts, key=lambda m: modes[m].name if m in modes else m):
            mode = modes.get(moref)
            state, info, text = reported.get(moref, ("", "", ""))
            hosts.append({"host": mode.name if mode else moref, "cluster": cluster.name, "monitored": moref in watched,
                          "reported": state or "not reported", "info_id": info, "remediation": text,
                          "maintenance": bool(mode and mode.maintenance), "quarantine": bool(mode and mode.quarantine)})
    doc = {"provider": {"name": name, "id": pid or "", "registered": pid is not None, "monitored_hosts": len(watched)},
           "clusters": [{**c.as_dict(), "lists_provider": bool(pid and pid in c.providers),
                         "unknown_providers": [p for p in c.providers if p != pid and not _known(conn, p)]}
                        for c in found],
           "hosts": hosts}
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    if pid:
        click.echo(f"provider {name}: registered (id {pid}), {len(watched)} hosts monitored")
    else:
        click.echo(f"provider {name}: not registered (`vsguesttruth serve --mode proactive-ha` registers it)")
    for c in doc["clusters"]:
        drs = "DRS " + (("on, " + c["drs_behavior"]) if c["drs_behavior"] else "on") if c["drs_enabled"] else "DRS off"
        if not c["proactive_ha"]:
            ha_words = "Proactive HA off"
        else:
            ha_words = (f"Proactive HA {c['behavior']}, moderate {c['moderate']}, severe {c['severe']}, "
                        f"{'lists vsguesttruth' if c['lists_provider'] else 'does NOT list vsguesttruth'}")
        click.echo(f"cluster {c['name']}: {drs}; {ha_words}")
        if c["unknown_providers"]:
            click.echo(f"  lists provider ids vCenter does not know ({', '.join(c['unknown_providers'])}): "
                       f"after a vCenter restart run `vsguesttruth ha enable --cluster {c['name']} --apply` again")
    for h in hosts:
        modes_words = ", ".join(w for w, on in (("in maintenance mode", h["maintenance"]),
                                                ("in quarantine", h["quarantine"])) if on)
        line = f"  {h['host']:<12} {h['cluster']:<8} {h['reported']:<13}"
        if modes_words:
            line += f" {modes_words}"
        if h["remediation"]:
            line += f"  {h['remediation']}"
        click.echo(line.rstrip())


def _known(conn, pid: str) -> bool:
    from vsguesttruth.vcenter.task import run

    return bool(run(conn, lambda: conn.content.healthUpdateManager.HasProvider(pid), "look up a provider"))


@ha.command()
@click.option("--cluster", "cluster_name", required=True, help="The cluster to turn Proactive HA on for.")
@click.option("--behavior", type=click.Choice(["automated", "manual"]), default="automated", show_default=True,
              help="automated: vCenter acts on the health at once; manual: it recommends, the admin applies.")
@click.option("--moderate", type=click.Choice(["quarantine", "maintenance"]), default="quarantine", show_default=True,
              help="What a yellow host (redundancy lost) gets.")
@click.option("--severe", type=click.Choice(["quarantine", "maintenance"]), default="maintenance", show_default=True,
              help="What a red host (every path to a LUN lost, other hosts reach it) gets.")
@click.option("--apply", "apply", is_flag=True, help="Change the cluster (without it: a dry run that explains).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection_options
def enable(cluster_name, behavior, moderate, severe, apply, as_json) -> None:
    """Turn Proactive HA on for a cluster, with vsguesttruth as its storage health provider (dry run by default)."""
    from vsguesttruth.vcenter.health import BEHAVIORS, REMEDIATIONS, clusters, configure

    if moderate == "maintenance" and severe == "quarantine":
        raise click.UsageError("--moderate maintenance with --severe quarantine: a red host must get at least what a "
                               "yellow one gets (vCenter refuses it)")
    session = click.get_current_context().obj
    conn = session.connect()
    found = {c.name: c for c in clusters(conn)}
    cluster = found.get(cluster_name)
    if cluster is None:
        names = ", ".join(sorted(found)) or "none"
        raise VsgtError(f"no cluster named {cluster_name!r} in vCenter (clusters: {names})")
    name, pid = _provider(conn)
    if pid is None:
        raise VsgtError(f"the health provider {name} is not registered in vCenter: start `vsguesttruth serve --mode "
                        "proactive-ha` with the service account first (it registers the provider), then run this again")
    want = {"behavior": BEHAVIORS[behavior], "moderate": REMEDIATIONS[moderate], "severe": REMEDIATIONS[severe]}
    changes = []
    if not cluster.drs_enabled:
        changes.append("DRS: off -> on, fully automated (Proactive HA needs DRS to move the VMs)")
    if not cluster.enabled:
        changes.append("Proactive HA: off -> on")
    for key, label in (("behavior", "behavior"), ("moderate", "moderate remediation (yellow)"),
                       ("severe", "severe remediation (red)")):
        if getattr(cluster, key) != want[key]:
            changes.append(f"{label}: {getattr(cluster, key) or 'unset'} -> {want[key]}")
    providers = [p for p in cluster.providers if p != pid]
    stale = [p for p in providers if not _known(conn, p)]
    providers = [p for p in providers if p not in stale] + [pid]
    if pid not in cluster.providers:
        changes.append(f"providers: + {name} (id {pid})" + (f", - unknown ids {', '.join(stale)}" if stale else ""))
    reaction = (f"a host vsguesttruth reports red (it lost every path to a LUN other hosts reach) gets "
                f"{_WORDS[want['severe']]}; a yellow one (paths dead, or fewer than [service_level] asks) gets "
                f"{_WORDS[want['moderate']]}")
    reaction += ("; vCenter does it at once" if behavior == "automated"
                 else "; vCenter recommends it and an administrator applies it")
    doc = {"cluster": cluster.name, "changes": changes, "applied": False, "means": reaction}
    if changes and apply:
        configure(conn, cluster.moref, cluster.name, enabled=True, behavior=want["behavior"],
                  moderate=want["moderate"], severe=want["severe"], providers=providers, drs=not cluster.drs_enabled)
        doc["applied"] = True
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    if not changes:
        click.echo(f"{cluster.name}: Proactive HA already as asked, nothing to change; {reaction}")
        return
    head = f"{cluster.name}: changed" if apply else f"{cluster.name}: would change (dry run; --apply changes it)"
    click.echo(head)
    for change in changes:
        click.echo(f"  {change}")
    click.echo(f"then {reaction}")


COMMANDS = [ha]
