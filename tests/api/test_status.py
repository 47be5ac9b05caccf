"""/v1/status: anonymous view (state, reason, venue, dependency health) and private figures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from smc_agent.store.db import transaction
from smc_agent.store.models import Position, Trade
from tests.api.conftest import Api


def _seed_trading(api: Api) -> None:
    with transaction(api.container.session_factory) as session:
        session.add(
            Position(
                user_id="usr_alice",
                exchange="binance",
                symbol="BTC/USDT",
                quantity=Decimal("0.5"),
                average_price=Decimal(60000),
                realized_pnl=Decimal("125.5"),
                fees=Decimal("3.25"),
            )
        )
        session.add(
            Position(
                user_id="usr_bob",
                exchange="binance",
                symbol="ETH/USDT",
                quantity=Decimal(2),
                average_price=Decimal(3000),
                realized_pnl=Decimal(-40),
                fees=Decimal(1),
            )
        )
        for i, (side, price) in enumerate((("buy", "60000"), ("sell", "60251"))):
            session.add(
                Trade(
                    user_id="usr_alice",
                    exchange="binance",
                    venue_trade_id=f"t{i}",
                    symbol="BTC/USDT",
                    side=side,
                    quantity=Decimal("0.5"),
                    price=Decimal(price),
                    market_price=Decimal(price),
                    fee=Decimal("1.625"),
                    timestamp=datetime(2026, 1, 1, i, tzinfo=UTC),
                )
            )


def _engine_running(api: Api) -> None:
    """The heartbeats of the execution engine, the trading engine and the data pipeline."""
    from smc_agent.control.trading import DATA_HEARTBEAT_KEY, HEARTBEAT_KEY, TRADING_HEARTBEAT_KEY

    for key in (HEARTBEAT_KEY, TRADING_HEARTBEAT_KEY, DATA_HEARTBEAT_KEY):
        api.container.kv.set(key, "pod-0", ttl_s=30)


def test_status_is_degraded_without_a_running_engine(api: Api) -> None:
    data = api.client.get("/v1/status").json()
    assert data["trading"]["state"] == "active"
    assert data["components"]["engine"]["ok"] is False
    assert data["status"] == "degraded"  # no order gateway enforces a halt or sends an order
    _engine_running(api)
    data = api.client.get("/v1/status").json()
    assert data["components"]["engine"]["ok"] is True and data["status"] == "ok"


@pytest.mark.parametrize(
    ("dead", "key"),
    [("trading_engine", "smc:trading:heartbeat"), ("data_pipeline", "smc:data:heartbeat")],
)
def test_status_is_degraded_while_the_trading_engine_or_the_data_pipeline_is_dead(
    api: Api, dead: str, key: str
) -> None:
    # only the execution engine's heartbeat was checked: with the trading engine and the data pipeline
    # stopped (kill -STOP) /v1/status and `smc-agent status` said ok
    _engine_running(api)
    api.container.kv.delete(key)  # its TTL ran out: the process no longer refreshes it
    data = api.client.get("/v1/status").json()
    assert data["status"] == "degraded"
    assert data["components"][dead]["ok"] is False and key in data["components"][dead]["error"]
    assert all(v["ok"] for name, v in data["components"].items() if name != dead)


def test_anonymous_status_has_state_venue_and_health_but_no_private_figures(api: Api) -> None:
    _seed_trading(api)
    _engine_running(api)
    data = api.client.get("/v1/status").json()
    assert data["status"] == "ok"
    assert data["trading"]["state"] == "active" and data["trading"]["reason"]
    assert data["venue"]["active_venue"] == "binance" and data["venue"]["failover_active"] is False
    for dep in ("database", "control_store"):
        assert data["dependencies"][dep]["ok"] is True
        assert data["dependencies"][dep]["latency_ms"] >= 0
    assert "positions" not in data and "pnl" not in data


def test_authenticated_status_adds_own_positions_and_pnl(api: Api) -> None:
    _seed_trading(api)
    data = api.client.get("/v1/status", headers=api.headers("alice")).json()
    assert [p["symbol"] for p in data["positions"]] == ["BTC/USDT"]  # not bob's ETH
    pnl = data["pnl"]
    assert Decimal(pnl["realized_pnl"]) == Decimal("125.5")
    assert Decimal(pnl["net_pnl"]) == Decimal("122.25")
    assert pnl["open_positions"] == 1 and pnl["trades"] == 2
    # realised PnL net of fees: the buy's fee (its cost is no loss), then +125.5 less the sell's fee
    assert [Decimal(p["value"]) for p in pnl["equity_curve"]] == [Decimal("-1.625"), Decimal("122.25")]


@pytest.mark.parametrize(("scopes", "shown"), [(["trade"], False), (["read"], True)])
def test_status_shows_private_figures_to_a_key_only_with_the_read_scope(
    api: Api, scopes: list[str], shown: bool
) -> None:
    # a key without "read" is refused /v1/positions; /v1/status handed it the same figures
    _seed_trading(api)
    created = api.client.post("/v1/api-keys", json={"scopes": scopes}, headers=api.headers("alice"))
    key = {"X-API-Key": created.json()["key"]}
    assert api.client.get("/v1/positions", headers=key).status_code == (200 if shown else 403)
    data = api.client.get("/v1/status", headers=key).json()
    assert ("positions" in data and "pnl" in data) is shown
    assert data["trading"]["state"]  # the public part either way


def test_halt_from_anywhere_shows_in_status_and_failover_too(api: Api) -> None:
    api.container.trading_control.halt(reason="playbook drill", actor="ops", source="cli")
    trading = api.client.get("/v1/status").json()["trading"]
    assert trading["state"] == "halted" and "playbook drill" in trading["reason"]
    r = api.client.post(
        "/v1/control/failover",
        headers=api.headers("admin"),
        json={"from_venue": "binance", "to_venue": "bybit", "reason": "binance errors"},
    )
    assert r.status_code == 200 and r.json()["active_venue"] == "bybit"
    venue = api.client.get("/v1/status").json()["venue"]
    assert venue["active_venue"] == "bybit" and venue["failover_active"] is True
    same = api.client.post(
        "/v1/control/failover",
        headers=api.headers("admin"),
        json={"from_venue": "bybit", "to_venue": "bybit", "reason": "nonsense"},
    )
    assert same.status_code == 422 and "two different venues" in same.text


def test_resume_runs_verification_and_records_actor(api: Api) -> None:
    admin = api.headers("admin")
    assert (
        api.client.post("/v1/control/halt", json={"reason": "manual check"}, headers=admin).json()["state"]
        == "halted"
    )
    resumed = api.client.post("/v1/control/resume", json={"reason": "all clear"}, headers=admin).json()
    assert resumed["state"] == "active"
    with api.container.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT state, actor, reason FROM trading_state_events ORDER BY created_at"
        ).all()
    assert [(r[0], r[1]) for r in rows] == [("halted", "admin@api"), ("active", "admin@api")]


def test_metrics_and_ready(api: Api) -> None:
    api.client.get("/v1/me")
    text = api.client.get("/metrics").text
    assert 'smc_http_requests_total{method="GET",route="/v1/me",status="401"}' in text
    assert api.client.get("/ready").json() == {"status": "ready"}


def test_dashboard_page_explains_how_to_build_when_missing(api: Api, tmp_path: object) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from smc_agent.api.static import mount_dashboard

    app = FastAPI()
    mount_dashboard(app, dist=api.container.settings.data_dir / "no-dist")
    page = TestClient(app).get("/")
    assert page.status_code == 200 and "scripts/build-web" in page.text and "npm ci" in page.text


def test_pnl_sums_the_positions_exactly(api: Api) -> None:
    """SQLite (the default database) stores money as text: summed by the database, 0.1 + 0.2 came out
    0.30000000000000004."""
    with transaction(api.container.session_factory) as session:
        for symbol, realized, fee in (("BTC/USDT", "0.1", "0.01"), ("ETH/USDT", "0.2", "0.02")):
            session.add(
                Position(
                    user_id="usr_alice",
                    exchange="binance",
                    symbol=symbol,
                    quantity=Decimal(0),
                    average_price=Decimal(0),
                    realized_pnl=Decimal(realized),
                    fees=Decimal(fee),
                )
            )
    pnl = api.client.get("/v1/pnl", headers=api.headers("alice")).json()
    assert (pnl["realized_pnl"], pnl["fees"], pnl["net_pnl"]) == ("0.3", "0.03", "0.27")


async def test_the_trading_engine_alone_is_not_an_engine_running(
    migrated_pg_url: str, redis_pair: tuple[str, str]
) -> None:
    # the trading engine wrote the order gateway's heartbeat: with the execution engine down (a crash
    # loop) /v1/status said ok, and a resume waited for a verification no process would run
    from smc_agent.bootstrap import Container
    from smc_agent.live.strategies import STRATEGIES
    from smc_agent.live.streams import MemoryStreamBus
    from smc_agent.live.trading_service import TradingService
    from smc_agent.live.wiring import build_control
    from smc_agent.ops.status import system_status
    from smc_agent.settings import Settings
    from tests.live.test_restart_and_incidents import INSTRUMENT

    control, repo = build_control(migrated_pg_url, redis_pair[0])
    settings = Settings(
        database_url=migrated_pg_url,
        redis_url=redis_pair[0],
        session_redis_db=int(redis_pair[1].rsplit("/", 1)[1]),
    )
    container = Container(settings)
    service = TradingService(
        bus=MemoryStreamBus(), repo=repo, control=control, instruments=[INSTRUMENT], strategies=STRATEGIES
    )
    await service.start()
    try:
        await asyncio.sleep(0.6)  # its control loop has run
        status = system_status(container)
        assert status["components"]["engine"]["ok"] is False and status["status"] == "degraded"
    finally:
        await service.stop()
        container.close()


def test_anonymous_status_counts_stranded_positions_but_does_not_list_them(api: Api) -> None:
    # after a failover /v1/status handed anyone every user's stranded positions (exchange, symbol,
    # quantity, bot): private figures, only a count is public
    _seed_trading(api)
    api.container.failover.activate_failover("binance", "bybit", reason="drill", actor="ops", source="cli")
    assert len(api.container.failover.status()["stranded_positions"]) == 2  # the operator's view
    for headers in ({}, api.headers("alice")):
        venue = api.client.get("/v1/status", headers=headers).json()["venue"]
        assert venue["active_venue"] == "bybit" and venue["stranded_position_count"] == 2
        assert "stranded_positions" not in venue
        assert "ETH/USDT" not in str(venue)


def test_a_closed_positions_zero_is_neither_listed_nor_counted_as_open(api: Api) -> None:
    """SQLite stores money as text: a position closed by a fill of its whole quantity kept
    ``0.0123 - 0.0123``, stored "0.0000", which is not the text "0": /v1/positions listed it (Qty 0) and
    /v1/pnl counted it open. Its realised PnL still counts."""
    with transaction(api.container.session_factory) as session:
        for symbol, qty in (
            ("BTC/USDT", Decimal("0.0123") - Decimal("0.0123")),
            ("ETH/USDT", Decimal("-0.5")),
        ):
            session.add(
                Position(
                    user_id="usr_alice",
                    exchange="binance",
                    symbol=symbol,
                    quantity=qty,
                    average_price=Decimal(0) if qty == 0 else Decimal(3000),
                    realized_pnl=Decimal("12.5"),
                    fees=Decimal("0.5"),
                )
            )
    alice = api.headers("alice")
    listed = api.client.get("/v1/positions", headers=alice).json()["items"]
    assert [p["symbol"] for p in listed] == ["ETH/USDT"]
    with_flat = api.client.get("/v1/positions?include_flat=true", headers=alice).json()["items"]
    assert [p["symbol"] for p in with_flat] == ["BTC/USDT", "ETH/USDT"]
    pnl = api.client.get("/v1/pnl", headers=alice).json()
    assert pnl["open_positions"] == 1 and Decimal(pnl["net_pnl"]) == 24
    status = api.client.get("/v1/status", headers=alice).json()
    assert [p["symbol"] for p in status["positions"]] == ["ETH/USDT"]
    assert status["pnl"]["open_positions"] == 1
