"""The admin's config file: strict parsing, clear errors, no silent defaults."""

import pytest

from vsguesttruth import config
from vsguesttruth.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_example_config_parses(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    text = open("scripts/config.example.toml").read().replace("/etc/vsguesttruth/password", str(pw))
    cfg = config.load(write(tmp_path, text))
    assert cfg.vcenter["url"] == "https://vcenter.example.com/sdk"
    assert cfg.vcenter["password"] == "s3cret"
    assert "password_file" not in cfg.vcenter
    assert cfg.service_level == {"min_working_paths": 2}
    assert cfg.san.port_names == {"50:06:01:60:3b:a0:1d:e2": "A-ctl0-p0", "50:06:01:61:3b:a0:1d:e2": "A-ctl0-p1"}
    assert cfg.delivery.channel == "guestinfo" and cfg.scope.tags == ()


def test_tags_and_delivery(tmp_path):
    cfg = config.load(write(tmp_path, """
[scope]
tags = ["vsgt:on", "team:db:prod"]
exclude_tags = [" vsgt : off "]
[delivery]
channel = "auto"
poll_budget = 50
[remediation]
replica_tag_category = "vsgt-replica-of"
"""))
    assert cfg.scope.tags == (("vsgt", "on"), ("team", "db:prod"))  # split at the first colon
    assert cfg.scope.exclude_tags == (("vsgt", "off"),) and not cfg.scope.everything
    assert (cfg.delivery.channel, cfg.delivery.poll_budget, cfg.delivery.sweep_interval) == ("auto", 50, 3600)
    assert cfg.remediation.replica_tag_category == "vsgt-replica-of"


@pytest.mark.parametrize("text, message", [
    ("[vcenter]\nurl = 3\n", "vcenter.url must be a string"),
    ("[vcenter]\nuser = 'x'\n", "unknown key vcenter.user"),
    ("[vcentre]\n", "unknown section [vcentre]"),
    ("[vcenter\n", "not valid TOML"),
    ("[vcenter]\npassword_file = '/nonexistent/pw'\n", "cannot read password_file"),
    ("[san]\nport_names = {'50:06:01:60' = 'A-ctl0-p0'}\n", "san.port_names: '50:06:01:60' is not a WWPN"),
    ("[san]\nport_names = {'50:06:01:60:3b:a0:1d:e2' = ' '}\n", "must be the port's name"),
    ("[san]\nnames = {}\n", "unknown key san.names"),
    ("[scope]\ntags = ['nocolon']\n", "scope.tags: 'nocolon' is not \"category:tag\""),
    ("[scope]\ntags = [':tag']\n", "is not \"category:tag\""),
    ("[scope]\ntags = ['a:b']\nexclude_tags = ['a:b']\n", "tag a:b is in both tags and exclude_tags"),
    ("[scope]\ntag_refresh = 1\n", "scope.tag_refresh must be between 10 and 86400"),
    ("[delivery]\nchannel = 'carrier-pigeon'\n", "delivery.channel must be one of guestinfo, auto, datasets"),
    ("[delivery]\npoll_budget = 0\n", "delivery.poll_budget must be between 1 and 10000"),
    ("[delivery]\nchannels = 'auto'\n", "unknown key delivery.channels"),
    ("[remediation]\nreplica_tag_category = 3\n", "remediation.replica_tag_category must be a string"),
])
def test_bad_config_is_one_clear_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        config.load(write(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "nope.toml")


def test_no_file_at_default_place_is_empty(tmp_path, monkeypatch):
    monkeypatch.delenv("VSGT_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config.load() == config.Config()
