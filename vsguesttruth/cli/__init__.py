"""The vsguesttruth command line (click). Thin: parse, call, print.

Exit codes: 0 fine, 1 something is unhealthy (``status``), 2 wrong usage, 3 an error (vCenter, lab,
config), 130 interrupted. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import os

import click

from vsguesttruth import __version__
from vsguesttruth.errors import VsgtError

EXIT_UNHEALTHY = 1
EXIT_ERROR = 3


class Cli(click.Group):
    """A group that turns every expected error into one line and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VsgtError as err:
            click.echo(f"error: {err}", err=True)
            ctx.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as err:  # a bug: say so in one line; VSGT_DEBUG=1 shows the traceback
            if os.environ.get("VSGT_DEBUG"):
                raise
            click.echo(f"internal error: {type(err).__name__}: {err} (set VSGT_DEBUG=1 for the traceback and report it)", err=True)
            ctx.exit(EXIT_ERROR)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vsguesttruth")
def main() -> None:
    """Tell VMware guests the physical truth about their storage.

    Connection: --url/--username or a config file, or VSGT_URL, VSGT_USERNAME, VSGT_PASSWORD,
    VSGT_INSECURE (govc's GOVC_* names work too). `--lab` connects to the running lab.
    """


def _register() -> None:
    from vsguesttruth.cli import lab

    main.add_command(lab.lab)
    try:
        from vsguesttruth.cli import read
    except ImportError:  # pragma: no cover - during bring-up
        return
    for command in read.COMMANDS:
        main.add_command(command)
    from vsguesttruth.cli import incidents, remediate

    for command in incidents.COMMANDS:
        main.add_command(command)

    for command in remediate.COMMANDS:
        main.add_command(command)
    from vsguesttruth.cli import serve

    for command in serve.COMMANDS:
        main.add_command(command)
    from vsguesttruth.cli import plugin

    for command in plugin.COMMANDS:
        main.add_command(command)
    from vsguesttruth.cli import capture, ha, preflight, role

    for command in role.COMMANDS + preflight.COMMANDS + ha.COMMANDS + capture.COMMANDS:
        main.add_command(command)


_register()
