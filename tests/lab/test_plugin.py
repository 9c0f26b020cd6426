"""Registering the vSphere Client remote plugin with the lab's ExtensionManager (the vSphere Client's
sessions: test_client_sessions.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from vsguesttruth.cli import main
from vsguesttruth.vcenter import extension
from vsguesttruth.web import Auth, StaticSource, WebServer, create_app, self_signed


@pytest.fixture(scope="module")
def plugin_server(tmp_path_factory):
    """The plugin server over HTTPS (a self-signed certificate), serving plugin.json."""
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    server = WebServer(create_app(StaticSource(), Auth()), "127.0.0.1", 0, cert_file=cert, key_file=key).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clean(conn):
    extension.unregister(conn)
    yield
    extension.unregister(conn)


def _find(si):
    return si.RetrieveContent().extensionManager.FindExtension(extension.PLUGIN_KEY)


def test_register_update_unregister(conn, si, plugin_server, clean):
    assert extension.status(conn).registered is False
    first = extension.register(conn, plugin_server.url)
    assert first.action == "registered"
    found = _find(si)  # another session sees it: FindExtension
    assert found is not None and found.key == "com.vsguesttruth.plugin"
    server = found.server[0]
    assert server.type == "MANIFEST_SERVER" and server.url == plugin_server.url + "/plugin.json"
    probe = extension.probe(plugin_server.url)
    assert server.serverThumbprint in (probe.sha1, probe.sha256)
    assert found.client[0].type == "vsphere-client-remote" and found.client[0].url == server.url
    assert {e.eventID for e in found.eventList} == set(extension.EVENT_TYPES)
    assert any(r.module == "event" for r in found.resourceList)

    again = extension.register(conn, plugin_server.url, version="9.9.9")  # idempotent: an update
    assert again.action == "updated" and _find(si).version == "9.9.9"
    assert len([e for e in si.RetrieveContent().extensionManager.extensionList if e.key == extension.PLUGIN_KEY]) == 1

    assert extension.unregister(conn) is True
    assert _find(si) is None and extension.status(conn).registered is False
    assert extension.unregister(conn) is False


def test_unreachable_or_wrong_url_is_refused_before_registering(conn, si, plugin_server, clean):
    with pytest.raises(extension.PluginUrlError, match="does not answer"):
        extension.register(conn, "https://127.0.0.1:9", timeout=2)
    with pytest.raises(extension.PluginUrlError, match="HTTP 404"):
        extension.register(conn, plugin_server.url + "/nope/plugin.json")
    with pytest.raises(Exception, match="must be https"):
        extension.register(conn, "http://127.0.0.1:8443")
    assert _find(si) is None


def test_cli_register_status_unregister(lab, plugin_server, clean, monkeypatch):
    monkeypatch.setenv("VSGT_URL", lab.url)
    monkeypatch.setenv("VSGT_USERNAME", lab.username)
    monkeypatch.setenv("VSGT_PASSWORD", lab.password)
    monkeypatch.setenv("VSGT_CA_FILE", lab.cert)
    runner = CliRunner()
    missing = runner.invoke(main, ["plugin", "status"])
    assert missing.exit_code == 1 and "not registered" in missing.output
    done = runner.invoke(main, ["plugin", "register", "--url", plugin_server.url])
    assert done.exit_code == 0, done.output
    assert done.output.startswith("registered com.vsguesttruth.plugin")
    again = runner.invoke(main, ["plugin", "register", "--url", plugin_server.url, "--json"])
    assert json.loads(again.output)["action"] == "updated"
    shown = runner.invoke(main, ["plugin", "status", "--json"])
    assert shown.exit_code == 0 and json.loads(shown.output)["client_type"] == "vsphere-client-remote"
    gone = runner.invoke(main, ["plugin", "unregister"])
    assert gone.exit_code == 0 and "unregistered" in gone.output
    bad = runner.invoke(main, ["plugin", "register", "--url", "https://127.0.0.1:9"])
    assert bad.exit_code == 3 and "does not answer" in bad.output
