"""Asking the running service instead of vCenter: the read commands' fast path (as kubectl asks the API server).

``vsguesttruth serve`` keeps the whole inventory live and judged; a read command (``status``) asks it over its
JSON API and answers in a second, where a cold snapshot of 20,000 VMs reads vCenter for half a minute. The
service is found at ``VSGT_SERVICE`` (its https URL), else where the config's ``[web]`` says it listens
(``public_url``, or ``https://127.0.0.1:<port>`` when it has a certificate), else, with ``--lab``, where the lab's
serve said it listens. The request is authenticated as the vSphere Client authenticates the plugin's pages:
with the caller's own vCenter session (``vmware-api-session-id``; the service checks it with vCenter), or with
an API token from ``VSGT_API_TOKEN``. TLS is verified (the service's own certificate file is trusted too: a
self-signed one). When no service answers, the command reads vCenter itself and says how long that took.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click

#: seconds to wait for the service's answer before reading vCenter instead
TIMEOUT = 30.0
#: where ``serve --lab`` says where its plugin server listens (in the lab's run folder)
LAB_FILE = "serve.json"


@dataclass(frozen=True)
class Endpoint:
    url: str  # https://host:port
    ca_file: str = ""  # the service's certificate (trusted besides the system's authorities)


class NoService(Exception):
    """No service answered (or it could not help): the reason, in one line."""


def ask(path: str, params: list[tuple[str, str]] = ()) -> dict | None:
    """A read command's question to the running service (``GET /api/v1/<path>``), saying on stderr that it went
    there and how long it took; None when no service is known or none answered (why, on stderr): then the
    command reads vCenter itself (:func:`cold`)."""
    session = click.get_current_context().obj
    endpoint = find(session)
    if endpoint is None:
        return None
    started = time.monotonic()
    try:
        found = get(endpoint, path, list(params), session)
    except NoService as err:
        click.echo(f"{err}", err=True)
        return None
    at = found.get("updated_at") if isinstance(found, dict) else None
    age = f", inventory of {datetime.fromtimestamp(at):%H:%M:%S}" if at else ""
    version = found.get("version", found.get("inventory_version")) if isinstance(found, dict) else None
    click.echo(f"asked the vsguesttruth service at {endpoint.url} (inventory version {version}{age}): "
               f"{time.monotonic() - started:.1f} s", err=True)
    return found


def cold(started: float, vms: int) -> None:
    """Say on stderr that the command read vCenter itself, and how long that took."""
    click.echo(f"read vCenter directly: a cold snapshot of {vms} VMs took {time.monotonic() - started:.1f} s", err=True)


def find(session: Any) -> Endpoint | None:
    """Where the service listens, from ``VSGT_SERVICE``, the config's ``[web]``, or the lab; None: nowhere known."""
    web = session.config.web
    url = os.environ.get("VSGT_SERVICE", "").strip()
    if url:
        return Endpoint(url.rstrip("/"), web.cert_file or "")
    if session.use_lab:
        from vsguesttruth.lab import Lab

        try:
            found = json.loads((Lab().run_dir / LAB_FILE).read_text())
            return Endpoint(str(found["url"]).rstrip("/"), str(found.get("ca_file", "")))
        except (OSError, ValueError, KeyError):
            return None
    if web.public_url:
        return Endpoint(web.public_url.rstrip("/"), web.cert_file or "")
    if web.cert_file and web.key_file:
        host = web.listen if web.listen not in ("", "0.0.0.0", "::") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return Endpoint(f"https://{host}:{web.port}", web.cert_file)
    return None


def remember_lab(url: str, ca_file: str) -> None:
    """``serve --lab``: say where its plugin server listens, for the read commands of the lab."""
    from vsguesttruth.lab import Lab

    path = Lab().run_dir / LAB_FILE
    path.write_text(json.dumps({"url": url, "ca_file": ca_file, "pid": os.getpid()}))


def forget_lab() -> None:
    from vsguesttruth.lab import Lab

    try:
        (Lab().run_dir / LAB_FILE).unlink()
    except OSError:
        pass


def get(endpoint: Endpoint, path: str, params: list[tuple[str, str]], session: Any) -> dict:
    """GET ``/api/v1/<path>`` of the service, authenticated; the JSON answer. Raises :class:`NoService`."""
    if not endpoint.url.startswith("https://"):
        raise NoService(f"{endpoint.url} is not an https URL")
    context = ssl.create_default_context()
    if endpoint.ca_file:
        try:
            context.load_verify_locations(cafile=endpoint.ca_file)
        except (OSError, ssl.SSLError) as err:
            raise NoService(f"cannot read the service's certificate {endpoint.ca_file}: {err}") from None
    headers = {"Accept": "application/json"}
    token = os.environ.get("VSGT_API_TOKEN", "").strip()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    else:
        headers["vmware-api-session-id"] = session_token(session)
    query = urllib.parse.urlencode(params)
    request = urllib.request.Request(f"{endpoint.url}/api/v1/{path}" + (f"?{query}" if query else ""),
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as err:
        raise NoService(f"the service at {endpoint.url} answered {err.code}: {_error(err)}") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise NoService(f"no service answered at {endpoint.url}: {reason}") from None


def session_token(session: Any) -> str:
    """The caller's own vCenter session as the vSphere Client hands it to a plugin: an Automation API session
    (``POST /api/session`` with the caller's credentials; the service exchanges it for a clone ticket), made
    once per command and logged out when the command ends."""
    from vsguesttruth.errors import VsgtError
    from vsguesttruth.vcenter.automation import connect_automation

    ctx = click.get_current_context()
    found = ctx.meta.get("vsgt.api_session")
    if found is None:
        try:
            found = connect_automation(session.settings(), pool=1)
        except VsgtError as err:
            raise NoService(f"no vCenter session to authenticate with ({err}); or set VSGT_API_TOKEN") from None
        ctx.meta["vsgt.api_session"] = found
        ctx.call_on_close(found.close)
    return found.session_id


def _error(err: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(err.read() or b"{}")
    except ValueError:
        return err.reason or ""
    found = body.get("error") if isinstance(body, dict) else None
    if isinstance(found, dict):
        found = found.get("error")
    return str(found or body.get("detail") or err.reason)[:200]
