"""`vsguesttruth lab ...`: start, inspect, fault and stop the SAN lab."""

from __future__ import annotations

import json

import click

from vsguesttruth.lab import TASK_MODES, Lab, LabInfo

PATH_STATES = ("active", "standby", "disabled", "dead")


def _lab() -> Lab:
    return Lab()


def _print_info(info: LabInfo, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(info.as_dict(), indent=2))
        return
    click.echo(f"lab running (pid {info.pid}): {info.hosts} hosts, {info.vms} VMs")
    click.echo(f"  vCenter SOAP  {info.url}  user {info.username!r} password {info.password!r}")
    if info.cert:
        click.echo(f"  certificate   {info.cert}  (SHA-1 {info.thumbprint})")
    if info.readonly_username:
        click.echo(f"  read-only     user {info.readonly_username!r} password {info.readonly_password!r}")
    click.echo(f"  control API   {info.control}")
    click.echo("  use it with   vsguesttruth --lab status   or   eval \"$(vsguesttruth lab env)\"")


@click.group()
def lab() -> None:
    """The SAN lab: a simulated vCenter with a real SAN topology and fault injection."""


@lab.command()
@click.option("--topology", type=click.Path(exists=True, dir_okay=False), help="Topology JSON file (default: lab/topology.json).")
@click.option("--hosts", type=click.IntRange(min=1), help="Scale: number of hosts (benchmarks).")
@click.option("--vms", type=click.IntRange(min=0), help="Scale: number of VMs (benchmarks).")
@click.option("--latency-ms", type=click.IntRange(min=0), default=0, show_default=True, help="Added to every SOAP call.")
@click.option("--http", is_flag=True, help="Serve plain http instead of https.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="SOAP port (default: a free one).")
@click.option("--timing/--no-timing", default=True, show_default=True,
              help="Tasks take time and queue as on vCenter, or finish at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the connection details as JSON.")
def up(topology, hosts, vms, latency_ms, http, port, timing, as_json) -> None:
    """Build the lab if needed, start it in the background, wait until it answers."""
    if (hosts is None) != (vms is None):
        raise click.UsageError("--hosts and --vms go together")
    info = _lab().up(topology=topology, hosts=hosts, vms=vms, latency_ms=latency_ms, http=http, port=port,
                     timing=timing)
    _print_info(info, as_json)


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def status(as_json) -> None:
    """Whether a lab is running, and how to reach it."""
    lab_ = _lab()
    info = lab_.info()
    if info is None:
        if as_json:
            click.echo(json.dumps({"running": False}))
        elif lab_.args_file.exists():
            click.echo("the lab is down (killed): `vsguesttruth lab restart` brings it back, `lab down` clears it")
        else:
            click.echo("no lab is running: start one with `vsguesttruth lab up`")
        raise SystemExit(1)
    if as_json:
        click.echo(json.dumps({"running": True, **info.as_dict()}, indent=2))
    else:
        _print_info(info, False)


@lab.command()
def down() -> None:
    """Stop the lab and remove everything it left."""
    click.echo("lab stopped" if _lab().down() else "no lab was running")


@lab.command()
@click.option("--down", "down_s", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds to stay down (ports closed) before starting again.")
@click.option("--graceful", is_flag=True, help="SIGTERM instead of SIGKILL (a clean vCenter restart, not a crash).")
@click.option("--json", "as_json", is_flag=True, help="Print the connection details as JSON.")
def restart(down_s, graceful, as_json) -> None:
    """Kill the lab's vCenter and start it again: same port, certificate and state (journal); sessions
    and running tasks are lost, as when vpxd crashes."""
    info = _lab().restart(down_s=down_s, kill=not graceful)
    if not as_json:
        click.echo(f"lab restarted ({info.replayed} journal entries replayed)")
    _print_info(info, as_json)


@lab.command()
@click.argument("mode", type=click.Choice(TASK_MODES))
@click.option("--duration-ms", type=click.IntRange(0, 600000), default=0, show_default=True,
              help="slow: how long the migration runs; fail: how long before it fails.")
@click.option("--message", default="", help="fail: the task's error message (default: a vMotion failure).")
def tasks(mode, duration_ms, message) -> None:
    """How migrations started from now on run: normal, slow, hang (until CancelTask) or fail."""
    result = _lab().task_mode(mode, duration_ms=duration_ms, message=message)
    detail = f" ({result.get('duration_ms')} ms)" if result.get("duration_ms") else ""
    click.echo(f"migrations now run in mode {result.get('mode', mode)}{detail}")


@lab.command("expire-sessions")
def expire_sessions() -> None:
    """End every vCenter session, as when they time out: their next call is NotAuthenticated."""
    click.echo(f"{_lab().expire_sessions()} sessions ended")


@lab.command()
def env() -> None:
    """Print shell exports for the running lab: eval "$(vsguesttruth lab env)"."""
    info = _lab().require()
    click.echo(f"export VSGT_URL='{info.url}' VSGT_USERNAME='{info.username}' VSGT_PASSWORD='{info.password}'")
    if info.cert:
        click.echo(f"export VSGT_CA_FILE='{info.cert}'")


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def topology(as_json) -> None:
    """The lab's hosts, HBAs, paths, LUNs, targets, datastores and VMs (names for `lab fault`)."""
    topo = _lab().topology()
    if as_json:
        click.echo(json.dumps(topo, indent=2))
        return
    for host in topo.get("hosts", []):
        paths = host.get("paths", [])
        dead = sum(1 for p in paths if p.get("state") == "dead")
        hbas = ", ".join(h["device"] for h in host.get("hbas", []))
        click.echo(f"host {host['name']:<10} {host.get('cluster', ''):<6} {host.get('connection_state', ''):<13} "
                   f"HBAs {hbas:<24} {len(paths)} paths ({dead} dead)")
    for lun in topo.get("luns", []):
        click.echo(f"LUN  {lun['name']:<16} {lun['canonical_name']:<38} array {lun.get('array', '-'):<2} "
                   f"{lun.get('state', '')}  datastore {lun.get('datastore') or '-'}")
    click.echo("targets: " + ", ".join(t["name"] for t in topo.get("targets", [])))
    click.echo("datastores: " + ", ".join(d["name"] for d in topo.get("datastores", [])))
    click.echo("VMs: " + ", ".join(f"{v['name']}@{v.get('host', '?')}" for v in topo.get("vms", [])))


@lab.group()
def fault() -> None:
    """Inject a fault (published to WaitForUpdatesEx watchers within a second)."""


def _done(result: dict, what: str) -> None:
    click.echo(f"{what}" + (f": {result['changed']} changed" if isinstance(result, dict) and "changed" in result else ""))


@fault.command("path")
@click.argument("host")
@click.argument("path")
@click.option("--state", type=click.Choice(PATH_STATES), default="dead", show_default=True)
def fault_path(host, path, state) -> None:
    """Set one path's state, e.g. `lab fault path esx-a01 vmhba2:C0:T0:L1`."""
    _done(_lab().fault("path", host=host, path=path, state=state), f"path {path} on {host} is {state}")


@fault.command("hba")
@click.argument("host")
@click.argument("hba")
@click.option("--state", type=click.Choice(("dead", "ok")), default="dead", show_default=True)
def fault_hba(host, hba, state) -> None:
    """Cable pull: every path of one HBA on one host dead (`--state ok` plugs it back)."""
    _done(_lab().fault("hba", host=host, hba=hba, state=state), f"{hba} on {host} is {state}")


@fault.command("target")
@click.argument("target")
@click.option("--state", type=click.Choice(("dead", "ok")), default="dead", show_default=True)
def fault_target(target, state) -> None:
    """Array port or switch failure: every path through TARGET dead on every host."""
    _done(_lab().fault("target", target=target, state=state), f"target {target} is {state}")


@fault.command("lun")
@click.argument("lun")
@click.option("--state", type=click.Choice(("pdl", "apd", "apd_timeout", "ok")), required=True)
def fault_lun(lun, state) -> None:
    """A LUN in PDL, in APD (later APD timeout), or back ok."""
    _done(_lab().fault("lun", lun=lun, state=state), f"LUN {lun} is {state}")


@fault.command("host")
@click.argument("host")
@click.option("--state", type=click.Choice(("disconnected", "notResponding", "connected")), default="disconnected", show_default=True)
def fault_host(host, state) -> None:
    """Disconnect a host from vCenter (or reconnect it)."""
    _done(_lab().fault("host", host=host, state=state), f"{host} is {state}")


@fault.command("fabric")
@click.argument("fabric", metavar="A|B")
@click.option("--state", type=click.Choice(("dead", "ok")), default="dead", show_default=True)
def fault_fabric(fabric, state) -> None:
    """A fabric's switch fails: every HBA cabled to it offline, every array port on it gone, on every host."""
    _done(_lab().fault("fabric", fabric=fabric, state=state), f"fabric {fabric} is {state}")


@lab.command()
def restore() -> None:
    """Undo every fault, migrations back to normal: the topology's initial state."""
    _lab().restore()
    click.echo("lab restored")


@lab.command("guest", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--agent", metavar="PATH", type=click.Path(exists=True, dir_okay=False),
              help="The vsguesttruth-guest to run (e.g. one installed alone in a venv) [the one beside this CLI].")
@click.argument("vm")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def guest(agent, vm, args) -> None:
    """Run the guest agent inside a simulated guest of lab VM VM.

    Builds the VM's guest from its virtual hardware (a fake sysfs with a /dev/sdX per disk, stand-ins for
    vmware-rpctool and vmtoolsd serving guestinfo from the VM's extraConfig and the VM's data sets through the
    lab's guest door) in the lab's run directory, then runs `vsguesttruth-guest ARGS` there (default: status)
    and exits with its exit code. E.g.

    \b
      vsguesttruth lab guest web01
      vsguesttruth lab guest db01 status --json
      vsguesttruth lab guest web01 request-migration --reason test --wait
      vsguesttruth lab guest web01 -- --help
      vsguesttruth lab guest --agent /opt/agent/bin/vsguesttruth-guest web01 status
    """
    from vsguesttruth.lab import run_agent

    args = list(args)
    if args[:1] == ["--"]:  # `lab guest VM -- --help`: everything after -- is the agent's
        args = args[1:]
    raise SystemExit(run_agent(vm, args or ["status"], agent=agent))


@lab.group()
def tag() -> None:
    """vSphere tags on the lab's VMs, hosts, clusters and datastores ("category:tag").

    \b
      vsguesttruth lab tag attach vsgt:off vm web01        # the category and the tag are created if missing
      vsguesttruth lab tag attach vsgt-replica-of:ds-gold datastore ds-gold-replica
      vsguesttruth lab tag list vm web01
      vsguesttruth lab tag list vsgt:off
      vsguesttruth lab tag detach vsgt:off vm web01
    """


KIND = click.Choice(("vm", "host", "cluster", "datastore"))


def _tags():
    from vsguesttruth.lab.tags import LabTags

    return LabTags(_lab().require())


def _category_tag(value: str) -> str:
    category, sep, name = value.partition(":")
    if not sep or not category.strip() or not name.strip():
        raise click.BadParameter(f"{value!r} is not \"category:tag\"", param_hint="TAG")
    return value


@tag.command("attach")
@click.argument("tag_name", metavar="TAG")
@click.argument("kind", type=KIND)
@click.argument("name")
def tag_attach(tag_name, kind, name) -> None:
    """Attach TAG ("category:tag") to the KIND object NAME."""
    with _tags() as tags:
        tags.attach(_category_tag(tag_name), kind, name)
    click.echo(f"{tag_name} attached to {kind} {name}")


@tag.command("detach")
@click.argument("tag_name", metavar="TAG")
@click.argument("kind", type=KIND)
@click.argument("name")
def tag_detach(tag_name, kind, name) -> None:
    """Detach TAG ("category:tag") from the KIND object NAME."""
    with _tags() as tags:
        found = tags.detach(_category_tag(tag_name), kind, name)
    click.echo(f"{tag_name} detached from {kind} {name}" if found else f"no tag {tag_name} in the lab")


@tag.command("list")
@click.argument("what", nargs=-1, required=True, metavar="TAG | KIND NAME")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tag_list(what, as_json) -> None:
    """The objects carrying TAG, or the tags on the KIND object NAME."""
    with _tags() as tags:
        if len(what) == 1:
            found = [{"kind": k, "name": n} for k, n in tags.carrying(_category_tag(what[0]))]
            lines = [f"{f['kind']} {f['name']}" for f in found]
        elif len(what) == 2 and what[0] in KIND.choices:
            found = tags.of(what[0], what[1])
            lines = list(found)
        else:
            raise click.UsageError("give a tag (category:tag), or a kind (vm, host, cluster, datastore) and a name")
    if as_json:
        click.echo(json.dumps(found, indent=2))
    else:
        click.echo("\n".join(lines) if lines else "none")
