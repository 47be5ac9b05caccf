"""The trading service runs the bots the API asks for and stores every risk denial.

``POST /v1/bots/{id}/start`` writes ``starting`` and ``.../stop`` writes ``stopping``: the service used
to load only ``running`` bots (a started bot never ran) and never finished a stop. Risk denials only
reached in-memory listeners: no order row, no check, no figures. On real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from smc_agent.core.candle import Candle
from smc_agent.core.enums import LiquiditySide, OrderSide, TradingState
from smc_agent.core.events import OrderDenied, OrderFilled
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from smc_agent.live.codec import encode_candle
from smc_agent.live.strategies import STRATEGIES
from smc_agent.live.streams import CANDLES_STREAM, ORDERS_STREAM, MemoryStreamBus
from smc_agent.live.trading_service import TradingService
from smc_agent.live.wiring import build_control
from smc_agent.risk.config import RiskConfig
from smc_agent.store import migrate
from smc_agent.store.db import make_engine, make_session_factory, transaction
from smc_agent.store.models import Bot, Order, User
from smc_agent.store.trading_repo import TradingRepo
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.params import Param
from tests.live.conftest import wait_for
from tests.live.test_restart_and_incidents import INSTRUMENT

DENY_ALL = RiskConfig(max_order_qty=Decimal("0.0005"))  # the drill's 0.001 orders are all denied


def _candle(i: int) -> Candle:
    return Candle("binance", "BTC/USDT", "1m", 1_800_000_000_000 + i * 60_000, 100.0, 101.0, 99.0, 100.5, 3.0)


def _user(url: str, name: str) -> str:
    with transaction(make_session_factory(make_engine(url))) as session:
        session.add(User(id=f"usr_{name}", username=name, password_hash="x", role="trader"))
    return f"usr_{name}"


def _bot(repo: TradingRepo, owner: str, *, strategy: str = "drill", state: str = "starting") -> str:
    return repo.create_bot(
        user_id=owner,
        name=strategy,
        strategy=strategy,
        venue="binance",
        symbols=["BTC/USDT"],
        timeframes=["1m"],
        parameters={"qty": 0.001, "every": 1} if strategy == "drill" else {},
        state=state,
    )


def _bot_row(repo: TradingRepo, bot_id: str) -> dict[str, object]:
    return next(b for b in repo.bots() if b["id"] == bot_id)


def _orders(repo: TradingRepo, bot_id: str) -> list[Order]:
    with repo._factory() as session:
        return list(session.scalars(select(Order).where(Order.bot_id == bot_id).order_by(Order.created_at)))


def _service(
    repo: TradingRepo, control: Any, bus: MemoryStreamBus | None = None, strategies: Any = STRATEGIES
) -> TradingService:
    """The trading service of these tests: the one instrument, every order denied, bots read often."""
    return TradingService(
        bus=bus or MemoryStreamBus(),
        repo=repo,
        control=control,
        instruments=[INSTRUMENT],
        strategies=strategies,
        risk=DENY_ALL,
        bot_refresh_s=0.05,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    return str(
        request.getfixturevalue("migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url")
    )


async def test_started_bots_run_their_denials_are_stored_and_stopped_bots_stop(url: str) -> None:
    owner = _user(url, "owner")
    control, repo = build_control(url, None)
    bot = _bot(repo, owner)  # what POST /v1/bots/{id}/start leaves
    broken = _bot(repo, owner, strategy="no_such_strategy")
    bus = MemoryStreamBus()
    service = _service(repo, control, bus)
    service.denial_flush_s = 0.02
    await service.start()
    try:
        assert StrategyId(bot) in service.engine.bots
        assert _bot_row(repo, bot)["state"] == "running"
        assert _bot_row(repo, broken)["state"] == "error"
        with repo._factory() as session:
            reason = session.get(Bot, broken).state_reason  # type: ignore[union-attr]
        assert reason is not None and "unknown strategy 'no_such_strategy'" in reason

        for i in range(3):
            await bus.publish(CANDLES_STREAM, encode_candle(_candle(i)))
        await wait_for(lambda: len(_orders(repo, bot)) == 3, 10.0, "three stored denials")
        assert ORDERS_STREAM not in bus.streams or not bus.streams[ORDERS_STREAM]  # nothing was sent
        for row in _orders(repo, bot):
            assert (row.status, row.user_id, row.exchange, row.symbol) == (
                "denied",
                owner,
                "binance",
                "BTC/USDT",
            )
            assert (row.type, row.quantity, row.reduce_only) == ("market", Decimal("0.001"), False)
            assert row.risk_check == "max_order_qty"
            assert row.risk_figures == {"qty": "0.00100", "limit": "0.0005"}  # as the gate compared them
            assert row.reason == "max_order_qty: quantity 0.00100 above limit 0.0005"
            assert row.closed_at is not None
        assert [r.side for r in _orders(repo, bot)] == ["buy", "sell", "buy"]
        assert service.denials_recorded == 3

        # the same denial again (e.g. a replayed candle after a restart) is still one row
        first = _orders(repo, bot)[0].client_order_id
        service._queue_denial(
            OrderDenied(
                ts_event=0,
                ts_init=0,
                strategy_id=StrategyId(bot),
                instrument_id=InstrumentId("binance", "BTC/USDT"),
                client_order_id=ClientOrderId(first),
                reason="again",
                check="max_order_qty",
            )
        )
        assert service.store_denials() == 1  # handled, not an error
        assert len(_orders(repo, bot)) == 3 and service.denials_lost == 0

        repo.set_bot_state(bot, "stopping", "stop requested by owner")  # POST /v1/bots/{id}/stop
        await wait_for(lambda: _bot_row(repo, bot)["state"] == "stopped", 5.0, "the stop to be recorded")
        assert service.engine.bots[StrategyId(bot)].state is TradingState.HALTED

        repo.set_bot_state(bot, "starting", "start requested by owner")
        await wait_for(lambda: _bot_row(repo, bot)["state"] == "running", 5.0, "the restart to be recorded")
        assert service.engine.bots[StrategyId(bot)].state is TradingState.ACTIVE
    finally:
        await service.stop()


async def test_a_stop_requested_while_starting_is_not_overwritten(url: str) -> None:
    owner = _user(url, "owner")
    _, repo = build_control(url, None)
    bot = _bot(repo, owner)
    assert repo.transition_bot(bot, "starting", "running", "started") is True
    repo.set_bot_state(bot, "stopping", "stop requested")
    assert repo.transition_bot(bot, "starting", "running", "started") is False  # the stop stands
    assert _bot_row(repo, bot)["state"] == "stopping"


async def test_a_database_error_storing_a_denial_never_stops_trading(
    migrated_sqlite_url: str, tmp_path: Path
) -> None:
    """The denials' database is unusable (no tables): every write fails; candles keep being handled,
    the strategy keeps deciding, nothing raises, and the denials wait in the queue until it is back."""
    control, _ = build_control(migrated_sqlite_url, None)
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    make_engine(empty).dispose()
    broken_repo = TradingRepo(make_session_factory(make_engine(empty)))
    service = TradingService(
        bus=MemoryStreamBus(),
        repo=broken_repo,
        control=control,
        instruments=[INSTRUMENT],
        strategies=STRATEGIES,
        risk=DENY_ALL,
    )
    drill = STRATEGIES["drill"]({"qty": 0.001, "every": 1})
    service.engine.add_strategy(
        drill, instrument_id=InstrumentId("binance", "BTC/USDT"), timeframe="1m", strategy_id="drill_x"
    )
    drill.on_start()
    service.engine.start()
    for i in range(2):
        await service.on_candle(_candle(i))
        assert service.store_denials() == 0  # logged, not raised
    for i in range(2, 4):
        await service.on_candle(_candle(i))
    assert service.candles_seen == 4
    assert service.denials_lost == 0 and len(service.pending_denials) == 4  # kept, none dropped
    migrate.upgrade(empty)  # the database is back: the queued denials are stored, in order
    assert service.store_denials() == 4 and not service.pending_denials
    assert [o.status for o in broken_repo.all_orders()] == ["denied"] * 4


async def test_a_denial_the_database_refuses_is_dropped_and_the_next_ones_are_stored(url: str) -> None:
    """A denial of a bot whose row is gone violates the foreign key: that one is dropped and counted
    (retrying it would block every later one), the others are stored."""
    control, _ = build_control(url, None)
    repo = TradingRepo(make_session_factory(make_engine(url)))
    service = TradingService(
        bus=MemoryStreamBus(),
        repo=repo,
        control=control,
        instruments=[INSTRUMENT],
        strategies=STRATEGIES,
        risk=DENY_ALL,
    )
    bot = _bot(repo, _user(url, "dropper"))
    for strategy_id in ("bot_gone", bot):  # no such bot row, then a real one
        drill = STRATEGIES["drill"]({"qty": 0.001, "every": 1})
        service.engine.add_strategy(
            drill, instrument_id=InstrumentId("binance", "BTC/USDT"), timeframe="1m", strategy_id=strategy_id
        )
        drill.on_start()
    service.engine.start()
    await service.on_candle(_candle(0))
    assert len(service.pending_denials) == 2
    assert service.store_denials() == 1
    assert service.denials_lost == 1 and not service.pending_denials
    assert [o.status for o in _orders(repo, bot)] == ["denied"]


async def test_only_bots_of_the_engines_mode_with_an_entitled_owner_trade(url: str) -> None:
    # nothing read a bot's mode: a trader's paper bot ran on the live engine (the cluster's execution
    # engine trades with the operator's keys), and a disabled owner's bots kept trading
    owner = _user(url, "owner")
    control, repo = build_control(url, None)
    paper = _bot(repo, owner)
    live_of_trader = _bot(repo, owner)
    with repo._factory() as session, session.begin():
        session.get(Bot, live_of_trader).mode = "live"  # type: ignore[union-attr]
        admin = User(id="usr_admin", username="admin", password_hash="x", role="admin")
        session.add(admin)
    live = _bot(repo, "usr_admin")
    with repo._factory() as session, session.begin():
        session.get(Bot, live).mode = "live"  # type: ignore[union-attr]
    bus = MemoryStreamBus()
    service = TradingService(
        bus=bus,
        repo=repo,
        control=control,
        instruments=[INSTRUMENT],
        strategies=STRATEGIES,
        bot_refresh_s=0.05,
        mode="live",
    )
    await service.start()
    try:
        assert set(service.engine.bots) == {StrategyId(live)}
        assert _bot_row(repo, paper)["state"] == "starting"  # left to a paper engine: not touched
        assert _bot_row(repo, live_of_trader)["state"] == "error"
        with repo._factory() as session:
            assert "needs an admin owner" in (session.get(Bot, live_of_trader).state_reason or "")  # type: ignore[union-attr]
        with repo._factory() as session, session.begin():
            session.get(User, "usr_admin").is_active = False  # type: ignore[union-attr]  # `users disable admin`
        await wait_for(
            lambda: _bot_row(repo, live)["state"] == "error", 5.0, "the disabled owner's bot to stop"
        )
        assert service.engine.bots[StrategyId(live)].state is TradingState.HALTED
        await bus.publish(CANDLES_STREAM, encode_candle(_candle(0)))
        await asyncio.sleep(0.3)
        assert ORDERS_STREAM not in bus.streams or not bus.streams[ORDERS_STREAM]  # nothing traded
    finally:
        await service.stop()


async def test_a_bot_edited_while_stopped_starts_again_with_its_new_settings(url: str) -> None:
    # the stopped bot's strategy object stayed in the engine and was switched back on: it traded on
    # with the symbol and parameters its owner had changed (the API showed the new ones)
    owner = _user(url, "editor")
    control, repo = build_control(url, None)
    bot = _bot(repo, owner)
    service = _service(repo, control)  # every order denied: nothing held, nothing working
    await service.start()
    try:
        before = service.engine.bots[StrategyId(bot)].strategy
        assert before.params["every"] == 1
        repo.set_bot_state(bot, "stopping", "stop requested by owner")
        await wait_for(lambda: _bot_row(repo, bot)["state"] == "stopped", 5.0, "the stop to be recorded")
        with transaction(repo._factory) as session:
            session.get(Bot, bot).parameters = {"qty": 0.001, "every": 7}  # type: ignore[union-attr]
        repo.set_bot_state(bot, "starting", "start requested by owner")
        await wait_for(lambda: _bot_row(repo, bot)["state"] == "running", 5.0, "the restart to be recorded")
        after = service.engine.bots[StrategyId(bot)]
        assert after.strategy is not before and after.strategy.params["every"] == 7
        assert after.state is TradingState.ACTIVE
        assert sum(b is after for b in service.engine._routes[("binance", "BTC/USDT", "1m")]) == 1
        assert len(service.engine._routes[("binance", "BTC/USDT", "1m")]) == 1  # the old one is gone
    finally:
        await service.stop()


class _FailsToStart(Strategy):
    """A strategy whose start refuses a setting the API does not know about (``every`` of 7)."""

    name = "fails_to_start"
    every = Param(int, 1, low=1, high=100)

    def on_start(self, **kwargs: object) -> None:
        if self.every == 7:
            raise ValueError("every 7 is not allowed here")

    def on_candle(self, candle: Candle) -> None:
        self.buy(qty=0.001, tag="should never be sent")


async def test_a_bot_changed_under_the_engine_is_rebuilt_refused_when_moved_off_what_it_holds(
    url: str,
) -> None:
    # review of the rebuild: (1) an edit that reached a running bot's row (a stop and a start crossing an
    # engine's read) was never applied; (2) a strategy whose start failed stayed routed and traded while
    # the bot showed error; (3) a bot moved to another symbol while its books held the first one (after
    # a restart) started on the new symbol and left the position to no strategy
    owner = _user(url, "mover")
    control, repo = build_control(url, None)
    bot = _bot(repo, owner)
    strategies = {**STRATEGIES, "fails_to_start": lambda params: _FailsToStart(**params)}
    bus = MemoryStreamBus()

    def set_row(**fields: object) -> None:
        with transaction(repo._factory) as session:
            row = session.get(Bot, bot)
            for key, value in fields.items():
                setattr(row, key, value)

    service = _service(repo, control, bus, strategies)
    await service.start()
    try:
        first = service.engine.bots[StrategyId(bot)].strategy
        set_row(parameters={"qty": 0.001, "every": 5})  # (1) the row of a running bot changed
        await wait_for(
            lambda: service.engine.bots[StrategyId(bot)].strategy is not first, 5.0, "the bot rebuilt"
        )
        assert service.engine.bots[StrategyId(bot)].strategy.params["every"] == 5
        assert _bot_row(repo, bot)["state"] == "running"

        set_row(strategy="fails_to_start", parameters={"every": 7})  # (2)
        await wait_for(lambda: _bot_row(repo, bot)["state"] == "error", 5.0, "the failed start recorded")
        assert StrategyId(bot) not in service.engine.bots
        assert all(b.strategy_id != bot for bots in service.engine._routes.values() for b in bots)
        for i in range(3):
            await bus.publish(CANDLES_STREAM, encode_candle(_candle(i)))
        await asyncio.sleep(0.3)
        assert _orders(repo, bot) == []  # nothing sent (nor denied) for a bot in error
    finally:
        await service.stop()

    # (3) a position booked to the bot on BTC/USDT, then its symbol changed while no engine ran
    service = _service(repo, control, bus, strategies)
    await service.start()
    try:
        set_row(strategy="drill", parameters={"qty": 0.001, "every": 1}, state="starting")
        await wait_for(lambda: _bot_row(repo, bot)["state"] == "running", 5.0, "the bot running again")
        fill = OrderFilled(
            ts_event=1,
            ts_init=1,
            strategy_id=StrategyId(bot),
            instrument_id=INSTRUMENT.id,
            client_order_id=ClientOrderId("smc-moved-1"),
            venue_order_id=VenueOrderId("v-1"),
            trade_id=TradeId("t-1"),
            side=OrderSide.BUY,
            qty=Decimal(1),
            price=Decimal(100),
            fee=Decimal(0),
            fee_currency="USDT",
            liquidity=LiquiditySide.TAKER,
            is_last=True,
        )
        service.engine.handle_event(fill)
        repo.set_bot_state(bot, "stopping", "stop requested by owner")
        await wait_for(lambda: _bot_row(repo, bot)["state"] == "stopped", 5.0, "the stop recorded")
        set_row(symbols=["ETH/USDT"], state="starting")
        await wait_for(lambda: _bot_row(repo, bot)["state"] == "error", 5.0, "the move refused")
        with repo._factory() as session:
            reason = session.get(Bot, bot).state_reason  # type: ignore[union-attr]
        assert reason is not None and "it holds 1 BTC/USDT: close them before moving it to ETH/USDT" in reason
    finally:
        await service.stop()
