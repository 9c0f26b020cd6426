"""What an admin sees: a bad plugin certificate in one line, no password in URL errors, a merged
``publish --once`` that keeps its failures, a dry run that says what it would re-probe."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone

import pytest

from vsguesttruth.errors import ConfigError
from vsguesttruth.reconcile import PassResult, VmOutcome
from vsguesttruth.vcenter import parse_url
from vsguesttruth.web.server import check_certificate, self_signed

AT = datetime(2025, 1, 1, tzinfo=timezone.utc)


def test_merging_two_passes_keeps_failed_and_written_rows():
    first = PassResult(started=AT, failed=1, outcomes=[VmOutcome("vm-1", "web01", "failed", error="InvalidArgument"),
                                                      VmOutcome("vm-2", "web02", "written", generation=3),
                                                      VmOutcome("vm-3", "web03", "unchanged")])
    later = PassResult(started=AT, outcomes=[VmOutcome("vm-1", "web01", "held"), VmOutcome("vm-2", "web02", "held"),
                                             VmOutcome("vm-3", "web03", "written", generation=2)])
    merged = {o.name: o.state for o in first.merge(later).outcomes}
    assert merged == {"web01": "failed", "web02": "written", "web03": "written"}
    assert first.merge(later).failed == 1


def test_a_dry_run_says_it_would_reprobe():
    assert "would re-probe 2 hosts" in PassResult(started=AT, probes=2, dry_run=True).line()
    assert "re-probed" not in PassResult(started=AT, probes=2, dry_run=True).line()
    assert "2 hosts re-probed" in PassResult(started=AT, probes=2).line()


@pytest.mark.parametrize("url, password", [
    ("https://admin:p@ssTAIL1@vc.example.com:99999/sdk", "p@ssTAIL1"),
    ("admin:s3cr@TAIL2@vc:notaport", "s3cr@TAIL2"),
    ("https://admin:se/cr@TAIL3@vc:x", "se/cr@TAIL3"),
    ("https://admin:se#cr@TAIL4@vc:x", "se#cr@TAIL4"),
    ("https://ad@min:pass:TAIL5@vc:-1", "pass:TAIL5"),
    ("https://admin:pwTAIL6@@", "pwTAIL6@"),
])
def test_a_password_never_shows_in_url_errors(url, password):
    with pytest.raises(ConfigError) as caught:
        parse_url(url)
    message = str(caught.value)
    assert "TAIL" not in message and password not in message and "admin" not in message, message


def test_certificate_problems_are_one_line_naming_the_file(tmp_path):
    missing = tmp_path / "nope.pem"
    text = tmp_path / "text.pem"
    text.write_text("hello\n")
    cert, key = self_signed(tmp_path / "a")
    other_cert, other_key = self_signed(tmp_path / "b")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n")
    cases = [
        ((missing, key), f"[web] certificate file (cert_file) {missing}: No such file or directory"),
        ((cert, missing), f"[web] key file (key_file) {missing}: No such file or directory"),
        ((text, key), f"[web] certificate file (cert_file) {text} holds no PEM certificate"),
        ((cert, text), f"[web] key file (key_file) {text} holds no PEM private key"),
        ((key, key), f"holds no PEM certificate"),
        ((garbage, key), f"[web] certificate file (cert_file) {garbage} is not a valid PEM certificate"),
        ((cert, other_key), f"[web] key file (key_file) {other_key} is not the PEM private key of {cert}"),
    ]
    for (c, k), expected in cases:
        with pytest.raises(ConfigError) as caught:
            check_certificate(c, k)
        assert expected in str(caught.value) and "\n" not in str(caught.value), str(caught.value)
    check_certificate(cert, key)
    check_certificate(other_cert, other_key)


def test_openssl_is_there_for_the_tests():
    assert subprocess.run(["openssl", "version"], capture_output=True).returncode == 0
