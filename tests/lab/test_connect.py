"""Connecting to the lab: trust, pinning, opt-in insecurity, clear one-line errors, reconnect."""

from __future__ import annotations

import re
import socket
import time

import pytest

from vsguesttruth.errors import VsgtError
from vsguesttruth.vcenter import AuthError, CertificateError, ConnectError, ConnectionSettings, connect, snapshot

pytestmark = pytest.mark.lab


def settings(lab, **kw) -> ConnectionSettings:
    base = dict(url=lab.url, username=lab.username, password=lab.password)
    base.update(kw)
    return ConnectionSettings(**base)


def shows(secret: str, text: str) -> bool:
    """``secret`` appears as a word of its own (the lab's password "pass" is part of "password")."""
    return bool(secret) and re.search(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", text) is not None


def failure(lab, settings_) -> VsgtError:
    with pytest.raises(VsgtError) as info:
        connect(settings_).close()
    err = info.value
    message = str(err)
    assert "\n" not in message
    for secret in (lab.password, settings_.password):
        assert not shows(secret, message) and not shows(secret, repr(err))
        assert err.__cause__ is None or not shows(secret, str(err.__cause__))
    return err


def test_verified_against_the_ca_file(lab):
    with connect(settings(lab, ca_file=lab.cert)) as conn:
        assert conn.session_key
        assert conn.generation == 0


def test_untrusted_certificate_says_what_to_do(lab):
    err = failure(lab, settings(lab))
    assert isinstance(err, CertificateError)
    message = str(err)
    assert message.startswith(f"certificate of {lab.url} is not trusted")
    assert "--ca-file" in message and "--insecure" in message
    assert f"--thumbprint {lab.thumbprint.upper()}" in message
    assert err.seen_thumbprint == lab.thumbprint.upper()


def test_insecure_is_an_explicit_opt_in(lab):
    with connect(settings(lab, insecure=True)) as conn:
        assert conn.session_key


def test_pinned_thumbprint(lab):
    with connect(settings(lab, thumbprint=lab.thumbprint)) as conn:
        assert conn.session_key
    bare = lab.thumbprint.replace(":", "").lower()
    with connect(settings(lab, thumbprint=bare)) as conn:
        snapshot(conn)  # every new TLS connection of the pool is checked, and passes


def test_thumbprint_mismatch_names_the_seen_one(lab):
    wrong = ":".join(["AB"] * 20)
    err = failure(lab, settings(lab, thumbprint=wrong))
    assert isinstance(err, CertificateError)
    assert lab.thumbprint.upper() in str(err) and wrong in str(err)
    assert err.seen_thumbprint == lab.thumbprint.upper()


def test_wrong_password(lab):
    err = failure(lab, settings(lab, ca_file=lab.cert, password="wrong-" + lab.password))
    assert isinstance(err, AuthError)
    assert str(err) == (f"vCenter at {lab.url} rejected the user name or password (user {lab.username!r}): "
                        "check --username and the password (VSGT_PASSWORD, the config file, --password-stdin)")
    err = failure(lab, settings(lab, ca_file=lab.cert, password=""))
    assert isinstance(err, AuthError)


def test_unreachable_port(lab):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"https://127.0.0.1:{port}/sdk"
    err = failure(lab, settings(lab, url=url, ca_file=lab.cert))
    assert isinstance(err, ConnectError)
    assert str(err) == f"cannot reach vCenter at {url}: connection refused; check --url"


def test_govc_environment(lab):
    host = lab.url.split("://", 1)[1].rsplit("/sdk", 1)[0]
    env = {"GOVC_URL": f"{lab.username}:{lab.password}@{host}", "VSGT_CA_FILE": lab.cert}
    s = ConnectionSettings.from_sources({}, {}, env)
    assert s.url == lab.url and not shows(lab.password, repr(s))
    with connect(s) as conn:
        assert conn.session_key


def test_reconnect_after_the_session_is_terminated(lab, si):
    with connect(settings(lab, ca_file=lab.cert, reconnect_timeout=20)) as conn:
        old_key = conn.session_key
        si.content.sessionManager.TerminateSession([old_key])
        inv = snapshot(conn)  # fails with NotAuthenticated, reconnects, runs again
        assert len(inv.hosts) == 7
        assert conn.generation == 1 and conn.session_key != old_key


def test_reconnect_after_logout_from_another_handle(lab):
    with connect(settings(lab, ca_file=lab.cert)) as conn:
        called = []
        conn.on_reconnect(lambda c: called.append(c.generation))
        # another handle on the same session: log it out from there
        twin = connect(settings(lab, ca_file=lab.cert))
        twin.si._stub.SetSessionId(conn.si._stub.GetSessionId())
        twin.content.sessionManager.Logout()
        assert conn.run(lambda: conn.si.CurrentTime()) is not None
        assert called == [1]


def test_keepalive_renews_a_dead_session(lab, si):
    with connect(settings(lab, ca_file=lab.cert), keepalive=0.2) as conn:
        si.content.sessionManager.TerminateSession([conn.session_key])
        deadline = time.monotonic() + 5
        while conn.generation == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert conn.generation == 1
        conn.ping()
