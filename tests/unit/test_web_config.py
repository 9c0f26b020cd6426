"""[web] in the config file, the extension object we register, and the plugin URL rules."""

from __future__ import annotations

import pytest

from vsguesttruth import config
from vsguesttruth.errors import ConfigError
from vsguesttruth.vcenter import extension


def _load(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return config.load(path)


def test_web_defaults_and_values(tmp_path):
    assert config.Config().web == config.WebConfig()
    web = _load(tmp_path, '[web]\nlisten = "0.0.0.0"\nport = 9443\ncert_file = "c.pem"\nkey_file = "k.pem"\n'
                          'api_tokens_file = "t"\nsession_cache_seconds = 5\npublic_url = "https://v:9443"\n'
                          'metrics_anonymous = true\n').web
    assert (web.listen, web.port, web.cert_file, web.key_file, web.api_tokens_file) == ("0.0.0.0", 9443, "c.pem", "k.pem", "t")
    assert web.session_cache_seconds == 5 and web.public_url == "https://v:9443" and web.metrics_anonymous is True


@pytest.mark.parametrize("text, message", [
    ('[web]\nlisen = "x"\n', "unknown key web.lisen"),
    ('[web]\nport = "8443"\n', "web.port must be an integer"),
    ('[web]\nport = 70000\n', "between 1 and 65535"),
    ('[web]\ncert_file = "c.pem"\n', "both cert_file and key_file"),
    ('[web]\npublic_url = "http://x"\n', "must start with https://"),
])
def test_web_is_strict(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text)


def test_manifest_url():
    assert extension.manifest_url("vsgt.example.com:8443") == "https://vsgt.example.com:8443/plugin.json"
    assert extension.manifest_url("https://h/x/") == "https://h/x/plugin.json"
    assert extension.manifest_url("https://h:1/m/plugin.json") == "https://h:1/m/plugin.json"
    with pytest.raises(ConfigError, match="https"):
        extension.manifest_url("http://h:8443")


def test_extension_object():
    probe = extension.Probe(url="https://h:8443/plugin.json", sha1="AA:" * 19 + "AA", sha256="BB:" * 31 + "BB",
                            pem="-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
    seven = extension.build_extension(probe, vcenter_major=7, version="1.2.3")
    assert seven.key == "com.vsguesttruth.plugin" and seven.version == "1.2.3"
    assert seven.server[0].type == "MANIFEST_SERVER" and seven.server[0].serverThumbprint == probe.sha1
    assert seven.server[0].serverCertificate is None
    assert seven.client[0].type == "vsphere-client-remote" and seven.client[0].url == probe.url
    eight = extension.build_extension(probe, vcenter_major=8)
    assert eight.server[0].serverThumbprint == probe.sha256 and eight.server[0].serverCertificate == probe.pem
    ids = [e.eventID for e in seven.eventList]
    assert ids and all(i.startswith("com.vsguesttruth.") for i in ids)
    keys = {kv.key for r in seven.resourceList for kv in r.data}
    assert all(f"{i}.fullFormat" in keys and f"{i}.category" in keys for i in ids)
