"""Backtests through the API: submit, progress, result, HTML report (the real runner and engine)."""

from __future__ import annotations

import time

import pytest

from smc_agent.store.db import transaction
from tests.api.candles import store_candles
from tests.api.conftest import Api


def test_backtest_runs_to_a_report(api: Api) -> None:
    with transaction(api.container.session_factory) as session:
        store_candles(session, n=300)
    h = api.headers("alice")
    submitted = api.client.post(
        "/v1/backtests",
        headers=h,
        json={"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h", "strategy": "sma_cross"},
    )
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()["id"]
    deadline = time.monotonic() + 90
    status = submitted.json()
    while status["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        status = api.client.get(f"/v1/backtests/{job}", headers=h).json()
    assert status["status"] == "done", status
    assert status["progress"] == 1.0 and status["has_report"] is True
    result = api.client.get(f"/v1/backtests/{job}/result", headers=h).json()["result"]
    assert result["strategy"] and "stats" in result
    report = api.client.get(f"/v1/backtests/{job}/report", headers=h)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<html" in report.text.lower()
    assert api.client.get(f"/v1/backtests/{job}/report", headers=api.headers("bob")).status_code == 404
    # a signed, short-lived link opens the report in a browser tab without credentials
    link = api.client.post(f"/v1/backtests/{job}/report-link", headers=h).json()
    opened = api.client.get(link["url"])
    assert opened.status_code == 200 and opened.text == report.text
    assert "script-src 'unsafe-inline'" in opened.headers["content-security-policy"]
    assert api.client.post(f"/v1/backtests/{job}/report-link", headers=api.headers("bob")).status_code == 404
    forged = link["url"].rsplit(".", 1)[0] + ".0123456789abcdef0123456789abcdef"
    assert api.client.get(forged).status_code == 404


def test_report_links_expire() -> None:
    from smc_agent.api.errors import ApiError
    from smc_agent.api.report_links import REPORT_LINK_TTL_S, sign_report_token, verify_report_token

    token = sign_report_token("k" * 20, "bt_1", now=1000.0)
    assert verify_report_token("k" * 20, token, now=1000.0 + REPORT_LINK_TTL_S) == "bt_1"
    for secret, now in (("k" * 20, 1001.0 + REPORT_LINK_TTL_S), ("other-secret-key", 1000.0)):
        try:
            verify_report_token(secret, token, now=now)
        except ApiError as exc:
            assert exc.status == 404
        else:
            raise AssertionError("accepted an expired or foreign token")


def test_a_backtest_of_candles_not_stored_is_refused_saying_what_is(api: Api) -> None:
    # it was queued, then failed: "no stored candles for binance:ETH/USDT:15m" (a fresh demo's dashboard
    # backtest, a lowercase symbol)
    h = api.headers("alice")
    for body in (
        {"symbol": "ETH/USDT", "timeframe": "15m"},
        {"symbol": "btc/usdt", "timeframe": "1h", "strategy": "sma_cross"},
    ):
        refused = api.client.post("/v1/backtests", headers=h, json=body)
        assert refused.status_code == 422, refused.text
        assert (
            f"no stored candles for binance {body['symbol']} {body['timeframe']}; stored: none"
            in refused.text
        )
    with transaction(api.container.session_factory) as session:
        store_candles(session, n=50)  # 2026-01-01, hourly
    late = {"symbol": "BTC/USDT", "timeframe": "1h", "strategy": "sma_cross", "start_ms": 1_800_000_000_000}
    refused = api.client.post("/v1/backtests", headers=h, json=late)
    assert refused.status_code == 422 and "in that range; stored: binance BTC/USDT 1h" in refused.text
    assert api.client.get("/v1/backtests", headers=h).json()["items"] == []  # nothing queued


def test_a_backtest_request_cannot_name_code_to_import(api: Api) -> None:
    for strategy in ("smc_agent.strategy.sma_cross:SmaCross", "evil.py:X", "os:path"):
        refused = api.client.post(
            "/v1/backtests",
            headers=api.headers("alice"),
            json={"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h", "strategy": strategy},
        )
        assert refused.status_code == 422, (strategy, refused.text)


@pytest.mark.parametrize(
    ("strategy", "parameters", "says"),
    [
        ("no_such_strategy", {}, "unknown strategy"),
        ("sma_cross", {"fast": "abc"}, "fast"),
        ("sma_cross", {"no_such_param": 3}, "no_such_param"),
        ("sma_cross", {"fast": -5}, "fast"),
        ("sma_cross", {"fast": 30, "slow": 20}, "shorter than slow"),
        ("smc", {"htf": "1h"}, "1h"),  # a higher timeframe not longer than the 1h candles
    ],
)
def test_a_backtest_the_worker_could_not_run_is_refused_not_queued(
    api: Api, strategy: str, parameters: dict[str, object], says: str
) -> None:
    # these were accepted (202) and failed in the worker later
    body = {"symbol": "BTC/USDT", "timeframe": "1h", "strategy": strategy, "parameters": parameters}
    refused = api.client.post("/v1/backtests", headers=api.headers("alice"), json=body)
    assert refused.status_code == 422 and says in refused.text, refused.text
    assert api.client.get("/v1/backtests", headers=api.headers("alice")).json()["items"] == []
