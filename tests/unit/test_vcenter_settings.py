"""Connection settings: where they come from, how URLs are read, and that the password stays hidden."""

from __future__ import annotations

import pytest

from vsguesttruth.errors import ConfigError, VsgtError
from vsguesttruth.vcenter import AuthError, CertificateError, ConnectError, ConnectionSettings, normalize_thumbprint, parse_url, translate

TP = "2C:11:ED:D7:13:87:7D:B5:74:18:B8:1C:42:C2:56:1F:0D:B9:5B:B9"


@pytest.mark.parametrize("raw, expected", [
    ("vc.example.com", ("https://vc.example.com/sdk", None, None)),
    ("vc.example.com:8443", ("https://vc.example.com:8443/sdk", None, None)),
    ("https://vc.example.com/", ("https://vc.example.com/sdk", None, None)),
    ("http://127.0.0.1:8989/sdk", ("http://127.0.0.1:8989/sdk", None, None)),
    ("user:pass@vc", ("https://vc/sdk", "user", "pass")),
    ("https://administrator%40vsphere.local:p%40ss@vc:443/sdk", ("https://vc:443/sdk", "administrator@vsphere.local", "p@ss")),
    ("[::1]:8989", ("https://[::1]:8989/sdk", None, None)),
    ("https://vc/custom", ("https://vc/custom", None, None)),
])
def test_parse_url(raw, expected):
    assert parse_url(raw) == expected


@pytest.mark.parametrize("raw", ["", "ftp://vc", "https://", "https://vc:notaport"])
def test_parse_url_rejects(raw):
    with pytest.raises(ConfigError):
        parse_url(raw)


def test_precedence_options_config_vsgt_govc():
    env = {
        "VSGT_URL": "vsgt-vc", "VSGT_USERNAME": "vsgt-user", "VSGT_PASSWORD": "vsgt-pw", "VSGT_INSECURE": "1",
        "GOVC_URL": "govc-user:govc-pw@govc-vc", "GOVC_INSECURE": "0",
    }
    s = ConnectionSettings.from_sources({"url": "opt-vc", "username": None, "insecure": None}, {"username": "cfg-user"}, env)
    assert (s.url, s.username, s.password, s.insecure) == ("https://opt-vc/sdk", "cfg-user", "vsgt-pw", True)
    s = ConnectionSettings.from_sources({}, {}, {"GOVC_URL": "govc-user:govc-pw@govc-vc", "GOVC_INSECURE": "true"})
    assert (s.url, s.username, s.password, s.insecure) == ("https://govc-vc/sdk", "govc-user", "govc-pw", True)
    # an explicit --insecure=False (not None) beats the environment
    s = ConnectionSettings.from_sources({"insecure": False}, {}, env)
    assert s.insecure is False


def test_url_credentials_rank_with_their_url():
    env = {"GOVC_URL": "govc-user:govc-pw@govc-vc", "VSGT_USERNAME": "vsgt-user"}
    s = ConnectionSettings.from_sources({}, {}, env)
    assert (s.username, s.password) == ("vsgt-user", "govc-pw")


def test_thumbprint_and_ca_file_sources():
    s = ConnectionSettings.from_sources({}, {"url": "vc", "username": "u", "ca-file": "/etc/ca.pem"},
                                        {"VSGT_THUMBPRINT": TP.replace(":", "").lower()})
    assert s.thumbprint == TP and s.ca_file == "/etc/ca.pem"
    s = ConnectionSettings.from_sources({}, {}, {"GOVC_URL": "u:p@vc", "GOVC_TLS_CA_CERTS": "/ca.pem", "VSGT_CA_FILE": "/v.pem"})
    assert s.ca_file == "/v.pem"


def test_missing_url_or_user_says_what_to_do():
    with pytest.raises(ConfigError, match="--url"):
        ConnectionSettings.from_sources({}, {}, {})
    with pytest.raises(ConfigError, match="--username"):
        ConnectionSettings.from_sources({"url": "vc"}, {}, {})


def test_bad_values():
    with pytest.raises(ConfigError, match="VSGT_"):
        ConnectionSettings.from_sources({}, {}, {"VSGT_URL": "vc", "VSGT_USERNAME": "u", "VSGT_INSECURE": "maybe"})
    with pytest.raises(ConfigError, match="thumbprint"):
        normalize_thumbprint("AA:BB")
    assert normalize_thumbprint(TP.lower()) == TP


def test_password_never_in_repr_or_str():
    s = ConnectionSettings(url="https://bob:Sup3rS3cret@vc", insecure=True)
    assert s.username == "bob" and s.password == "Sup3rS3cret"
    assert "Sup3rS3cret" not in repr(s) and "Sup3rS3cret" not in str(s) and "Sup3rS3cret" not in s.url


def test_translate_is_one_line_without_password():
    s = ConnectionSettings(url="vc", username="bob", password="Sup3rS3cret")
    from pyVmomi import vim

    err = translate(vim.fault.InvalidLogin(), s)
    assert isinstance(err, AuthError) and "rejected the user name or password" in str(err)
    refused = translate(ConnectionRefusedError(111, "Connection refused"), s)
    assert isinstance(refused, ConnectError)
    assert str(refused) == "cannot reach vCenter at https://vc/sdk: connection refused; check --url"
    odd = translate(OSError("weird\nfailure with Sup3rS3cret inside"), s)
    assert "\n" not in str(odd) and "Sup3rS3cret" not in str(odd)
    for e in (err, refused, odd):
        assert isinstance(e, VsgtError) and "Sup3rS3cret" not in str(e)
    assert issubclass(CertificateError, VsgtError)
