"""``vsguesttruth-guest watch``: follow the state document vCenter publishes into this VM, print every disk
verdict change, and run the admin's hook on it (executed directly, never through a shell: the change as JSON
on stdin and in VSGT_* variables). A read that fails is said once and retried; a missing RPC tool or a
non-VMware system ends the watch."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

import click

from vsguesttruth_guest import agent, devices, errors
from vsguesttruth_guest.errors import GuestError


def follow(guest: Any, argv: list[str] | None, hook_timeout: float, interval: float, policy_interval: bool,
           initial: bool, count: int | None, duration: float | None, as_json: bool, stopping: threading.Event) -> None:
    """Read the state key every ``interval`` seconds until ``count`` reads, ``duration`` or ``stopping``;
    report every verdict change and run the hook on it. ``guest``: the command's guest (``rpc``, ``sysfs``)."""
    tracker = agent.Watch(initial=initial)
    started = time.monotonic()
    reads = 0
    last_error: GuestError | None = None
    announced = ""
    wait = interval
    while True:
        try:
            doc = agent.read_state(guest.rpc)
            view = agent.view(doc, devices.scan(guest.sysfs))
        except (errors.NotInVm, errors.ToolsMissing):
            raise
        except GuestError as err:
            if count == 1:
                raise
            last_error = err
            if str(err) != announced:
                click.echo(f"vsguesttruth-guest: {err}", err=True)
                announced = str(err)
        else:
            last_error, announced = None, ""
            for change in tracker.update(view):
                report_change(change, as_json)
                if argv:
                    result = agent.run_hook(argv, change, hook_timeout)
                    relay_hook(argv, change, result)
            wait = interval
            if policy_interval:
                wait = max(interval, agent.policy_interval(doc) or 0)
        reads += 1
        if count is not None and reads >= count or stopping.is_set():
            break
        if duration is not None:
            remaining = duration - (time.monotonic() - started)
            if remaining <= 0:
                break
            if remaining < wait:
                stopping.wait(remaining)
                break
        if stopping.wait(wait):
            break
    if stopping.is_set():
        return  # stopped by SIGTERM / Ctrl-C: a normal end for a daemon
    if last_error is not None:  # the last read failed: its message is on stderr already
        sys.exit(last_error.exit_code)


def report_change(change: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(change, sort_keys=True, ensure_ascii=False))
        return
    p = agent.printable
    old = change["old_verdict"] or "(new)"
    new = change["new_verdict"] or "(gone)"
    click.echo(
        f"{p(change['device'] or '-')} {p(change['label'])}: {p(old)} -> {p(new)}"
        f" (advice {p(change['advice'] or 'none')}) {p(change['explanation'])}"
    )


def relay_hook(argv: list[str], change: dict, result: agent.HookResult) -> None:
    name = agent.printable(os.path.basename(argv[0]))
    for line in result.output.splitlines():
        click.echo(f"hook {name}: {agent.printable(line)}", err=True)
    if result.returncode is None:
        click.echo(f"vsguesttruth-guest: hook {name} killed after its timeout ({agent.printable(change['device'])})", err=True)
    elif result.returncode != 0:
        click.echo(f"vsguesttruth-guest: hook {name} exited {result.returncode} ({agent.printable(change['device'])})", err=True)
