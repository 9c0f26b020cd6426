"""The plugin server's cache of vSphere Client users' sessions, on a stand-in exchange: a token is exchanged
once, kept by its hash, asked as its user, logged out when it leaves the cache (expired, evicted, closed); a
token vCenter does not know is refused briefly without asking again; a cloned session vCenter ended is cloned
again. The exchange itself, against the lab: tests/lab/test_client_sessions.py."""

from __future__ import annotations

import time

from fakes.clock import Clock

from vsguesttruth.errors import VsgtError
from vsguesttruth.ttlcache import TTLCache
from vsguesttruth.web.session import ClientSessions, token_key


class FakeSession:
    def __init__(self, user: str, allowed: set[str]) -> None:
        self.user = user
        self.allowed = allowed
        self.ended = False
        self.logged_out = 0

    def has_privilege(self, vm, privilege):
        if self.ended:
            return None
        return vm in self.allowed

    def logout(self):
        self.logged_out += 1


class FakeExchange:
    def __init__(self) -> None:
        self.users = {"tok-alice-0001": "VSPHERE.LOCAL\\alice", "tok-bob-00000002": "VSPHERE.LOCAL\\bob"}
        self.made: list[FakeSession] = []
        self.asked = 0
        self.down = False

    def exchange(self, token):
        self.asked += 1
        if self.down:
            raise VsgtError("cannot reach vCenter")
        user = self.users.get(token)
        if user is None:
            return None
        self.made.append(FakeSession(user, {"vm-1"} if "alice" in user else set()))
        return self.made[-1]


def wait_for(check, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)
    return check()


def test_evicted_values_are_handed_over_once():
    clock = Clock(0.0)
    gone = []
    cache = TTLCache(2, clock=clock, on_evict=gone.append)
    cache.put("a", "A", 10)
    cache.put("b", "B", 10)
    cache.put("a", "A2", 10)  # replaced
    cache.put("c", "C", 10)  # full: the least recently used goes
    assert gone == ["A", "B"]
    clock.advance(11)
    assert cache.get("a") == (False, None) and gone == ["A", "B", "A2"]
    cache.expire()
    cache.put("d", "D", 10)
    cache.pop("d")
    cache.put("e", "E", 10)
    cache.clear()
    assert gone == ["A", "B", "A2", "C", "D", "E"]


def test_a_token_is_exchanged_once_kept_by_its_hash_and_asked_as_its_user():
    exchange = FakeExchange()
    sessions = ClientSessions(exchange, ttl=60)
    assert sessions.user("tok-alice-0001") == "VSPHERE.LOCAL\\alice"
    assert sessions.user("tok-alice-0001") == "VSPHERE.LOCAL\\alice" and exchange.asked == 1
    assert sessions.known("tok-alice-0001") and not sessions.known("tok-bob-00000002")
    assert sessions.has_privilege("tok-alice-0001", "vm-1", "Resource.HotMigrate") is True
    assert sessions.has_privilege("tok-bob-00000002", "vm-1", "Resource.HotMigrate") is False
    assert list(sessions._sessions._entries) == [token_key("tok-alice-0001"), token_key("tok-bob-00000002")]
    assert sessions.user("forged-00000000") is None and sessions.user("forged-00000000") is None
    assert exchange.asked == 3  # the unknown token is refused from the cache the second time
    sessions.close()
    assert [s.logged_out for s in exchange.made] == [1, 1]


def test_sessions_leaving_the_cache_are_logged_out():
    exchange = FakeExchange()
    sessions = ClientSessions(exchange, ttl=60, max_entries=1)
    sessions.user("tok-alice-0001")
    sessions.user("tok-bob-00000002")  # full: alice's goes
    assert wait_for(lambda: exchange.made[0].logged_out == 1) and exchange.made[1].logged_out == 0
    sessions.close()
    assert exchange.made[1].logged_out == 1


def test_a_session_vcenter_ended_is_cloned_again_and_vcenter_away_refuses():
    exchange = FakeExchange()
    sessions = ClientSessions(exchange, ttl=60)
    sessions.user("tok-alice-0001")
    exchange.made[0].ended = True
    assert sessions.has_privilege("tok-alice-0001", "vm-1", "Resource.HotMigrate") is True
    assert exchange.asked == 2 and wait_for(lambda: exchange.made[0].logged_out == 1)
    exchange.down = True
    assert sessions.user("tok-bob-00000002") is None and sessions.errors == 1
    assert not sessions.known("tok-bob-00000002")  # not cached: asked again once vCenter is back
    sessions.close()
