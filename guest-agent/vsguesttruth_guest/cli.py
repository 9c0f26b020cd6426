"""``vsguesttruth-guest``: the in-guest agent's command line.

Runs inside a Linux guest of vSphere, next to VMware Tools (open-vm-tools). It reads what the
vsguesttruth service publishes into the VM's guestinfo (``guestinfo.vsguesttruth.state``) or, on vSphere 8
with virtual hardware vmx-20+, its data set ``vsguesttruth`` (read with ``vmtoolsd --cmd "datasets-..."``;
:mod:`.channel`), tells which ``/dev`` device each virtual disk is, and writes the guest's policy and requests
back (to the data set ``vsguesttruth-guest`` when the VM has it). It never imports pyVmomi: stdlib, click and
the contracts (``vsguesttruth_guest.guestinfo``, ``vsguesttruth_guest.datasets``) only.

Commands::

    vsguesttruth-guest status [--json] [--wait]     every disk: device, verdict, reachable, advice, incidents
    vsguesttruth-guest watch --hook PROG [--hook-arg ARG]... [--interval S] [--once|--count N|--duration S]
    vsguesttruth-guest set-policy [--refresh-interval S] [--publish on_change|interval] [--field F]...
                                  [--min-working-paths N] [--min-reachable-devices N] [--poll-interval S]
                                  [--clear] [--wait]
    vsguesttruth-guest show-policy [--json]
    vsguesttruth-guest request-migration [--reason TEXT] [--wait [--until-done]] [--timeout S]
    vsguesttruth-guest request-refresh [--reason TEXT] [--wait [--until-done]] [--timeout S]
    vsguesttruth-guest show-response [--json]
    vsguesttruth-guest devices [--json]             this guest's disks as sysfs shows them

Common options (or environment): ``--rpctool PATH`` (``VSGT_RPCTOOL``; ``vmware-rpctool`` or
``vmtoolsd``, found on PATH otherwise), ``--sysfs DIR`` (``VSGT_SYSFS``, default ``/sys``),
``--rpc-timeout S`` (``VSGT_RPC_TIMEOUT``, default 10).

Exit codes: 0 fine; 1 a disk is not healthy (status) or a request/policy was refused or failed; 2 wrong
usage; 3 not in a VMware VM; 4 VMware Tools missing (no RPC tool); 5 nothing published yet (no document,
response or policy); 6 the document is from a newer schema or cannot be decoded; 7 the guest RPC failed;
8 --wait timed out; 70 internal error; 130 interrupted. Errors are one line on stderr.

Hooks (``watch``) are executed directly, never through a shell: the change goes as one JSON object on
stdin and in VSGT_DEVICE, VSGT_LABEL, VSGT_OLD_VERDICT, VSGT_NEW_VERDICT, VSGT_ADVICE, VSGT_EXPLANATION,
VSGT_REACHABLE, VSGT_MATCH, VSGT_VM, VSGT_HOST, VSGT_CONTROLLER, VSGT_BUS, VSGT_UNIT, VSGT_GENERATION,
VSGT_CHANGED. Host-provided text is data: it is never parsed by a shell.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import click

from vsguesttruth_guest import __version__, agent, devices, errors, guestinfo
from vsguesttruth_guest.channel import Channel
from vsguesttruth_guest.errors import GuestError, NoDocument
from vsguesttruth_guest.rpc import DEFAULT_TIMEOUT, Rpc, check_vmware
from vsguesttruth_guest.watching import follow

EXIT_INTERNAL = 70
FIELDS = guestinfo.FIELDS


class GuestCli(click.Group):
    """Expected errors become one line on stderr and their exit code; never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GuestError as err:
            click.echo(f"vsguesttruth-guest: {err}", err=True)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("vsguesttruth-guest: interrupted", err=True)
            ctx.exit(errors.EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as err:  # a bug: one line; VSGT_DEBUG=1 shows the traceback
            if os.environ.get("VSGT_DEBUG"):
                raise
            click.echo(f"vsguesttruth-guest: internal error: {type(err).__name__}: {err} (VSGT_DEBUG=1 shows the traceback)", err=True)
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=GuestCli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vsguesttruth-guest")
def main() -> None:
    """Read the storage truth vCenter publishes into this guest, and talk back.

    \b
    Exit codes:
      0  fine
      1  a disk is not healthy (status), a request or policy was refused or failed
      2  wrong usage
      3  not running in a VMware virtual machine
      4  VMware Tools missing (no vmware-rpctool / vmtoolsd)
      5  nothing published yet (no document, response or policy)
      6  document from a newer schema, or undecodable
      7  the guest RPC failed or timed out
      8  --wait gave up without an answer
      70 internal error, 130 interrupted
    """


def guest_options(rpc: bool = True):
    """--rpctool/--sysfs/--rpc-timeout on a command; passes ``guest`` (a Guest) to it."""

    def decorate(func: Callable) -> Callable:
        @click.option("--sysfs", default="/sys", show_default=True, envvar="VSGT_SYSFS", metavar="DIR",
                      help="Root of sysfs (for tests and chroots). [env: VSGT_SYSFS]")
        @functools.wraps(func)
        def wrapper(*args, sysfs: str, rpctool: str | None = None, rpc_timeout: float = DEFAULT_TIMEOUT, **kwargs):
            return func(*args, guest=Guest(sysfs, rpctool, rpc_timeout), **kwargs)

        if rpc:
            wrapper = click.option("--rpc-timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT, show_default=True,
                                   envvar="VSGT_RPC_TIMEOUT", metavar="S", help="Seconds to wait for one guest RPC. [env: VSGT_RPC_TIMEOUT]")(wrapper)
            wrapper = click.option("--rpctool", envvar="VSGT_RPCTOOL", metavar="PATH",
                                   help="vmware-rpctool or vmtoolsd to use (default: found on PATH). [env: VSGT_RPCTOOL]")(wrapper)
        return wrapper

    return decorate


class Guest:
    """This guest: its sysfs, and (lazily, after the VM check) its RPC tool."""

    def __init__(self, sysfs: str, rpctool: str | None, timeout: float) -> None:
        self.sysfs = sysfs
        self._rpctool = rpctool
        self._timeout = timeout
        self._rpc: Channel | None = None

    @property
    def rpc(self) -> Channel:
        """The guest's values (data sets where the service publishes them, else guestinfo), found on first use,
        after checking that this is a VMware VM (NotInVm, ToolsMissing)."""
        if self._rpc is None:
            check_vmware(self.sysfs)
            self._rpc = Channel.locate(Rpc.locate(self._rpctool, self._timeout))
        return self._rpc

    def status(self) -> dict:
        return agent.view(agent.read_state(self.rpc), devices.scan(self.sysfs))


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


# -- status ---------------------------------------------------------------------------------------

@main.command()
@click.option("--wait", is_flag=True, help="No document yet (a VM just powered on: guestinfo starts empty): wait for it.")
@click.option("--timeout", type=click.FloatRange(min=0), default=60.0, show_default=True, metavar="S", help="Seconds --wait waits.")
@json_option
@guest_options()
def status(guest: Guest, wait: bool, timeout: float, as_json: bool) -> None:
    """Every virtual disk: its /dev device, verdict, reachability, advice. Exit 1 if any is not healthy.

    The MATCH column says how the device was found: wwid, serial (the disk's uuid, exposed with
    disk.EnableUUID), scsi-address / nvme-address (controller and unit), or unmatched.
    guestinfo is empty after every power-on until the service publishes the document again (within a
    second of vCenter showing the power-on): --wait waits for it instead of exiting 5.
    """
    view = wait_for_document(guest, timeout) if wait else guest.status()
    if as_json:
        echo_json(view)
    else:
        print_status(view)
    sys.exit(errors.EXIT_OK if agent.healthy(view) else errors.EXIT_UNHEALTHY)


def wait_for_document(guest: Guest, timeout: float) -> dict:
    """The status once the state document is there; says once that it waits, WaitTimeout after ``timeout``."""
    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            return guest.status()
        except errors.NoDocument as err:
            if time.monotonic() >= deadline:
                raise errors.WaitTimeout(f"{err}; gave up after {timeout:g} s") from None
            if not said:
                click.echo(f"{err}: waiting up to {timeout:g} s (guestinfo is empty after a power-on until the "
                           "service publishes it again)", err=True)
                said = True
            time.sleep(min(1.0, max(deadline - time.monotonic(), 0.05)))


def print_status(view: dict) -> None:
    p = agent.printable
    where = f"on {p(view['host'])}" + (f" ({p(view['cluster'])})" if view.get("cluster") else "")
    click.echo(f"vm {p(view['vm'])} {where}: {p(view['verdict'])}, generation {view['generation']}, changed {p(view['changed'])}")
    if view.get("explanation") and view.get("verdict") != agent.HEALTHY:
        click.echo(f"  {p(view['explanation'])}")
    if view.get("host_evacuation"):
        click.echo(f"  the host is being evacuated ({p(view['host_evacuation'])}): vSphere moves this VM to another host")
    policy = view.get("policy") or {}
    if policy.get("status") in ("applied", "invalid"):
        detail = ", ".join(f"{k} {policy[k]}" for k in ("refresh_interval", "min_working_paths", "min_reachable_devices", "poll_interval") if policy.get(k) is not None)
        click.echo(f"policy {p(policy['status'])}" + (f": {p(detail)}" if detail else "") + (f" ({p(policy['message'])})" if policy.get("message") else ""))
    rows = [("DEVICE", "LABEL", "VERDICT", "REACHABLE", "ADVICE", "MATCH", "INCIDENTS", "EXPLANATION")]
    for d in view["disks"]:
        reachable = {True: "yes", False: "no"}.get(d["reachable"], "?")
        incidents = p(",".join(d.get("incidents") or [])) or "-"
        rows.append((p(d["device"] or "-"), p(d["label"]), p(d["verdict"]), reachable, p(d["advice"]), p(d["match"]),
                     incidents, p(d["explanation"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])


# -- watch ----------------------------------------------------------------------------------------

@main.command()
@click.option("--hook", metavar="PROG", help="Program to run on every verdict change (executed directly, no shell).")
@click.option("--hook-arg", "hook_args", multiple=True, metavar="ARG", help="An argument for the hook (repeatable).")
@click.option("--hook-timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True, metavar="S",
              help="Seconds a hook may run before it is killed.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=2.0, show_default=True, metavar="S",
              help="Seconds between two reads of the state key.")
@click.option("--policy-interval", is_flag=True,
              help="Poll at the refresh interval of the policy the service applied (when longer than --interval).")
@click.option("--initial", is_flag=True, help="Report every disk at the first read too (old verdict empty).")
@click.option("--once", is_flag=True, help="Read once and stop (with --initial: report the current verdicts).")
@click.option("--count", type=click.IntRange(min=1), metavar="N", help="Stop after N reads.")
@click.option("--duration", type=click.FloatRange(min=0), metavar="S", help="Stop after S seconds.")
@json_option
@guest_options()
def watch(guest: Guest, hook, hook_args, hook_timeout, interval, policy_interval, initial, once, count, duration, as_json) -> None:
    """Follow the verdicts; on every change of a disk's verdict print it and run the hook.

    The hook gets the change as one JSON object on stdin and in VSGT_* environment variables
    (VSGT_DEVICE, VSGT_LABEL, VSGT_OLD_VERDICT, VSGT_NEW_VERDICT, VSGT_ADVICE, VSGT_EXPLANATION,
    VSGT_REACHABLE, VSGT_MATCH, VSGT_VM, VSGT_HOST, ...). A disk that appears has an empty old verdict,
    one that disappears an empty new verdict. Without a stop option it runs until interrupted; read
    errors are reported and retried, except for a missing RPC tool or a non-VMware system.
    """
    if hook_args and not hook:
        raise click.UsageError("--hook-arg needs --hook")
    argv = [hook, *hook_args] if hook else None
    if argv:
        problem = agent.check_hook(argv)
        if problem:
            raise click.BadParameter(problem, param_hint="--hook")
    if once:
        count = 1
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        follow(guest, argv, hook_timeout, interval, policy_interval, initial, count, duration, as_json, stopping)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- policy ---------------------------------------------------------------------------------------

@main.command("set-policy")
@click.option("--refresh-interval", type=int, metavar="S", help="Seconds between re-probes of the host's storage (10..86400).")
@click.option("--publish", type=click.Choice(["on_change", "interval"]), help="Publish on every change, or only on the interval.")
@click.option("--field", "fields", multiple=True, type=click.Choice(FIELDS), help="Optional disk fields wanted (repeatable; default all). Without uuid and capacity the device "
                   "mapping has only controller and unit to go by.")
@click.option("--min-working-paths", type=int, metavar="N", help="Service level: working paths per LUN (1..32).")
@click.option("--min-reachable-devices", type=int, metavar="N", help="Service level: disks that must be usable (1..256).")
@click.option("--poll-interval", type=int, metavar="S", help="On VM data sets: seconds between the service's reads of "
              "this guest's policy and requests (10..86400; data sets have no change notification).")
@click.option("--clear", is_flag=True, help="Remove the policy (the service's defaults apply).")
@click.option("--dry-run", is_flag=True, help="Check and print the policy, write nothing.")
@click.option("--wait", is_flag=True, help="Wait for the service's answer about the policy.")
@click.option("--timeout", type=click.FloatRange(min=0), default=60.0, show_default=True, metavar="S", help="Seconds --wait waits.")
@json_option
@guest_options()
def set_policy(guest: Guest, refresh_interval, publish, fields, min_working_paths, min_reachable_devices,
               poll_interval, clear, dry_run, wait, timeout, as_json) -> None:
    """Write this guest's probing policy (guestinfo.vsguesttruth.policy, or the data set vsguesttruth-guest),
    checked against its schema first.

    The policy replaces the previous one. The service bounds it with the admin's limits and answers
    in the response key (status policy_applied or policy_invalid); --wait shows that answer.
    """
    given = any(v not in (None, ()) for v in (refresh_interval, publish, fields, min_working_paths, min_reachable_devices,
                                              poll_interval))
    if clear and given:
        raise click.UsageError("--clear takes no other policy option")
    if not clear and not given:
        raise click.UsageError("nothing to set: give at least one policy option, or --clear")
    if clear:
        value = ""
    else:
        try:
            value = agent.build_policy(refresh_interval, publish, fields, min_working_paths, min_reachable_devices,
                                       poll_interval)
        except (ValueError, guestinfo.DocumentError) as err:
            raise click.UsageError(f"invalid policy: {err}") from None
    if dry_run:
        click.echo(value)
        return
    before = _current_response(guest) if wait else None
    unchanged = wait and _current_policy(guest) == value
    guest.rpc.set(guestinfo.POLICY, value)
    if not as_json:
        click.echo("policy cleared" if clear else f"policy set: {value}")
    if not wait:
        if as_json:
            echo_json({"policy": json.loads(value) if value else None})
        return
    if unchanged and before is not None and before.get("id") == "policy":
        finish_answer(before, as_json)  # the same policy again: the service has answered it already
    answer = agent.wait_response(guest.rpc, lambda a: a.get("id") == "policy" and a != before, timeout)
    finish_answer(answer, as_json)


def _current_policy(guest: Guest) -> str:
    raw = guest.rpc.get(guestinfo.POLICY)
    return raw.decode("utf-8", errors="replace") if raw else ""


@main.command("show-policy")
@json_option
@guest_options()
def show_policy(guest: Guest, as_json: bool) -> None:
    """The policy this guest has set (exit 5 when none), and how the service applied it."""
    policy = agent.read_policy(guest.rpc)
    if policy is None:
        raise NoDocument("no policy set: the service applies its defaults")
    applied = None
    try:
        applied = agent.read_state(guest.rpc).get("policy")
    except GuestError:
        pass
    if as_json:
        echo_json({"policy": policy, "applied": applied})
        return
    click.echo(f"policy: {agent.printable(guestinfo.dumps(policy))}")
    if applied:
        click.echo(f"applied by the service: {agent.printable(guestinfo.dumps(applied))}")


# -- requests -------------------------------------------------------------------------------------

def request_options(func: Callable) -> Callable:
    for option in reversed((
        click.option("--reason", metavar="TEXT", help="Why (at most 256 characters)."),
        click.option("--wait", is_flag=True, help="Wait for the service's answer to this request and print it."),
        click.option("--until-done", is_flag=True, help="With --wait: past 'accepted', until done / failed / refused."),
        click.option("--timeout", type=click.FloatRange(min=0), default=60.0, show_default=True, metavar="S", help="Seconds --wait waits."),
        json_option,
    )):
        func = option(func)
    return func


@main.command("request-migration")
@request_options
@guest_options()
def request_migration(guest: Guest, reason, wait, until_done, timeout, as_json) -> None:
    """Ask the service to move this VM (vMotion) to a host whose storage paths are healthy.

    Writes a request with a fresh id; with --wait, prints the answer with that id. Exit 1 when it is
    refused or failed, 8 when no answer came in time.
    """
    send_request(guest, "migrate", reason, wait, until_done, timeout, as_json)


@main.command("request-refresh")
@request_options
@guest_options()
def request_refresh(guest: Guest, reason, wait, until_done, timeout, as_json) -> None:
    """Ask the service to re-probe this VM's storage now and refresh its document."""
    send_request(guest, "refresh", reason, wait, until_done, timeout, as_json)


def send_request(guest: Guest, action: str, reason, wait, until_done, timeout, as_json) -> None:
    if until_done and not wait:
        raise click.UsageError("--until-done needs --wait")
    try:
        request_id, value = agent.build_request(action, reason)
    except (ValueError, guestinfo.DocumentError) as err:
        raise click.UsageError(f"invalid request: {err}") from None
    guest.rpc.set(guestinfo.REQUEST, value)
    hint = _poll_hint(guest)
    if hint and not as_json:
        click.echo(hint, err=True)
    if not wait:
        if as_json:
            echo_json({"request": json.loads(value)})
        else:
            click.echo(f"request {request_id} ({action}) sent")
        return
    if not as_json:
        click.echo(f"request {request_id} ({action}) sent, waiting for the answer")
    answer = agent.wait_response(
        guest.rpc, lambda a: a.get("id") == request_id, timeout, until_final=until_done,
        on_answer=None if as_json else lambda a: click.echo(describe_answer(a)),
    )
    finish_answer(answer, as_json)


def _poll_hint(guest: Guest) -> str:
    """On data sets (no change notification) the service reads requests at the policy's poll_interval, in a
    request window, or at its sweep: say so when this guest set no poll_interval."""
    if guest.rpc.name != "datasets":
        return ""
    try:
        applied = agent.read_state(guest.rpc).get("policy") or {}
    except GuestError:
        applied = {}
    if applied.get("poll_interval"):
        return ""
    return ("note: on VM data sets the service reads requests at this guest's poll_interval (none set: "
            "set-policy --poll-interval S), else at its sweep ([delivery] sweep_interval)")


def _current_response(guest: Guest) -> dict | None:
    try:
        return agent.read_response(guest.rpc)
    except errors.BadDocument:
        return None


def describe_answer(answer: dict) -> str:
    p = agent.printable
    what = f"request {p(answer.get('id'))}" + (f" ({p(answer['action'])})" if answer.get("action") else "")
    if answer.get("id") == "policy":
        what = "policy"
    return f"{what}: {p(answer.get('status'))}: {p(answer.get('message'))} (at {p(answer.get('at'))})"


def finish_answer(answer: dict, as_json: bool) -> None:
    if as_json:
        echo_json(answer)
    else:
        click.echo(describe_answer(answer))
    sys.exit(errors.EXIT_UNHEALTHY if answer.get("status") in agent.NOT_OK else errors.EXIT_OK)


@main.command("show-response")
@json_option
@guest_options()
def show_response(guest: Guest, as_json: bool) -> None:
    """The service's latest answer to this guest's request or policy (exit 5 when none yet)."""
    answer = agent.read_response(guest.rpc)
    if answer is None:
        raise NoDocument(f"no response yet in {guestinfo.RESPONSE}")
    if as_json:
        echo_json(answer)
    else:
        click.echo(describe_answer(answer))


# -- devices --------------------------------------------------------------------------------------

@main.command("devices")
@json_option
@guest_options(rpc=False)
def devices_command(guest: Guest, as_json: bool) -> None:
    """This guest's disks and controllers as sysfs shows them (what the mapping works from)."""
    storage = devices.scan(guest.sysfs)
    if as_json:
        echo_json({
            "devices": [d.as_dict() for d in storage.devices],
            "controllers": [{"kind": c.kind, "driver": c.driver, "pci": c.pci, "hosts": list(c.hosts), "name": c.name}
                            for c in storage.controllers],
        })
        return
    p = agent.printable
    if not storage.devices and not storage.controllers:
        click.echo(f"no SCSI, SATA, IDE or NVMe disks under {p(guest.sysfs)}")
        return
    for c in storage.controllers:
        hosts = ",".join(f"host{h}" for h in c.hosts) or c.name
        click.echo(f"controller {p(c.kind or '?')} ({p(c.driver)}) at {p(c.pci or '?')}: {p(hosts)}")
    for d in storage.devices:
        info = d.as_dict()
        where = info["address"] or f"{d.controller} nsid {d.nsid}"
        ident = ", ".join(d.ids) or "no wwid"
        click.echo(f"{d.path}: {p(d.kind or '?')} {p(where)}, {d.size if d.size is not None else '?'} bytes, {p(ident)}")
