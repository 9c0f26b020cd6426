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


@pytest.mark.parametrize("text, message", [
    ("[vcenter]\nurl = 3\n", "vcenter.url must be a string"),
    ("[vcenter]\nuser = 'x'\n", "unknown key vcenter.user"),
    ("[vcentre]\n", "unknown section [vcentre]"),
    ("[vcenter\n", "not valid TOML"),
    ("[vcenter]\npassword_file = '/nonexistent/pw'\n", "cannot read password_file"),
    ("[san]\nport_names = {'50:06:01:60' = 'A-ctl0-p0'}\n", "san.port_names: '50:06:01:60' is not a WWPN"),
    ("[san]\nport_names = {'50:06:01:60:3b:a0:1d:e2' = ' '}\n", "must be the port's name"),
    ("[san]\nnames = {}\n", "unknown key san.names"),
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
