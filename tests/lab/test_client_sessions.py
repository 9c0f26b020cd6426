"""The vSphere Client user's session in the plugin server, against the lab: the page's token (an Automation API
session id) exchanged for a clone ticket over HTTPS and a SOAP session through CloneSession, cached by a hash of
the token, asked as that user, and logged out when it leaves the cache."""

from __future__ import annotations

import time

import pytest
from fakes.automation import rest, rest_login, soap
from pyVim.connect import Disconnect

from vsguesttruth.vcenter import ClientSessionExchange, ConnectionSettings, ConnectError, CertificateError, snapshot
from vsguesttruth.vcenter.automation import CloneTickets
from vsguesttruth.web import ClientSessions
from vsguesttruth.web.session import token_key

pytestmark = pytest.mark.lab


def settings(lab, **kw) -> ConnectionSettings:
    return ConnectionSettings(**({"url": lab.url, "username": lab.username, "password": lab.password,
                                  "ca_file": lab.cert} | kw))


def vapi_session(lab, user=None, password=None) -> tuple[object, str]:
    client = rest(lab)
    return client, rest_login(client, lab, user, password)


def live_users(si) -> list[str]:
    return sorted(s.userName for s in si.content.sessionManager.sessionList or ())


def test_a_token_becomes_the_users_session_and_is_asked_as_that_user(lab, conn):
    web01 = snapshot(conn).vm_by_name("web01").moref
    admin_http, admin = vapi_session(lab)
    ro_http, readonly = vapi_session(lab, lab.info.readonly_username, lab.info.readonly_password)
    sessions = ClientSessions(ClientSessionExchange(settings(lab)), ttl=30)
    try:
        assert sessions.user(admin) == lab.username
        assert sessions.known(admin) and not sessions.known(readonly)
        assert sessions.has_privilege(admin, web01, "Resource.HotMigrate") is True
        assert sessions.user(readonly) == lab.info.readonly_username
        assert sessions.has_privilege(readonly, web01, "Resource.HotMigrate") is False  # vCenter says, for that user
        assert sessions.user("forged-token-0000") is None
        assert sessions.user('bad"cookie; x=1') is None
        assert sessions.has_privilege("forged-token-0000", web01, "Resource.HotMigrate") is False
        asked = sessions.exchanges
        assert sessions.user(admin) == lab.username and sessions.user("forged-token-0000") is None
        assert sessions.exchanges == asked  # both answers cached
        assert all(admin not in str(k) for k in sessions._sessions._entries)  # keyed by a hash, never the token
        assert token_key(admin) in sessions._sessions._entries
    finally:
        sessions.close()
        admin_http.close()
        ro_http.close()
    assert sessions.logouts == 2


def test_a_session_leaving_the_cache_is_logged_out_on_vcenter(lab):
    si = soap(lab)
    http, token = vapi_session(lab, lab.info.readonly_username, lab.info.readonly_password)
    try:
        before = live_users(si).count(lab.info.readonly_username)
        sessions = ClientSessions(ClientSessionExchange(settings(lab)), ttl=1, max_entries=1)
        assert sessions.user(token) == lab.info.readonly_username
        assert live_users(si).count(lab.info.readonly_username) == before + 1  # the cloned SOAP session
        time.sleep(1.2)
        other_http, other = vapi_session(lab)
        assert sessions.user(other) == lab.username  # the expired one is evicted and logged out
        deadline = time.monotonic() + 10
        while live_users(si).count(lab.info.readonly_username) != before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert live_users(si).count(lab.info.readonly_username) == before
        sessions.close()
        other_http.close()
    finally:
        http.close()
        Disconnect(si)


def test_a_token_logged_out_in_the_client_is_refused_once_the_cache_lets_go(lab):
    http, token = vapi_session(lab)
    sessions = ClientSessions(ClientSessionExchange(settings(lab)), ttl=1)
    try:
        assert sessions.user(token) == lab.username
        assert http.delete("/session").status_code == 204
        time.sleep(1.2)
        assert sessions.user(token) is None
    finally:
        sessions.close()
        http.close()


def test_the_clone_ticket_is_plain_https_with_the_same_trust(lab):
    http, token = vapi_session(lab)
    try:
        pinned = CloneTickets(settings(lab, ca_file=None, thumbprint=lab.thumbprint))
        assert pinned.ticket(token)
        assert pinned.ticket("forged-token-0000") is None
        with pytest.raises(CertificateError) as err:
            CloneTickets(settings(lab, ca_file=None)).ticket(token)  # the lab's certificate is trusted by nobody else
        assert token not in str(err.value) and "--thumbprint" in str(err.value)
        wrong_pin = "AA:" * 19 + "AA"
        with pytest.raises(CertificateError):
            CloneTickets(settings(lab, ca_file=None, thumbprint=wrong_pin)).ticket(token)
        assert CloneTickets(settings(lab, ca_file=None, insecure=True)).ticket(token)  # the admin's explicit choice
    finally:
        http.close()


def test_vcenter_away_refuses_without_a_traceback(lab):
    sessions = ClientSessions(ClientSessionExchange(settings(lab, url="https://127.0.0.1:9/sdk")), ttl=30)
    assert sessions.user("some-token-00000") is None and sessions.errors == 1
    with pytest.raises(ConnectError):
        ClientSessionExchange(settings(lab, url="https://127.0.0.1:9/sdk")).exchange("some-token-00000")
