"""Clients of the lab for the tests: Broadcom's SDK (vAPI JSON-RPC on /api), plain HTTPS with the lab's
certificate for the REST forms, pyVmomi for SOAP. Nothing here fakes the server: these are the real clients.

requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's own `verify`, so the sessions
handed to the SDK ignore the environment (trust_env=False) and trust only the lab's certificate.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlparse

import httpx
import requests


def server(info) -> str:
    url = urlparse(info.url)
    return f"{url.hostname}:{url.port}"


def http_session(info) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = info.cert
    return session


def sdk(info, user: str | None = None, password: str | None = None):
    """A vSphere client of the SDK (vAPI JSON-RPC on /api), logged in."""
    from vmware.vapi.vsphere.client import create_vsphere_client

    return create_vsphere_client(server=server(info), username=user or info.username,
                                 password=password or info.password, session=http_session(info))


def sdk_session(info, session_id: str):
    """A vSphere client of the SDK on an existing session (no login)."""
    from vmware.vapi.vsphere.client import create_vsphere_client

    return create_vsphere_client(server=server(info), session_id=session_id, session=http_session(info))


def rest(info) -> httpx.Client:
    """Plain HTTPS to the lab's /api, verified against the lab's certificate."""
    return httpx.Client(base_url=f"https://{server(info)}/api", verify=ssl.create_default_context(cafile=info.cert),
                        trust_env=False, timeout=30)


def rest_login(client: httpx.Client, info, user: str | None = None, password: str | None = None) -> str:
    res = client.post("/session", auth=(user or info.username, password or info.password))
    assert res.status_code == 201, res.text
    session_id = res.json()
    client.headers["vmware-api-session-id"] = session_id
    return session_id


def soap(info, user: str | None = None, password: str | None = None):
    """A pyVmomi ServiceInstance, logged in, TLS verified against the lab's certificate."""
    from pyVim.connect import SmartConnect

    url = urlparse(info.url)
    return SmartConnect(host=url.hostname, port=url.port, user=user or info.username, pwd=password or info.password,
                        sslContext=ssl.create_default_context(cafile=info.cert), disableSslCertValidation=False)


def guest(info, vm: str, cmd: str) -> httpx.Response:
    """What `vmtoolsd --cmd CMD` answers inside the VM (the lab's guest door)."""
    return httpx.post(f"{info.control}/v1/guest/datasets", json={"vm": vm, "cmd": cmd}, timeout=30)
