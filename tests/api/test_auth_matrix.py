"""Every route refuses anonymous callers (401), wrong roles (403) and other users' resources (404)."""

from __future__ import annotations

import re

import pytest

from smc_agent.store.db import transaction
from tests.api.candles import store_candles
from tests.api.conftest import Api

PUBLIC = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/v1/status"),
    ("POST", "/v1/auth/login"),
}


def _routes(api: Api) -> list[tuple[str, str]]:
    schema = api.client.get("/openapi.json").json()
    return [(method.upper(), path) for path, ops in schema["paths"].items() for method in ops]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "xyz_0000", path)


def test_every_private_route_refuses_anonymous(api: Api) -> None:
    routes = _routes(api)
    private = [r for r in routes if r not in PUBLIC]
    assert len(private) >= 30, private  # the whole API surface is covered, not a sample
    for method, path in private:
        response = api.client.request(method, _concrete(path), json={})
        assert response.status_code == 401, (method, path, response.status_code, response.text)
        assert response.headers["www-authenticate"] == "Bearer"


def test_bad_token_and_bad_key_are_401(api: Api) -> None:
    assert api.client.get("/v1/me", headers={"Authorization": "Bearer sess_nope"}).status_code == 401
    assert api.client.get("/v1/me", headers={"X-API-Key": "smc_abcdef_" + "x" * 40}).status_code == 401
    # a wrong credential on the anonymous status is refused, not silently ignored
    assert api.client.get("/v1/status", headers={"Authorization": "Bearer sess_nope"}).status_code == 401


def test_public_routes_answer_anonymously(api: Api) -> None:
    for path in ("/health", "/ready", "/metrics", "/v1/status"):
        assert api.client.get(path).status_code == 200, path


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/control/halt", {"reason": "test reason"}),
        ("POST", "/v1/control/resume", {"reason": "test reason"}),
        (
            "POST",
            "/v1/control/failover",
            {"from_venue": "binance", "to_venue": "bybit", "reason": "test reason"},
        ),
        ("POST", "/v1/control/failover/deactivate", {"reason": "test reason"}),
    ],
)
def test_control_is_admin_only(api: Api, method: str, path: str, body: dict[str, str]) -> None:
    for who in ("alice", "vera"):
        response = api.client.request(method, path, json=body, headers=api.headers(who))
        assert response.status_code == 403, (who, response.text)
    assert api.client.request(method, path, json=body, headers=api.headers("admin")).status_code == 200


def test_control_needs_a_reason(api: Api) -> None:
    for body in ({}, {"reason": ""}, {"reason": "  "}):
        response = api.client.post("/v1/control/halt", json=body, headers=api.headers("admin"))
        assert response.status_code == 422, body
    assert api.client.get("/v1/status").json()["trading"]["state"] == "active"


BOT = {"name": "b1", "strategy": "smc", "symbols": ["BTC/USDT"], "timeframes": ["15m"]}


def test_viewer_cannot_change_anything(api: Api) -> None:
    h = api.headers("vera")
    assert api.client.post("/v1/bots", json=BOT, headers=h).status_code == 403
    assert (
        api.client.post(
            "/v1/backtests", json={"symbol": "BTC/USDT", "timeframe": "1h"}, headers=h
        ).status_code
        == 403
    )
    account = {"venue": "binance", "label": "x", "api_key": "abcdefgh123", "api_secret": "secretsecret"}
    assert api.client.post("/v1/exchange-accounts", json=account, headers=h).status_code == 403
    assert api.client.post("/v1/api-keys", json={"scopes": ["trade"]}, headers=h).status_code == 403
    assert api.client.get("/v1/bots", headers=h).status_code == 200


