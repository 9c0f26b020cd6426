"""Connection options shared by every command that talks to vCenter, and the service level.

The password never comes from the command line (process lists show it): environment, config file,
``--password-stdin`` or an interactive prompt.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import click

from vsguesttruth import config as config_file
from vsguesttruth.errors import ConfigError
from vsguesttruth.policy import PolicyError, ServiceLevel


def connection_options(fn: Callable) -> Callable:
    """Add --url/--username/--password-stdin/--insecure/--thumbprint/--ca-file/--config/--lab."""
    options = [
        click.option("--url", metavar="URL", help="vCenter URL (https://host/sdk) [VSGT_URL, GOVC_URL]."),
        click.option("--username", "-u", metavar="USER", help="vCenter user [VSGT_USERNAME, GOVC_USERNAME]."),
        click.option("--password-stdin", is_flag=True, help="Read the password from standard input [VSGT_PASSWORD]."),
        click.option("--insecure", is_flag=True, default=None, help="Do not verify the TLS certificate (not recommended)."),
        click.option("--thumbprint", metavar="AA:BB:..", help="Pin the vCenter certificate's SHA-1 thumbprint."),
        click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), help="CA bundle that signs vCenter's certificate."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (TOML) [VSGT_CONFIG]."),
        click.option("--lab", "use_lab", is_flag=True, help="Connect to the running lab (`vsguesttruth lab up`)."),
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, url, username, password_stdin, insecure, thumbprint, ca_file, config_path, use_lab, **kwargs: Any):
        ctx = click.get_current_context()
        ctx.obj = Session(
            url=url, username=username, password_stdin=password_stdin, insecure=insecure,
            thumbprint=thumbprint, ca_file=ca_file, config_path=config_path, use_lab=use_lab,
        )
        return fn(*args, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


class Session:
    """What the options said; connects lazily and closes when the command ends."""

    def __init__(self, *, url, username, password_stdin, insecure, thumbprint, ca_file, config_path, use_lab) -> None:
        self.options = {"url": url, "username": username, "insecure": insecure, "thumbprint": thumbprint, "ca_file": ca_file}
        self.password_stdin = password_stdin
        self.use_lab = use_lab
        self.config = config_file.load(config_path)
        self._conn = None

    def settings(self):
        from vsguesttruth.vcenter import ConnectionSettings

        options = dict(self.options)
        if self.use_lab:
            from vsguesttruth.lab import Lab

            info = Lab().require()
            options.update(url=info.url, username=info.username, password=info.password, ca_file=info.cert or None)
        if self.password_stdin:
            options["password"] = sys.stdin.readline().rstrip("\n")
        settings = ConnectionSettings.from_sources(options, self.config.vcenter)
        if self.config.san.port_names:
            from dataclasses import replace as with_names

            settings = with_names(settings, port_names=tuple(self.config.san.port_names.items()))
        if not settings.password:
            if not sys.stdin.isatty():
                raise ConfigError(
                    f"no password for {settings.username} at {settings.url}: set VSGT_PASSWORD, "
                    "put password_file in the config file, or pass --password-stdin"
                )
            from dataclasses import replace

            settings = replace(settings, password=click.prompt(f"Password for {settings.username}", hide_input=True))
        return settings

    def connect(self):
        from vsguesttruth.vcenter import connect

        if self._conn is None:
            self._conn = connect(self.settings())
            click.get_current_context().call_on_close(self._conn.close)
        return self._conn

    def levels(self):
        """Each VM's service level, read from its guest's policy key within [guest] bounds (else the service's
        [service_level]): the one reading the service, the web API and every command share."""
        from vsguesttruth.guestinfo import Levels

        return Levels(self.config.guest, self.service_level())

    def service_level(self) -> ServiceLevel:
        try:
            return ServiceLevel.from_dict(self.config.service_level)
        except (PolicyError, TypeError) as err:
            raise ConfigError(f"config file {self.config.path}: [service_level]: {err}") from None
