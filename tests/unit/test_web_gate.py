"""The plugin server's gate: credentials checked from the headers before any body is read, bodies capped
per route (announced or chunked), session checks rate-limited, unknown fields and query parameters refused."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from vsguesttruth.ttlcache import TTLCache
from vsguesttruth.web import Auth, StaticSource, TokenStore, create_app
from vsguesttruth.web.ratelimit import RateLimited, ValidationLimiter

from fakes.inventory import lab_inventory, vm_moref
from fakes.web import READ_H, WRITE, WRITE_H, FakeSessions

MIGRATE = "/api/v1/vms/web01/migrate"


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def moves() -> list:
    return []


@pytest.fixture
def app(moves):
    def migrate(vm, *, to_host, dry_run, requested_by):
        moves.append((vm, to_host, dry_run))
        return {"ok": True}

    auth = Auth(TokenStore({"r" * 24: ("grafana", "read"), WRITE: ("ops", "write")}), FakeSessions())
    return create_app(StaticSource(lab_inventory()), auth, migrate=migrate)


def call(app, method: str, path: str, headers: dict[str, str], chunks: list[bytes]) -> tuple[int, dict, int]:
    """One request straight through ASGI: (status, JSON body, how many body chunks the app pulled)."""
    pulled = 0
    sent: list[dict] = []

    async def receive():
        nonlocal pulled
        pulled += 1
        if pulled <= len(chunks):
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http",
             "client": ("203.0.113.9", 4000), "server": ("127.0.0.1", 8443),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled


def test_unauthenticated_bodies_are_refused_unread(app, moves):
    chunks = [b"x" * 1000] * 100
    for headers in ({"content-length": "100000"}, {"transfer-encoding": "chunked"},
                    {"transfer-encoding": "chunked", "vmware-api-session-id": "sess-unknown-2"},
                    {"content-length": "10", "authorization": "Bearer wrong-token-wrong-token"}):
        status, body, pulled = call(app, "POST", MIGRATE, headers, chunks)
        assert status in (401, 413) and "error" in body and pulled == 0, (headers, status, body)
    status, body, pulled = call(app, "POST", MIGRATE, {"transfer-encoding": "chunked"}, chunks)
    assert status == 401 and "authentication required" in body["error"] and pulled == 0
    assert moves == []


def test_an_announced_body_over_the_cap_is_refused_at_once(app, moves):
    status, body, pulled = call(app, "POST", MIGRATE, {**WRITE_H, "content-length": str(300 * 2**20)}, [b"{}"])
    assert status == 413 and pulled == 0
    assert body["error"] == f"request body of {300 * 2**20} bytes; POST {MIGRATE} takes at most 4096"
    status, body, pulled = call(app, "GET", "/healthz", {"content-length": "5000"}, [b"x" * 5000])
    assert status == 413 and pulled == 0  # anonymous routes are capped too
    assert call(app, "POST", MIGRATE, {**WRITE_H, "content-length": "x1"}, [b"{}"])[0] == 400
    assert moves == []


def test_a_streamed_body_is_cut_off_at_the_cap(app, moves):
    chunks = [b" " * 1000] * 1000  # whitespace: valid JSON around {} if it were all read
    status, body, pulled = call(app, "POST", MIGRATE, {**WRITE_H, "transfer-encoding": "chunked"}, chunks)
    assert status == 413 and "takes at most 4096" in body["error"]
    assert pulled <= 6  # 4096 bytes and one chunk more, never the 1 MB
    assert moves == []
    status, body, _ = call(app, "POST", MIGRATE, {**WRITE_H, "transfer-encoding": "chunked",
                                                  "content-type": "application/json"}, [b'{"dry_run"', b": true}"])
    assert status == 200 and moves == [(vm_moref("web01"), None, True)]


def test_unknown_fields_and_query_parameters_are_refused(app, moves):
    client = TestClient(app)
    answer = client.post(MIGRATE, headers=WRITE_H, json={"dryRun": True})
    assert answer.status_code == 422 and moves == []
    assert answer.json() == {"error": "invalid request: unknown field 'dryRun' in the body", "field": "dryRun"}
    answer = client.get("/api/v1/status?verdcit=degraded", headers=READ_H)
    assert answer.status_code == 422 and answer.json()["field"] == "verdcit"
    assert "unknown query parameter 'verdcit'" in answer.json()["error"]
    for path in ("/api/v1/vms", "/api/v1/hosts/esx-a01", "/api/v1/plan", "/api/v1/whoami", "/api/v1/vms/web01/map"):
        assert client.get(path + "?x=1", headers=READ_H).status_code == 422, path
    assert client.post(MIGRATE + "?dry_run=true", headers=WRITE_H).status_code == 422 and moves == []
    assert client.get("/api/v1/status?verdict=degraded&unhealthy=true", headers=READ_H).status_code == 200
    assert client.get("/metrics?name[]=vsgt_disks", headers=READ_H).status_code == 200
    assert client.get("/healthz?probe=1").status_code == 200  # not the API: as before


def test_session_checks_are_rate_limited_per_client_and_cached_ones_are_not():
    sessions = FakeSessions()
    clock = Clock()
    auth = Auth(TokenStore({"r" * 24: ("grafana", "read")}), sessions,
                ValidationLimiter(per_client=(5, 1.0), overall=(8, 2.0), clock=clock))
    client = TestClient(create_app(StaticSource(lab_inventory()), auth))
    codes = [client.get("/api/v1/vms", headers={"vmware-api-session-id": f"sess-random-{i:04d}"}).status_code
             for i in range(20)]
    assert codes == [401] * 5 + [429] * 15 and len(sessions.asked) == 5
    refused = client.get("/api/v1/vms", headers={"vmware-api-session-id": "sess-random-9999"})
    assert refused.json()["error"].startswith("too many vSphere session checks from testclient")
    assert refused.headers["retry-after"] == "1"
    clock.t += 3.0
    assert client.get("/api/v1/vms", headers={"vmware-api-session-id": "sess-0001-good"}).status_code == 200
    with pytest.raises(RateLimited, match="retry in"):  # another client, but the overall budget is spent
        for i in range(10):
            auth.authenticate({"vmware-api-session-id": f"sess-other-{i:04d}"}, "198.51.100.7")
    assert client.get("/api/v1/vms", headers=READ_H).status_code == 200  # tokens never wait


def test_known_sessions_skip_the_limit():
    class Cached(FakeSessions):
        def known(self, session_id):
            return session_id == "sess-0001-good"

    auth = Auth(TokenStore(), Cached(), ValidationLimiter(per_client=(1, 0.001), overall=(1, 0.001)))
    assert auth.authenticate({"vmware-api-session-id": "sess-0002-bad"}, "a") is None
    for _ in range(50):
        assert auth.authenticate({"vmware-api-session-id": "sess-0001-good"}, "a").name == "VSPHERE.LOCAL\\alice"


def test_ttl_cache_is_lru_bounded_and_never_flushed_wholesale():
    clock = Clock()
    cache: TTLCache[str] = TTLCache(100, clock)
    cache.put("good", "alice", 60)
    for i in range(10_000):  # a flood of random session ids, each answered "no"
        cache.put(f"bogus-{i}", None, 10)
        if i % 50 == 0:
            assert cache.get("good") == (True, "alice")
        assert len(cache) <= 100
    assert cache.get("good") == (True, "alice") and cache.get("bogus-0") == (False, None)
    clock.t += 11
    assert cache.get("bogus-9999") == (False, None) and cache.get("good") == (True, "alice")
    clock.t += 60
    assert cache.get("good") == (False, None)
    cache.put("zero", "x", 0)
    assert cache.get("zero") == (False, None)