def test_other_users_resources_are_invisible(api: Api) -> None:
    a, b = api.headers("alice"), api.headers("bob")
    with transaction(api.container.session_factory) as session:
        store_candles(session, timeframe="15m", n=50)
    bot = api.client.post("/v1/bots", json=BOT, headers=a).json()["id"]
    bt = api.client.post("/v1/backtests", json={"symbol": "BTC/USDT", "timeframe": "15m"}, headers=a).json()[
        "id"
    ]
    key = api.client.post("/v1/api-keys", json={"scopes": ["read"]}, headers=a).json()["api_key"]["id"]
    acct = api.client.post(
        "/v1/exchange-accounts",
        headers=a,
        json={
            "venue": "binance",
            "label": "main",
            "api_key": "AKIA1234567890",
            "api_secret": "s3cr3t-s3cr3t",
        },
    ).json()["id"]
    session_id = api.client.get("/v1/sessions", headers=a).json()["items"][0]["id"]
    attempts = [
        ("GET", f"/v1/bots/{bot}"),
        ("PATCH", f"/v1/bots/{bot}"),
        ("POST", f"/v1/bots/{bot}/start"),
        ("POST", f"/v1/bots/{bot}/stop"),
        ("DELETE", f"/v1/bots/{bot}"),
        ("GET", f"/v1/backtests/{bt}"),
        ("GET", f"/v1/backtests/{bt}/result"),
        ("GET", f"/v1/backtests/{bt}/report"),
        ("DELETE", f"/v1/api-keys/{key}"),
        ("POST", f"/v1/api-keys/{key}/rotate"),
        ("DELETE", f"/v1/exchange-accounts/{acct}"),
        ("DELETE", f"/v1/sessions/{session_id}"),
    ]
    for method, path in attempts:
        response = api.client.request(method, path, json={"name": "stolen"}, headers=b)
        assert response.status_code == 404, (method, path, response.status_code)
    for path in ("/v1/bots", "/v1/backtests"):
        assert api.client.get(path, headers=b).json()["items"] == []
    assert api.client.get("/v1/api-keys", headers=b).json() == []
    assert api.client.get("/v1/exchange-accounts", headers=b).json() == []
    # and nothing changed for the owner
    assert api.client.get(f"/v1/bots/{bot}", headers=a).json()["name"] == "b1"
    assert api.client.get("/v1/me", headers=a).status_code == 200


def test_api_key_scopes_are_enforced(api: Api) -> None:
    read_key = api.client.post(
        "/v1/api-keys", json={"scopes": ["read"]}, headers=api.headers("alice")
    ).json()["key"]
    h = {"X-API-Key": read_key}
    assert api.client.get("/v1/bots", headers=h).status_code == 200
    assert api.client.post("/v1/bots", json=BOT, headers=h).status_code == 403
    # keys cannot mint keys
    assert api.client.post("/v1/api-keys", json={"scopes": ["read"]}, headers=h).status_code == 403
    # only admins may hold control keys
    r = api.client.post("/v1/api-keys", json={"scopes": ["control"]}, headers=api.headers("alice"))
    assert r.status_code == 403


def test_exchange_credentials_are_encrypted_and_never_returned(api: Api) -> None:
    from smc_agent.api.credentials import decrypt_credentials
    from smc_agent.store.models import ExchangeAccount

    secret = "very-secret-value-123"
    r = api.client.post(
        "/v1/exchange-accounts",
        headers=api.headers("alice"),
        json={"venue": "bybit", "label": "main", "api_key": "KEY1234567890XYZ", "api_secret": secret},
    )
    assert r.status_code == 201
    assert secret not in r.text and "KEY1234567890XYZ" not in r.text
    assert r.json()["key_hint"] == "KEY1…0XYZ"
    listed = api.client.get("/v1/exchange-accounts", headers=api.headers("alice")).text
    assert secret not in listed
    with api.container.session_factory() as session:
        row = session.get(ExchangeAccount, r.json()["id"])
        assert row is not None
        assert secret.encode() not in row.credentials_encrypted
        master = api.container.settings.master_key.get_secret_value()
        assert decrypt_credentials(master, row.credentials_encrypted)["api_secret"] == secret
