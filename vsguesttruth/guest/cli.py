"""The in-guest agent's command line."""

import click

from vsguesttruth import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vsguesttruth-guest")
def main() -> None:
    """Read the storage truth vCenter publishes into this guest."""
