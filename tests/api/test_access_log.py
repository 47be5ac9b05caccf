"""Rate limits answer 429 with Retry-After; one greppable access-log line per request; no secrets."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from smc_agent.logs import configure_logging
from tests.api.conftest import PASSWORD, Api, build_container, open_api, tight_limits


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    yield stream
    configure_logging(level="INFO", fmt="console")


@pytest.fixture
def limited_api(api_sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    yield from open_api(
        build_container(api_sqlite_url, tmp_path), rate_limits=tight_limits(per_minute=60, burst=3)
    )


def test_rate_limit_per_key_answers_429_with_retry_after(limited_api: Api) -> None:
    api = limited_api
    h = api.headers("alice")
    codes = [api.client.get("/v1/bots", headers=h).status_code for _ in range(6)]
    assert codes[:2] == [200, 200] and codes[-1] == 429  # the burst of 3 covers /v1/me-less logins
    refused = api.client.get("/v1/bots", headers=h)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    # another user has their own bucket
    assert api.client.get("/v1/bots", headers=api.headers("bob")).status_code == 200


def test_login_rate_limit_per_ip(api_sqlite_url: str, tmp_path: Path) -> None:
    for api in open_api(build_container(api_sqlite_url, tmp_path), rate_limits=tight_limits(login_burst=3)):
        codes = [
            api.client.post("/v1/auth/login", json={"username": f"u{i}x", "password": "x"}).status_code
            for i in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        # the limit is per address: even the right password waits until the bucket refills
        assert (
            api.client.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code
            == 429
        )


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_access_log_lines_are_greppable_and_hold_no_secrets(
    limited_api: Api, log_stream: io.StringIO
) -> None:
    api = limited_api
    token = api.login("alice")
    key = api.client.post(
        "/v1/api-keys", json={"scopes": ["read"]}, headers={"Authorization": f"Bearer {token}"}
    ).json()["key"]
    api.client.get("/v1/me")  # 401
    api.client.post("/v1/control/halt", json={"reason": "nope"}, headers={"X-API-Key": key})  # 403
    for _ in range(5):
        api.client.get("/v1/orders?token=leaky", headers={"X-API-Key": key})  # ends in 429
    api.client.get("/health")
    text = log_stream.getvalue()
    refusals = [line for line in text.splitlines() if re.search(r"(401|403|429)", line)]
    statuses = {
        json.loads(line)["status"]
        for line in refusals
        if '"logger": "smc_agent.api.access"' in line or '"smc_agent.api.access"' in line
    }
    assert {401, 403, 429} <= statuses
    access = [r for r in _lines(log_stream) if r.get("logger") == "smc_agent.api.access"]
    assert len(access) >= 9  # one line per request
    for record in access:
        for field in ("method", "path", "status", "latency_ms", "client_ip", "user_id", "key_id"):
            assert field in record, (field, record)
    forbidden = next(r for r in access if r["status"] == 403)
    assert forbidden["user_id"] == "usr_alice" and str(forbidden["key_id"]).startswith("key_")
    # no secrets: password, session token, API key, the query string
    for secret in (PASSWORD, token, key, key.split("_", 2)[2], "leaky"):
        assert secret not in text


def test_security_headers_and_no_cors(api: Api) -> None:
    response = api.client.get("/v1/status", headers={"Origin": "https://evil.example"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in response.headers


def test_cors_only_for_configured_origins(api_sqlite_url: str, tmp_path: Path) -> None:
    for api in open_api(build_container(api_sqlite_url, tmp_path), cors_origins=["https://desk.example"]):
        ok = api.client.get("/v1/status", headers={"Origin": "https://desk.example"})
        assert ok.headers["access-control-allow-origin"] == "https://desk.example"
        other = api.client.get("/v1/status", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_a_body_too_large_or_not_utf8_encodable_is_refused_never_a_500(
    api: Api, log_stream: io.StringIO
) -> None:
    # an anonymous 100 MB login body was read in full and echoed back in its 422; a lone surrogate
    # ("\ud800") was refused, and answering failed with a 500 and a dropped connection
    huge = b'{"username":"' + b"a" * (2 << 20) + b'","password":"x"}'
    refused = api.client.post("/v1/auth/login", content=huge, headers={"content-type": "application/json"})
    assert refused.status_code == 413 and "request body over 1,048,576 bytes" in refused.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: read up to the limit, refused past it
        yield b'{"username":"'
        for _ in range(40):
            yield b"a" * 65_536
        yield b'","password":"x"}'

    chunked = api.client.post(
        "/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413
    surrogate = api.client.post(
        "/v1/auth/login",
        content=b'{"username":"\\ud800","password":"x"}',
        headers={"content-type": "application/json"},
    )
    assert surrogate.status_code == 422, surrogate.text
    assert "\\ud800" in surrogate.text, surrogate.text
    ok = api.client.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert ok.status_code == 200  # a body under the limit is handed on as it came
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines() if line.startswith("{")]
    assert any(e.get("status") == 413 for e in lines if e.get("logger") == "smc_agent.api.access")


def test_a_database_that_does_not_answer_is_503_naming_it(tmp_path: Path) -> None:
    # every login (and every other request that reads the database) was a bare 500
    from smc_agent.bootstrap import Container
    from smc_agent.settings import Settings

    down = "postgresql+psycopg://postgres@127.0.0.1:1/smc_trading"
    container = Container(
        Settings(database_url=down, data_dir=tmp_path, master_key="test-master-key-0123456789")
    )
    for api in open_api(container):
        login = api.client.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 503, login.text
        assert login.json()["detail"].startswith("database unavailable: connection failed"), login.text
        assert api.client.get("/health").status_code == 200  # liveness does not depend on it


def test_a_gateway_whose_redis_does_not_answer_starts_and_says_so(
    api_sqlite_url: str, tmp_path: Path
) -> None:
    # it waited 5 s for the event bus's Redis and died of a bare TimeoutError: /v1/status, which is
    # there to report such an outage, never answered
    container = build_container(api_sqlite_url, tmp_path, "redis://127.0.0.1:1/0")
    for api in open_api(container):
        status = api.client.get("/v1/status")
        assert status.status_code in (200, 503), status.text
        body = status.json()
        assert body["trading"]["state"] == "halted" and "unreachable" in body["trading"]["reason"], body
