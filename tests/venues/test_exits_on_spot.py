"""A position's exits on spot venues, where a resting sell holds the coins it would sell.

Binance holds them for every order from placement: a take-profit placed after the stop-loss would be
refused, so the two go out as one OCO order list that holds the coins once for both. Bybit holds
them for a limit from placement but for a conditional order only once it triggers: a take-profit
resting as a limit would leave the stop unfunded, refused at the very moment it triggers, so the
gateway places the take-profit as a conditional market order at its price.

``close()`` of a bracketed position is carried to the venue in the order the engine emits its
commands: a market sell of coins a stop holds is refused, so the cancels go first, or the position
would stay open with no stop at all. The accounts hold only the position (no spare coins to mask the
rules)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from smc_agent.core.candle import Candle
from smc_agent.core.commands import CancelOrder, SubmitOco, SubmitOrder
from smc_agent.core.enums import OrderSide, OrderStatus, OrderType
from smc_agent.core.errors import RejectedError, VenueUnavailable
from smc_agent.core.events import Event, OrderRejected
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId
from smc_agent.core.instrument import Instrument
from smc_agent.live.codec import decode
from smc_agent.live.streams import EVENTS_STREAM, ORDERS_STREAM, MemoryStreamBus
from smc_agent.live.trading_service import TradingService
from smc_agent.live.wiring import build_control, build_execution, close_execution
from smc_agent.risk.config import RiskConfig
from smc_agent.store.db import make_engine, make_session_factory, transaction
from smc_agent.store.models import Order, Position, User
from smc_agent.store.trading_repo import TradingRepo
from smc_agent.strategy.base import Strategy
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import ExchangeSimulator
from smc_agent.venues.simulator.book import Book
from smc_agent.venues.simulator.feed import Bar, SymbolSpec
from tests.engine.harness import Scripted
from tests.live.conftest import execution_config
from tests.venues.conftest import open_gateway
from tests.venues.simkit import sim_config

QTY = Decimal("0.01")
# what the account holds after buying QTY: both venues charge a spot buy's fee (0.1%) in the coin bought
HELD = QTY - QTY * Decimal("0.001")
CENT = Decimal("0.01")
ZERO = Decimal(0)


@pytest.fixture
async def bare_sim(venue: str) -> AsyncIterator[ExchangeSimulator]:
    """An account with quote currency only: what the bot buys is all the BTC it has."""
    balances = (("USDT", Decimal(100_000)), ("BTC", Decimal(0)))
    async with ExchangeSimulator(sim_config(venue, balances=balances)) as simulator:
        yield simulator


async def _send(gw: CcxtGateway, command: SubmitOrder | CancelOrder) -> str:
    """Carry one command to the venue's gateway; the status the venue gave it."""
    try:
        if isinstance(command, SubmitOrder):
            return (await gw.submit_order(command)).status.value
        report = await gw.cancel_order(command.instrument_id, client_order_id=command.client_order_id)
        return report.status.value
    except RejectedError as exc:
        return f"rejected: {exc}"


class Live:
    """The trading engine's service and the execution engine's service (SQLite, no Redis) on one
    simulator, joined by in-process streams: commands and events cross them encoded, in order, as they
    do between the two processes."""

    def __init__(self, sim: ExchangeSimulator, venue: str, database_url: str, strategy: Scripted) -> None:
        self.bus = MemoryStreamBus()
        control, repo = build_control(database_url, None)
        inst = Instrument(venue, "BTC/USDT", "BTC", "USDT", CENT, Decimal("0.00001"))
        self.trading = TradingService(
            bus=self.bus,
            repo=repo,
            control=control,
            instruments=[inst],
            strategies={},
            starting_cash=Decimal(100_000),
            risk=RiskConfig.permissive(),
        )
        self.engine = self.trading.engine
        self.engine.add_strategy(strategy, instrument_id=inst.id, timeframe="1m", strategy_id="bot")
        self.engine.start()
        config = dataclasses.replace(execution_config(database_url, None, sim), venue=venue)
        self.execution = build_execution(config, bus=self.bus)
        self.gateway = self.execution.gateway
        self.orders = self.bus.consumer(ORDERS_STREAM, group="execution", name="x")
        self.events = self.bus.consumer(EVENTS_STREAM, group="trading", name="t")

    async def pump(self) -> None:
        """Carry commands to the execution engine and its events back until both streams are empty."""
        while True:
            moved = 0
            for consumer, handle in (
                (self.orders, self.execution.handle),
                (self.events, lambda fields: self.trading.on_event(decode(fields))),
            ):
                for entry_id, fields in await consumer.read(count=100, block_ms=0):
                    await handle(fields)
                    await consumer.ack(entry_id)
                    moved += 1
            if not moved:
                return

    async def enter(self, sim: ExchangeSimulator, venue: str) -> tuple[str, str]:
        """Reconcile, then feed one candle at the last price (the strategy enters on it) and carry
        everything through; the ids of the entry's stop and target."""
        assert await self.gateway.reconcile() == []
        await self.next_candle(sim, venue, 0)
        entry = next(iter(self.engine.orders.orders.values())).client_order_id
        return f"{entry}-sl", f"{entry}-tp"

    async def next_candle(self, sim: ExchangeSimulator, venue: str, ts: int) -> None:
        """Feed one candle at the last price (the strategy acts on it) and carry everything through."""
        p = float(sim.state.last_price("BTCUSDT"))
        await self.trading.on_candle(Candle(venue, "BTC/USDT", "1m", ts, p, p, p, p, 10.0))
        await self.pump()

    async def run(self, sim: ExchangeSimulator, seconds: int) -> None:
        """Let the market run ``seconds``, then poll the venue and carry its reports through."""
        sim.step(seconds)
        for _ in range(3):
            await self.gateway.poll()
            await self.pump()

    async def run_while_down(self, sim: ExchangeSimulator, seconds: int) -> None:
        """The trading engine is down: the market runs ``seconds`` and the execution engine alone polls
        the venue and books its reports (their events wait in the stream)."""
        sim.step(seconds)
        for _ in range(3):
            await self.gateway.poll()

    def assert_flat_and_clear(self, sim: ExchangeSimulator, venue: str) -> None:
        """Flat in the engine, nothing working in the engine or at the venue, no coins left over."""
        assert self.engine.portfolio.position(InstrumentId(venue, "BTC/USDT")).is_flat
        assert self.engine.orders.open_orders() == [] and sim.state.book.open_orders("BTCUSDT") == []
        btc = sim.state.book.balance("BTC")
        assert (btc.free, btc.locked) == (ZERO, ZERO)

    async def restarted(self) -> TradingService:
        """A new trading engine's service on the same database, started (restored from it)."""
        service = TradingService(
            bus=MemoryStreamBus(),
            repo=self.gateway.repo,
            control=self.trading.control,
            instruments=list(self.engine.instruments.values()),
            strategies={},
            starting_cash=Decimal(100_000),
        )
        await service.start()
        return service

    def status(self, cid: str) -> str:
        stored = self.gateway.repo.get(cid)
        return "unknown" if stored is None else stored.status


async def sent_by(service: TradingService) -> list[object]:
    """The commands ``service`` sent to the execution engine so far."""
    sent = service.bus.consumer(ORDERS_STREAM, group="execution", name="x")
    return [decode(fields) for _, fields in await sent.read(count=100, block_ms=0)]


@pytest.mark.parametrize("halted", [False, True])
async def test_close_cancels_the_stop_before_it_sells_and_only_if_it_goes(
    bare_sim: ExchangeSimulator, venue: str, halted: bool, migrated_sqlite_url: str
) -> None:
    price = bare_sim.state.last_price("BTCUSDT")
    stop, target = (price * Decimal("0.9")).quantize(CENT), (price * Decimal("1.1")).quantize(CENT)
    strategy = Scripted({0: lambda s, c: s.buy(qty=float(QTY), stop_loss=stop, take_profit=target)})
    live = Live(bare_sim, venue, migrated_sqlite_url, strategy)
    try:
        sl, tp = await live.enter(bare_sim, venue)  # the entry fills; its stop and target are placed
        assert live.status(sl.removesuffix("-sl")) == "filled" and live.status(sl) == "accepted"
        assert bare_sim.state.book.balance("BTC").locked == (HELD if venue == "binance" else 0)
        if halted:  # the operator's emergency halt, which the trading engine has not seen yet
            live.gateway.control.halt(reason="operator: emergency halt", actor="ops", source="test")

        close_id = strategy.close()
        assert close_id is not None  # admitted by the engine's own gate
        await live.trading.flush()
        await live.pump()
        btc = bare_sim.state.book.balance("BTC")
        if halted:  # refused by the execution engine: nothing canceled, the stop still holds the position
            close = live.engine.orders.get(close_id)
            assert (
                close is not None and close.status is OrderStatus.REJECTED and "halt" in (close.reason or "")
            )
            assert close_id not in {o.client_id for o in bare_sim.state.book.orders.values()}
            assert live.status(sl) == "accepted"
            assert btc.free + btc.locked == HELD
            assert any(o.client_id == sl for o in bare_sim.state.book.open_orders("BTCUSDT"))
        else:  # the stop (and target) canceled first, then the close filled: flat, nothing working
            assert live.status(close_id) == "filled" and live.status(sl) == "canceled"
            assert live.status(tp) == "canceled"  # with the stop (on Binance, as its OCO list)
            assert (btc.free, btc.locked) == (ZERO, ZERO) and bare_sim.state.book.open_orders("BTCUSDT") == []
            assert live.engine.portfolio.position(InstrumentId(venue, "BTC/USDT")).is_flat
    finally:
        await close_execution(live.execution)


def _order(venue: str, cid: str, order_type: OrderType, price: Decimal | None = None) -> SubmitOrder:
    """An exit (a reduce-only sell; ``price`` is a stop's trigger) or, as a market order, the entry."""
    entry = order_type is OrderType.MARKET
    stop = order_type is OrderType.STOP_MARKET
    return SubmitOrder(
        ts_event=0,
        ts_init=0,
        strategy_id=StrategyId("bot"),
        instrument_id=InstrumentId(venue, "BTC/USDT"),
        client_order_id=ClientOrderId(cid),
        side=OrderSide.BUY if entry else OrderSide.SELL,
        order_type=order_type,
        qty=QTY if entry else HELD,
        price=None if stop else price,
        trigger_price=price if stop else None,
        reduce_only=not entry,
    )


async def _bracketed(gw: CcxtGateway, venue: str, stop: Decimal, target: Decimal) -> dict[str, str]:
    """Buy QTY, then place its stop-loss and take-profit as the engine does (stop first)."""
    assert (await gw.submit_order(_order(venue, "e1", OrderType.MARKET))).status is OrderStatus.FILLED
    return {
        "sl": await _send(gw, _order(venue, "e1-sl", OrderType.STOP_MARKET, stop)),
        "tp": await _send(gw, _order(venue, "e1-tp", OrderType.LIMIT, target)),
    }


async def test_the_stop_is_funded_when_it_triggers(bare_sim: ExchangeSimulator, venue: str) -> None:
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    stop = (min(b.low for b in bars[500:560]) + 1).quantize(CENT)  # reached within the next hour
    target = (max(b.high for b in bars[500:800]) + 100).quantize(CENT)  # never reached
    async with open_gateway(bare_sim, venue) as gw:
        placed = await _bracketed(gw, venue, stop, target)
        assert placed["sl"] == "accepted"
        # Binance: the stop holds the coins, the target is refused; Bybit: both rest, holding nothing
        assert placed["tp"] == "accepted" if venue == "bybit" else placed["tp"].startswith("rejected")
        bare_sim.step(60)
        iid = InstrumentId(venue, "BTC/USDT")
        sl = await gw.fetch_order(iid, client_order_id=ClientOrderId("e1-sl"))
        assert sl.status is OrderStatus.FILLED and sl.filled_qty == HELD  # not refused for want of coins
        assert sl.avg_fill_price is not None and sl.avg_fill_price <= stop
    assert bare_sim.state.book.balance("BTC").free == 0


@pytest.mark.parametrize("venue", ["bybit"])  # a Bybit rule: runs for that venue only, not skipped
async def test_a_bybit_target_rests_as_a_conditional_order_and_takes_the_profit(
    bare_sim: ExchangeSimulator, venue: str
) -> None:
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    target = (max(b.high for b in bars[500:560]) - 1).quantize(CENT)  # reached within the next hour
    stop = (min(b.low for b in bars[500:800]) - 100).quantize(CENT)  # never reached
    assert target > bare_sim.state.last_price("BTCUSDT")
    async with open_gateway(bare_sim, venue) as gw:
        placed = await _bracketed(gw, venue, stop, target)
        assert placed == {"sl": "accepted", "tp": "accepted"}
        (tp_order,) = [o for o in bare_sim.state.book.open_orders("BTCUSDT") if o.client_id == "e1-tp"]
        assert tp_order.waiting_trigger and tp_order.trigger_price == target and tp_order.type == "MARKET"
        assert bare_sim.state.book.balance("BTC").locked == 0
        bare_sim.step(60)
        iid = InstrumentId(venue, "BTC/USDT")
        tp = await gw.fetch_order(iid, client_order_id=ClientOrderId("e1-tp"))
        assert tp.status is OrderStatus.FILLED and tp.avg_fill_price is not None
        assert tp.avg_fill_price >= target  # at its price, or better when the market gapped through it
        canceled = await gw.cancel_order(iid, client_order_id=ClientOrderId("e1-sl"))
        assert canceled.status is OrderStatus.CANCELED
    assert bare_sim.state.book.balance("BTC").free == 0


@pytest.mark.parametrize("venue", ["binance"])  # a Binance order list: runs for that venue only
@pytest.mark.parametrize("reached", ["stop", "target", "neither"])
async def test_a_binance_oco_list_shares_the_coins_and_expires_the_other_leg(
    bare_sim: ExchangeSimulator, venue: str, reached: str
) -> None:
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    hour, day = bars[500:560], bars[500:800]
    stop = (min(b.low for b in hour) + 1 if reached == "stop" else min(b.low for b in day) - 100).quantize(
        CENT
    )
    target = (
        max(b.high for b in hour) - 1 if reached == "target" else max(b.high for b in day) + 100
    ).quantize(CENT)
    iid = InstrumentId(venue, "BTC/USDT")
    async with open_gateway(bare_sim, venue) as gw:
        assert gw.supports_oco
        assert (await gw.submit_order(_order(venue, "e1", OrderType.MARKET))).status is OrderStatus.FILLED
        sl, tp = await gw.submit_oco(
            _order(venue, "e1-sl", OrderType.STOP_MARKET, stop),
            _order(venue, "e1-tp", OrderType.LIMIT, target),
        )
        # the target waits as a TAKE_PROFIT (a market order at its price): fills whole, never in part
        assert (sl.status, sl.order_type, tp.status, tp.order_type) == (
            OrderStatus.ACCEPTED,
            OrderType.STOP_MARKET,
            OrderStatus.ACCEPTED,
            OrderType.STOP_MARKET,
        )
        legs = {o.client_id: o for o in bare_sim.state.book.open_orders("BTCUSDT")}
        assert legs["e1-tp"].trigger_price == target and legs["e1-tp"].list_id == legs["e1-sl"].list_id
        btc = bare_sim.state.book.balance("BTC")
        assert (btc.free, btc.locked) == (ZERO, HELD)  # both legs, one reservation
        if reached == "neither":  # canceling one leg cancels the list and frees the coins
            canceled = await gw.cancel_order(iid, client_order_id=ClientOrderId("e1-tp"))
            assert canceled.status is OrderStatus.CANCELED
            other = await gw.fetch_order(iid, client_order_id=ClientOrderId("e1-sl"))
            assert other.status is OrderStatus.CANCELED and (btc.free, btc.locked) == (HELD, ZERO)
            return
        bare_sim.step(60)
        done = await gw.fetch_order(
            iid, client_order_id=ClientOrderId(f"e1-{'sl' if reached == 'stop' else 'tp'}")
        )
        gone = await gw.fetch_order(
            iid, client_order_id=ClientOrderId(f"e1-{'tp' if reached == 'stop' else 'sl'}")
        )
        assert done.status is OrderStatus.FILLED and done.filled_qty == HELD
        assert gone.status is OrderStatus.EXPIRED and gone.filled_qty == 0
        assert done.avg_fill_price is not None
        assert done.avg_fill_price <= stop if reached == "stop" else done.avg_fill_price >= target
    assert (btc.free, btc.locked) == (ZERO, ZERO)


@pytest.mark.parametrize("venue", ["binance"])
async def test_an_oco_list_with_a_target_through_the_price_is_refused_whole(
    bare_sim: ExchangeSimulator, venue: str
) -> None:
    price = bare_sim.state.last_price("BTCUSDT")
    async with open_gateway(bare_sim, venue) as gw:
        await gw.submit_order(_order(venue, "e1", OrderType.MARKET))
        with pytest.raises(RejectedError, match="relationship of the prices"):
            await gw.submit_oco(
                _order(venue, "e1-sl", OrderType.STOP_MARKET, (price * Decimal("0.9")).quantize(CENT)),
                _order(venue, "e1-tp", OrderType.LIMIT, (price * Decimal("0.99")).quantize(CENT)),
            )
    assert bare_sim.state.book.open_orders("BTCUSDT") == []
    assert bare_sim.state.book.balance("BTC").free == HELD


@pytest.mark.parametrize("venue", ["bybit"])
@pytest.mark.parametrize("where", [Decimal(1), Decimal("0.995")])  # at the last price, and below it
async def test_a_bybit_target_the_market_already_reached_fills_at_once(
    bare_sim: ExchangeSimulator, venue: str, where: Decimal
) -> None:
    """The price moved through the target between the entry's fill and the target's placement: as a
    conditional order it was refused (trigger at the last price) or waited for the price to fall back
    to it (trigger below); it goes out as the limit it is and takes the profit now."""
    async with open_gateway(bare_sim, venue) as gw:
        await gw.submit_order(_order(venue, "e1", OrderType.MARKET))
        last = bare_sim.state.last_price("BTCUSDT")
        target = (last * where).quantize(CENT)
        report = await gw.submit_order(_order(venue, "e1-tp", OrderType.LIMIT, target))
        assert report.status is OrderStatus.FILLED and report.order_type is OrderType.LIMIT
        assert report.avg_fill_price is not None and report.avg_fill_price >= target
    assert bare_sim.state.book.balance("BTC").free == 0


@pytest.mark.parametrize("reached", ["stop", "target"])
async def test_a_bracket_through_both_services_exits_once(
    bare_sim: ExchangeSimulator, venue: str, reached: str, migrated_sqlite_url: str
) -> None:
    """Entry, stop and target from a strategy, through the trading and execution services: on Binance
    the stop and target go out as one OCO list (before, the target was refused: the stop held the
    coins), on Bybit as two conditional orders. The price reaches one of them: the position is closed
    once, and nothing is left working."""
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    hour, day = bars[500:560], bars[500:800]
    low = min(b.low for b in hour) + 1 if reached == "stop" else min(b.low for b in day) - 100
    high = max(b.high for b in hour) - 1 if reached == "target" else max(b.high for b in day) + 100
    stop, target = low.quantize(CENT), high.quantize(CENT)
    strategy = Scripted({0: lambda s, c: s.buy(qty=float(QTY), stop_loss=stop, take_profit=target)})
    live = Live(bare_sim, venue, migrated_sqlite_url, strategy)
    try:
        sl, tp = await live.enter(bare_sim, venue)
        assert (live.status(sl), live.status(tp)) == ("accepted", "accepted")
        legs = {o.client_id: o for o in bare_sim.state.book.open_orders("BTCUSDT")}
        if venue == "binance":  # one list, one reservation
            assert legs[sl].list_id == legs[tp].list_id >= 0
            assert bare_sim.state.book.balance("BTC").locked == HELD
        bare_sim.step(60)
        for _ in range(3):  # the execution engine's polls find the fill; the engine cancels what is left
            await live.gateway.poll()
            await live.pump()
        done, other = (sl, tp) if reached == "stop" else (tp, sl)
        assert live.status(done) == "filled"
        assert live.status(other) == ("expired" if venue == "binance" else "canceled")
        live.assert_flat_and_clear(bare_sim, venue)
    finally:
        await close_execution(live.execution)


@pytest.mark.parametrize("qty", ["0.01", "0.01234"])
async def test_the_engines_books_hold_what_the_venue_account_holds_fees_included(
    bare_sim: ExchangeSimulator, venue: str, qty: str, migrated_sqlite_url: str
) -> None:
    """Both venues charge a spot buy's fee in the coin bought. Live fills were booked with no fee: the
    engine's position was the quantity bought, more than the account held, so the exits it sized on
    it were refused for want of coins, and equity, the loss breakers and sizing left fees out. Now a
    fill is booked with the fees of its trades at the venue: the position is what the account holds,
    the exits sell it, and after the round trip the engine's cash is the account's, to the last digit,
    also after a restart. 0.01234 BTC less its fee is not a whole number of lot steps: the exits sell
    what they can and the rest (dust no order can sell) stays in the account, flat to the strategy."""
    bought = Decimal(qty)
    held = bought - (bought * Decimal("0.001")).quantize(Decimal("0.00000001"))
    sold = held.quantize(Decimal("0.00001"), rounding="ROUND_DOWN")
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    stop = (min(b.low for b in bars[500:560]) + 1).quantize(CENT)  # reached within the hour
    target = (max(b.high for b in bars[500:800]) + 100).quantize(CENT)  # never
    strategy = Scripted({0: lambda s, c: s.buy(qty=float(bought), stop_loss=stop, take_profit=target)})
    live = Live(bare_sim, venue, migrated_sqlite_url, strategy)
    iid = InstrumentId(venue, "BTC/USDT")
    try:
        sl, _ = await live.enter(bare_sim, venue)
        assert live.engine.portfolio.position(iid).qty == held
        assert live.engine.orders.get(ClientOrderId(sl)).qty == sold  # sized on what is held
        (entry,) = live.gateway.repo.trades()
        assert (entry["quantity"], entry["fee"], entry["fee_currency"]) == (bought, bought - held, "BTC")
        await live.run(bare_sim, 60)
        assert live.status(sl) == "filled"
        assert live.engine.portfolio.position(iid).is_flat and live.engine.orders.open_orders() == []
        btc, usdt = bare_sim.state.book.balance("BTC"), bare_sim.state.book.balance("USDT")
        assert (btc.free, btc.locked) == (held - sold, ZERO)  # the dust, if any, stays at the venue
        assert live.gateway.repo.net_position(venue, "BTC/USDT") == 0  # not in the bot's books
        assert live.engine.portfolio.cash == usdt.free
        fees = sum(
            t["fee"] * (t["price"] if t["fee_currency"] == "BTC" else 1) for t in live.gateway.repo.trades()
        )
        assert live.engine.portfolio.fees == fees > 0
        restarted = await live.restarted()
        assert restarted.engine.portfolio.position(iid).is_flat
        assert restarted.engine.portfolio.cash == usdt.free and restarted.engine.portfolio.fees == fees
    finally:
        await close_execution(live.execution)


async def test_a_second_entrys_exits_cover_what_it_added(
    bare_sim: ExchangeSimulator, venue: str, migrated_sqlite_url: str
) -> None:
    """A bot adds to its long: the second entry's stop and target were sized at its fill (0.01) while
    it added 0.00999 to the account; the position held more than 0.01, so nothing trimmed them. Binance
    refused the list, the stop and the market close that replaces a refused stop (P1 incidents; the
    entry without a stop); Bybit accepted both stops, and the second to trigger found too few coins."""
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    stop = (min(b.low for b in bars[500:800]) - 100).quantize(CENT)  # never reached
    target = (max(b.high for b in bars[500:800]) + 100).quantize(CENT)  # never reached

    def entry(s: Strategy, c: Candle) -> None:
        s.buy(qty=float(QTY), stop_loss=stop, take_profit=target)

    live = Live(bare_sim, venue, migrated_sqlite_url, Scripted({0: entry, 1: entry}))
    try:
        await live.enter(bare_sim, venue)
        await live.next_candle(bare_sim, venue, 60_000)
        await live.gateway.poll()
        await live.pump()
        assert live.engine.portfolio.position(InstrumentId(venue, "BTC/USDT")).qty == 2 * HELD
        exits = [o for o in live.engine.orders.orders.values() if o.reduce_only]
        assert len(exits) == 4 and {o.qty for o in exits} == {HELD}
        assert {live.status(o.client_order_id) for o in exits} == {"accepted"}
    finally:
        await close_execution(live.execution)


async def test_two_entries_stops_sell_all_the_account_holds_but_dust(
    bare_sim: ExchangeSimulator, venue: str, migrated_sqlite_url: str
) -> None:
    """Two entries of 0.01234 BTC each add 0.01232766 (less the coin fee). Each entry's stop was what it
    added rounded down to the lot step, 0.01232: when both filled, 0.00001532 BTC (1.5 lot steps, not
    dust) stayed in both books and the account with no exit, and the strategy never saw itself flat.
    Now the second stop covers what the first leaves uncovered (0.01233): what stays is dust, written
    off."""
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    stop = (min(b.low for b in bars[500:560]) + 1).quantize(CENT)  # reached within the hour
    target = (max(b.high for b in bars[500:800]) + 100).quantize(CENT)  # never

    def entry(s: Strategy, c: Candle) -> None:
        s.buy(qty=0.01234, stop_loss=stop, take_profit=target)

    live = Live(bare_sim, venue, migrated_sqlite_url, Scripted({0: entry, 1: entry}))
    iid = InstrumentId(venue, "BTC/USDT")
    try:
        await live.enter(bare_sim, venue)
        await live.next_candle(bare_sim, venue, 60_000)
        await live.gateway.poll()
        await live.pump()
        stops = [o for o in live.engine.orders.orders.values() if o.client_order_id.endswith("-sl")]
        assert [o.qty for o in stops] == [Decimal("0.01232"), Decimal("0.01233")]
        assert live.engine.portfolio.position(iid).qty == Decimal("0.02465532")
        await live.run(bare_sim, 60)
        assert {live.status(o.client_order_id) for o in stops} == {"filled"}
        assert live.engine.portfolio.position(iid).is_flat and live.engine.orders.open_orders() == []
        assert live.gateway.repo.net_position(venue, "BTC/USDT") == 0
        btc = bare_sim.state.book.balance("BTC")
        assert (btc.free, btc.locked) == (Decimal("0.00000532"), ZERO)  # under one lot step
    finally:
        await close_execution(live.execution)


@pytest.mark.parametrize("venue", ["binance"])
async def test_an_entry_filled_while_the_engine_was_down_gets_exits_the_account_can_fund(
    venue: str, bare_sim: ExchangeSimulator, migrated_sqlite_url: str
) -> None:
    """A second entry (a resting buy with a stop) fills while the trading engine is down. The restart
    gave it exits sized on the position alone, at its whole fill: with the first entry's exits holding
    their coins, the account could not fund them (refused, a P1 and a market close). Now they cover what
    no exit covers yet: what it added, less its coin fee."""
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    stop = (min(b.low for b in bars[500:800]) - 100).quantize(CENT)  # never reached
    target = (max(b.high for b in bars[500:800]) + 100).quantize(CENT)  # never reached
    limit = (bare_sim.state.last_price("BTCUSDT") - 5).quantize(CENT)
    script = {
        0: lambda s, c: s.buy(qty=float(QTY), stop_loss=stop, take_profit=target),
        1: lambda s, c: s.buy(qty=float(QTY), price=float(limit), stop_loss=stop, take_profit=target),
    }
    live = Live(bare_sim, venue, migrated_sqlite_url, Scripted(script))
    iid = InstrumentId(venue, "BTC/USDT")
    try:
        await live.enter(bare_sim, venue)
        await live.next_candle(bare_sim, venue, 60_000)  # the resting entry is at the venue
        # from here the trading engine is down
        while live.gateway.repo.net_position(venue, "BTC/USDT") < 2 * HELD:
            bare_sim.step(1)
            await live.gateway.poll()
        restarted = await live.restarted()
        assert restarted.engine.portfolio.position(iid).qty == 2 * HELD
        exits = [o for o in restarted.engine.orders.open_orders(iid) if o.reduce_only]
        assert len(exits) == 4 and {o.qty for o in exits} == {HELD}
    finally:
        await close_execution(live.execution)


async def test_an_entry_filling_while_the_last_positions_target_is_being_canceled_gets_its_exits(
    bare_sim: ExchangeSimulator, venue: str, migrated_sqlite_url: str
) -> None:
    """The stop of a position fills and, in the same poll, a resting entry of the bot fills. On Bybit
    (no order lists) the engine cancels the old target itself: while that cancel was on its way, the
    target counted as covering the new position and the new entry's exits were sized to nothing,
    silently: a position without a stop."""
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    low = min(b.low for b in bars[500:560])
    stop, limit = (low + 1).quantize(CENT), (low + Decimal("0.5")).quantize(CENT)  # both reached
    target = (max(b.high for b in bars[500:800]) + 100).quantize(CENT)  # never
    far = (low - 500).quantize(CENT)
    script = {
        0: lambda s, c: s.buy(qty=0.01234, stop_loss=stop, take_profit=target),
        1: lambda s, c: s.buy(qty=float(QTY), price=float(limit), stop_loss=far, take_profit=target),
    }
    live = Live(bare_sim, venue, migrated_sqlite_url, Scripted(script))
    iid = InstrumentId(venue, "BTC/USDT")
    try:
        await live.enter(bare_sim, venue)
        await live.next_candle(bare_sim, venue, 60_000)
        await live.run(bare_sim, 60)
        assert live.engine.portfolio.position(iid).qty == HELD
        stops = [o for o in live.engine.orders.open_orders(iid) if o.client_order_id.endswith("-sl")]
        assert [(o.qty, live.status(o.client_order_id)) for o in stops] == [(HELD, "accepted")]
    finally:
        await close_execution(live.execution)


def _two_bots(database_url: str) -> tuple[str, str]:
    factory = make_session_factory(make_engine(database_url))
    with transaction(factory) as session:
        session.add(User(id="usr_two", username="two", password_hash="x", role="trader"))
    repo = TradingRepo(factory)
    a, b = (
        repo.create_bot(
            user_id="usr_two",
            name=name,
            strategy="scripted",
            venue="binance",
            symbols=["BTC/USDT"],
            timeframes=["1m"],
        )
        for name in ("a", "b")
    )
    return a, b


@pytest.mark.parametrize("a_has_a_stop", [True, False])
async def test_two_bots_on_one_symbol_each_exit_their_own_coins(
    bare_sim: ExchangeSimulator, venue: str, a_has_a_stop: bool, migrated_sqlite_url: str
) -> None:
    """Two bots of one account buy BTC (b with a stop; a with one or none). The engine sized a stop on
    what all bots held and what all their exits covered: b's stop sold a's coins (a's books then held
    more than the account, a's own exit refused), and both stops left b short on a spot account."""
    a, b = _two_bots(migrated_sqlite_url)
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    stop = (min(b.low for b in bars[500:560]) + 1).quantize(CENT)  # reached within the hour
    target = (max(b.high for b in bars[500:800]) + 100).quantize(CENT)  # never
    exits = {"stop_loss": stop, "take_profit": target} if a_has_a_stop else {}
    live = Live(bare_sim, venue, migrated_sqlite_url, Scripted({}))
    iid = InstrumentId(venue, "BTC/USDT")
    bot_a = Scripted({0: lambda s, c: s.buy(qty=0.01234, **exits)})
    bot_b = Scripted({1: lambda s, c: s.buy(qty=0.01234, stop_loss=stop, take_profit=target)})
    live.engine.add_strategy(bot_a, instrument_id=iid, timeframe="1m", strategy_id=a)
    live.engine.add_strategy(bot_b, instrument_id=iid, timeframe="1m", strategy_id=b)
    held = Decimal("0.01234") - Decimal("0.00001234")
    try:
        await live.enter(bare_sim, venue)
        await live.next_candle(bare_sim, venue, 60_000)
        await live.gateway.poll()
        await live.pump()
        stops = {
            o.strategy_id: o.qty
            for o in live.engine.orders.orders.values()
            if o.client_order_id.endswith("-sl")
        }
        assert stops == (
            {a: Decimal("0.01232"), b: Decimal("0.01232")} if a_has_a_stop else {b: Decimal("0.01232")}
        )
        await live.run(bare_sim, 60)
        books = {r["bot_id"]: r["quantity"] for r in live.gateway.repo.positions()}
        assert books == {a: ZERO if a_has_a_stop else held, b: ZERO}  # dust written off, nobody short
        assert (bot_a.position.qty, bot_b.position.qty) == (books[a], ZERO)
        restarted = await live.restarted()
        assert restarted.engine.portfolio.position(iid).qty == books[a]
        btc = bare_sim.state.book.balance("BTC")
        assert btc.free >= books[a]  # the account holds what a's books say: a's exits can sell it
    finally:
        await close_execution(live.execution)


@pytest.mark.parametrize("venue", ["bybit"])
async def test_a_restart_cancels_the_stop_of_a_position_its_target_ended_meanwhile(
    bare_sim: ExchangeSimulator, venue: str, migrated_sqlite_url: str
) -> None:
    """Bybit has no order lists: the trading engine cancels a stop when its target fills. The target
    filled while the trading engine was down: the restart found the bot flat and its stop working (it
    would sell the account's other coins when reached), and the bot's next entry found it covering and
    got no exits at all. A restart now cancels the exits of a position the bot no longer holds."""
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    stop = (min(b.low for b in bars[500:800]) - 100).quantize(CENT)  # never reached
    target = (max(b.high for b in bars[500:560]) - 1).quantize(CENT)  # reached within the hour
    live = Live(
        bare_sim,
        venue,
        migrated_sqlite_url,
        Scripted({0: lambda s, c: s.buy(qty=0.01, stop_loss=stop, take_profit=target)}),
    )
    try:
        sl, tp = await live.enter(bare_sim, venue)
        await live.run_while_down(bare_sim, 60)
        assert (live.status(tp), live.status(sl)) == ("filled", "accepted")
        restarted = await live.restarted()
        commands = await sent_by(restarted)
        assert [(type(c).__name__, c.client_order_id) for c in commands] == [("CancelOrder", sl)]
        await restarted.stop()
    finally:
        await close_execution(live.execution)


@pytest.mark.parametrize("venue", ["bybit"])
@pytest.mark.parametrize("whole", [True, False])
async def test_a_restart_cancels_the_stop_whose_target_filled_meanwhile_beside_another_position(
    bare_sim: ExchangeSimulator, venue: str, whole: bool, migrated_sqlite_url: str
) -> None:
    """The bot holds two entries' positions; the second one's target fills while the trading engine is
    down. The bot still holds the first one's, so the restart kept the second one's stop: two stops
    for one position (the second would sell the account's other coins), and an entry filling later
    would have found it covering and got no exits. A target Bybit filled only in part ends 'closed'
    (stored as filled, for less than its quantity): its stop still protects the rest and stays."""
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    stop = (min(b.low for b in bars[500:800]) - 100).quantize(CENT)  # never reached
    far = (max(b.high for b in bars[500:800]) + 100).quantize(CENT)  # never reached
    target = (max(b.high for b in bars[500:560]) - 1).quantize(CENT)  # reached within the hour
    script = {
        0: lambda s, c: s.buy(qty=0.01, stop_loss=stop, take_profit=far),
        1: lambda s, c: s.buy(qty=0.01, stop_loss=stop, take_profit=target),
    }
    live = Live(bare_sim, venue, migrated_sqlite_url, Scripted(script))
    try:
        await live.enter(bare_sim, venue)
        await live.next_candle(bare_sim, venue, 60_000)
        entry = [o for o in live.engine.orders.orders.values() if not o.reduce_only][1].client_order_id
        await live.run_while_down(bare_sim, 60)
        assert (live.status(f"{entry}-tp"), live.status(f"{entry}-sl")) == ("filled", "accepted")
        if not whole:  # as Bybit's PartiallyFilledCanceled reaches the books: 0.004 of it sold
            factory = make_session_factory(make_engine(migrated_sqlite_url))
            with transaction(factory) as session:
                target = session.scalar(select(Order).where(Order.client_order_id == f"{entry}-tp"))
                unsold, target.filled_quantity = target.filled_quantity - Decimal("0.004"), Decimal("0.004")
                position = session.scalar(select(Position))
                position.quantity += unsold
        restarted = await live.restarted()
        commands = await sent_by(restarted)
        canceled = [("CancelOrder", f"{entry}-sl")] if whole else []
        assert [(type(c).__name__, c.client_order_id) for c in commands] == canceled
        await restarted.stop()
    finally:
        await close_execution(live.execution)


async def test_dust_and_the_bots_next_fill_in_one_poll_leave_the_books_as_a_restart_finds_them(
    bare_sim: ExchangeSimulator, venue: str, migrated_sqlite_url: str
) -> None:
    """The stop of 0.01234 BTC leaves dust while a resting buy of the same bot works, and the buy fills
    in the same poll. The books (the trading engine's and the database's) kept different dust, and a
    restart moved the position and its realised PnL. Now the fill that leaves dust writes it off in the
    database's transaction and its event carries that to the engine (the resting buy, not filled yet,
    owns none of the position; kept for it, the dust stayed for good when it was canceled unfilled),
    and a restart changes nothing."""
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    low = min(b.low for b in bars[500:560])
    stop, limit = (low + 1).quantize(CENT), (low + Decimal("0.5")).quantize(CENT)  # both reached
    target = (max(b.high for b in bars[500:800]) + 100).quantize(CENT)  # never
    script = {
        0: lambda s, c: s.buy(qty=0.01234, stop_loss=stop, take_profit=target),
        1: lambda s, c: s.buy(qty=0.01, price=float(limit)),
    }
    live = Live(bare_sim, venue, migrated_sqlite_url, Scripted(script))
    iid = InstrumentId(venue, "BTC/USDT")
    try:
        await live.enter(bare_sim, venue)
        await live.next_candle(bare_sim, venue, 60_000)
        await live.run(bare_sim, 60)
        book = live.engine.portfolio
        pos = book.position(iid)
        assert pos.qty == HELD and live.gateway.repo.net_position(venue, "BTC/USDT") == HELD
        restarted = await live.restarted()
        again = restarted.engine.portfolio
        assert (again.position(iid).qty, again.position(iid).realized_pnl) == (pos.qty, pos.realized_pnl)
        assert abs(again.cash - book.cash) < Decimal("1e-18") and again.fees == book.fees
    finally:
        await close_execution(live.execution)


@pytest.mark.parametrize("venue", ["binance"])
async def test_a_restart_keeps_a_part_of_a_working_entry_below_the_lot_step(
    venue: str, migrated_sqlite_url: str
) -> None:
    """A resting entry filled one lot step: less its coin fee, 0.00000999 BTC, below the step. It is
    the entry's, not dust: a restart wrote it off (a realised loss; the rest of the entry, a position
    of 0 to the restored engine, was then never trimmed)."""
    balances = (("USDT", Decimal(100_000)), ("BTC", ZERO))
    config = sim_config(venue, balances=balances, participation=Decimal("0.000001"))
    async with ExchangeSimulator(config) as sim:
        limit = (sim.state.last_price("BTCUSDT") - 5).quantize(CENT)
        live = Live(
            sim, venue, migrated_sqlite_url, Scripted({0: lambda s, c: s.buy(qty=0.001, price=float(limit))})
        )
        iid = InstrumentId(venue, "BTC/USDT")
        try:
            await live.enter(sim, venue)
            while live.gateway.repo.net_position(venue, "BTC/USDT") == 0:
                sim.step(1)
                await live.gateway.poll()
                await live.pump()
            assert live.engine.portfolio.position(iid).qty == Decimal("0.00000999")
            restarted = await live.restarted()
            assert restarted.engine.portfolio.position(iid).qty == Decimal("0.00000999")
            assert restarted.engine.portfolio.position(iid).realized_pnl == 0
            assert live.gateway.repo.net_position(venue, "BTC/USDT") == Decimal("0.00000999")
        finally:
            await close_execution(live.execution)


async def test_without_the_venues_lot_steps_both_books_keep_the_dust_alike(
    bare_sim: ExchangeSimulator, venue: str, migrated_sqlite_url: str
) -> None:
    """The venue does not list its instruments (lot steps): the engine wrote dust off its books while
    the database kept it, two trades of it added up to a long of 1.5 lot steps that a restart brought
    back without exits; and every fill waited for the listing again. Now the database decides and the
    fill's event carries its decision: both keep the dust, a restart changes nothing, and the listing is
    asked again only after a while."""
    bars = bare_sim.state.feeds["BTCUSDT"].bars
    stop = (min(b.low for b in bars[500:560]) + 1).quantize(CENT)  # reached within the hour
    target = (max(b.high for b in bars[500:800]) + 100).quantize(CENT)  # never

    def entry(s: Strategy, c: Candle) -> None:
        s.buy(qty=0.01234, stop_loss=stop, take_profit=target)

    live = Live(bare_sim, venue, migrated_sqlite_url, Scripted({0: entry}))
    asked: list[str] = []

    async def unlisted() -> list[Instrument]:
        asked.append(venue)
        raise VenueUnavailable("instruments unavailable")

    live.gateway.venues[venue].load_instruments = unlisted  # type: ignore[method-assign]
    iid = InstrumentId(venue, "BTC/USDT")
    try:
        await live.enter(bare_sim, venue)
        await live.run(bare_sim, 60)
        dust = Decimal("0.00000766")
        book = live.engine.portfolio
        assert book.position(iid).qty == dust == live.gateway.repo.net_position(venue, "BTC/USDT")
        assert asked == [venue]  # two fills, one listing
        restarted = await live.restarted()
        again = restarted.engine.portfolio
        assert (again.position(iid).qty, again.position(iid).realized_pnl) == (
            dust,
            book.position(iid).realized_pnl,
        )
    finally:
        await close_execution(live.execution)


@pytest.mark.parametrize(("qty", "participation"), [("0.01", "0.00002"), ("0.001", "0.000001")])
async def test_an_entry_filled_in_parts_is_booked_as_the_account_holds_it(
    venue: str, qty: str, participation: str, migrated_sqlite_url: str
) -> None:
    """A resting entry fills in several parts, each paying its fee in the coin. On SQLite (the default
    database) the fees of the earlier parts were added up as floats: the position came out a hair
    under what the account held and the close left a whole lot step unsold. A part of one lot step
    (0.00001 BTC less its fee is below the step) was written off as dust while the entry was still
    working: the strategy saw the position flat and the close left 2.9 lot steps in the account."""
    bought = Decimal(qty)
    config = sim_config(
        venue, balances=(("USDT", Decimal(100_000)), ("BTC", ZERO)), participation=Decimal(participation)
    )
    async with ExchangeSimulator(config) as sim:
        limit = (sim.state.last_price("BTCUSDT") - 5).quantize(CENT)
        strategy = Scripted({0: lambda s, c: s.buy(qty=float(bought), price=float(limit))})
        live = Live(sim, venue, migrated_sqlite_url, strategy)
        iid = InstrumentId(venue, "BTC/USDT")
        try:
            await live.enter(sim, venue)
            entry = next(iter(live.engine.orders.orders.values()))
            for _ in range(400):
                sim.step(1)
                await live.gateway.poll()
                await live.pump()
                btc = sim.state.book.balance("BTC")
                assert live.engine.portfolio.position(iid).qty == btc.free  # after every part
                if not entry.status.is_open:
                    break
            assert entry.status.value == "filled" and len(live.gateway.repo.trades()) > 2
            charged = [t.fee for t in sim.state.book.trades]
            assert [t["fee"] for t in live.gateway.repo.trades()] == charged  # exact, also on SQLite
            held = bought - sum(charged)
            assert live.gateway.repo.net_position(venue, "BTC/USDT") == held
            strategy.close()
            await live.trading.flush()
            await live.pump()
            dust = held - held.quantize(Decimal("0.00001"), rounding="ROUND_DOWN")  # below the lot step
            assert sim.state.book.balance("BTC").free == dust and live.engine.portfolio.position(iid).is_flat
        finally:
            await close_execution(live.execution)


@pytest.mark.parametrize("venue", ["binance"])  # the execution engine's rule; the venue does not matter
@pytest.mark.parametrize("fee_wait_s", [30.0, 0.0])
async def test_a_fill_is_booked_with_its_fees_once_the_venue_lists_its_trades(
    bare_sim: ExchangeSimulator, venue: str, fee_wait_s: float, migrated_sqlite_url: str
) -> None:
    """The venue reports the entry filled but does not answer for its trades (their fees): the fill
    waits for the next poll rather than be booked without its fee (the position would be more than the
    account holds); the order is stored as accepted meanwhile, not lost. Only after ``fee_wait_s`` is a
    fill booked without the fees of trades the venue never listed."""
    p = bare_sim.state.last_price("BTCUSDT")
    stop, target = (p * Decimal("0.9")).quantize(CENT), (p * Decimal("1.1")).quantize(CENT)
    strategy = Scripted({0: lambda s, c: s.buy(qty=float(QTY), stop_loss=stop, take_profit=target)})
    live = Live(bare_sim, venue, migrated_sqlite_url, strategy)
    live.gateway.fee_wait_s = fee_wait_s
    port = live.gateway.venues[venue]
    listing = port.fetch_order_fills
    asked: list[str] = []

    async def unanswered_once(iid: InstrumentId, venue_order_id: str) -> object:
        asked.append(venue_order_id)
        if len(asked) == 1:
            raise VenueUnavailable("trade list unavailable")
        return await listing(iid, venue_order_id)  # type: ignore[arg-type]

    port.fetch_order_fills = unanswered_once  # type: ignore[method-assign,assignment]
    iid = InstrumentId(venue, "BTC/USDT")
    try:
        sl, _ = await live.enter(bare_sim, venue)
        entry = sl.removesuffix("-sl")
        if fee_wait_s:
            assert live.status(entry) == "accepted" and live.gateway.repo.trades() == []
            assert live.engine.portfolio.position(iid).is_flat and live.status(sl) == "unknown"
            await live.gateway.poll()
            await live.pump()
            assert live.engine.portfolio.position(iid).qty == HELD
            (trade,) = live.gateway.repo.trades()
            assert (trade["quantity"], trade["fee"], trade["fee_currency"]) == (QTY, QTY - HELD, "BTC")
            assert live.engine.orders.get(ClientOrderId(sl)).qty == HELD
        else:  # booked at once, without the fee it could not read (an ALERT in the log)
            (trade,) = live.gateway.repo.trades()
            assert trade["fee"] == 0 and live.engine.portfolio.position(iid).qty == QTY
        assert live.status(entry) == "filled"
    finally:
        await close_execution(live.execution)


async def test_an_entry_filled_beyond_its_stop_is_closed_at_market_not_left_without_one(
    bare_sim: ExchangeSimulator, venue: str, migrated_sqlite_url: str
) -> None:
    """The strategy's price was above the venue's: its market entry filled below the stop it asked
    for. Binance refuses the stop ("would trigger immediately"; the demo showed it), Bybit's conditional
    stop cannot be placed on the wrong side either: the position was left without a stop and a P1
    incident. The engine now closes what the stop covered at market, as the stop would have; the
    position was unprotected for a moment only, so no incident pages anyone (the next test: one does
    when the close does not come)."""
    p = bare_sim.state.last_price("BTCUSDT")
    seen = (p * Decimal("1.01")).quantize(CENT)  # the strategy's candle: 1% above the venue
    stop, target = (p * Decimal("1.005")).quantize(CENT), (p * Decimal("1.05")).quantize(CENT)
    strategy = Scripted({0: lambda s, c: s.buy(qty=float(QTY), stop_loss=stop, take_profit=target)})
    live = Live(bare_sim, venue, migrated_sqlite_url, strategy)
    raised: list[dict[str, object]] = []
    live.gateway.on_incident = lambda **incident: raised.append(incident)
    live.gateway.passed_stop_grace_s = 0.0  # a refusal not settled at the next poll pages at once
    try:
        assert await live.gateway.reconcile() == []
        f = float(seen)
        await live.trading.on_candle(Candle(venue, "BTC/USDT", "1m", 0, f, f, f, f, 10.0))
        for _ in range(3):
            await live.pump()
            await live.gateway.poll()
        entry = next(iter(live.engine.orders.orders.values())).client_order_id
        assert live.status(f"{entry}-sl") == "rejected"
        assert live.status(f"{entry}-ex") == "filled"
        live.assert_flat_and_clear(bare_sim, venue)
        assert raised == []
    finally:
        await close_execution(live.execution)


@pytest.mark.parametrize("venue", ["binance"])
@pytest.mark.parametrize("case", ["target through the price", "lost acknowledgement"])
async def test_the_execution_engine_places_the_stop_whatever_becomes_of_the_list(
    bare_sim: ExchangeSimulator, venue: str, case: str, migrated_sqlite_url: str
) -> None:
    price = bare_sim.state.last_price("BTCUSDT")
    through = case == "target through the price"  # the list is refused whole: the stop goes alone
    target = (price * (Decimal("0.99") if through else Decimal("1.1"))).quantize(CENT)
    stop, tp = (
        _order(venue, "smc-e1-sl", OrderType.STOP_MARKET, (price * Decimal("0.9")).quantize(CENT)),
        _order(venue, "smc-e1-tp", OrderType.LIMIT, target),
    )
    seen: list[Event] = []
    service = build_execution(
        dataclasses.replace(execution_config(migrated_sqlite_url, None, bare_sim), venue=venue)
    )
    gw = service.gateway

    async def publish(event: Event) -> None:
        seen.append(event)

    gw.publish = publish
    try:
        assert await gw.reconcile() == []
        assert (await gw.submit(_order(venue, "smc-e1", OrderType.MARKET))) is not None
        if not through:  # the list stands at the venue, its answer is lost
            bare_sim.state.faults.lost_acks = 1
            bare_sim.state.faults.lost_ack_hang_s = 6.0  # beyond the gateway's 5 s venue timeout
        await gw.submit_oco(SubmitOco(ts_event=0, ts_init=0, stop=stop, target=tp))
        assert gw.repo.get("smc-e1-sl").status == "accepted"  # type: ignore[union-attr]
        working = {o.client_id for o in bare_sim.state.book.open_orders("BTCUSDT")}
        if through:
            assert gw.repo.get("smc-e1-tp").status == "rejected"  # type: ignore[union-attr]
            assert working == {"smc-e1-sl"}
            (refused,) = [e for e in seen if isinstance(e, OrderRejected)]
            assert refused.client_order_id == "smc-e1-tp" and "OCO list refused" in refused.reason
        else:
            assert gw.repo.get("smc-e1-tp").status == "accepted"  # type: ignore[union-attr]
            assert working == {"smc-e1-sl", "smc-e1-tp"}  # found by their ids, not sent twice
            assert len([o for o in bare_sim.state.book.orders.values() if o.client_id in working]) == 2
    finally:
        await close_execution(service)


@pytest.mark.parametrize("venue", ["binance"])
async def test_a_thin_market_fills_the_target_whole_not_the_stop_away(
    venue: str, migrated_sqlite_url: str
) -> None:
    """A resting limit target fills in parts where volume is thin, and on Binance the first part expires
    the stop of its OCO list: the rest of the position was left with no stop. The target waits as a
    TAKE_PROFIT instead and sells the whole position when its price is reached."""
    balances = (("USDT", Decimal(100_000)), ("BTC", Decimal(0)))
    config = sim_config(venue, balances=balances, participation=Decimal("0.00003"))  # ~6% of QTY a bar
    async with ExchangeSimulator(config) as sim:
        bars = sim.state.feeds["BTCUSDT"].bars
        target = (max(b.high for b in bars[500:560]) - 1).quantize(CENT)  # reached within the hour
        stop = (min(b.low for b in bars[500:560]) - 50).quantize(CENT)  # not reached in it
        strategy = Scripted({0: lambda s, c: s.buy(qty=float(QTY), stop_loss=stop, take_profit=target)})
        live = Live(sim, venue, migrated_sqlite_url, strategy)
        try:
            sl, tp = await live.enter(sim, venue)
            await live.run(sim, 60)
            assert (live.status(tp), live.status(sl)) == ("filled", "expired")
            assert live.engine.portfolio.position(InstrumentId(venue, "BTC/USDT")).is_flat
            btc = sim.state.book.balance("BTC")
            assert (btc.free, btc.locked) == (ZERO, ZERO) and live.engine.orders.open_orders() == []
        finally:
            await close_execution(live.execution)


class _StopUnanswered:
    """The venue's gateway, except that the venue never answers about a ``-sl`` order."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def submit_order(self, cmd: SubmitOrder) -> object:
        if cmd.client_order_id.endswith("-sl"):
            raise VenueUnavailable("503")
        return await self._inner.submit_order(cmd)  # type: ignore[attr-defined]

    async def fetch_order(self, iid: InstrumentId, **ids: object) -> object:
        if str(ids.get("client_order_id") or "").endswith("-sl"):
            raise VenueUnavailable("503")
        return await self._inner.fetch_order(iid, **ids)  # type: ignore[attr-defined]


@pytest.mark.parametrize("venue", ["bybit"])  # no order lists: the stop, then the target
async def test_a_stop_the_venue_does_not_answer_about_does_not_drop_the_target(
    bare_sim: ExchangeSimulator, venue: str, migrated_sqlite_url: str
) -> None:
    price = bare_sim.state.last_price("BTCUSDT")
    stop, target = (price * Decimal("0.9")).quantize(CENT), (price * Decimal("1.1")).quantize(CENT)
    strategy = Scripted({0: lambda s, c: s.buy(qty=float(QTY), stop_loss=stop, take_profit=target)})
    live = Live(bare_sim, venue, migrated_sqlite_url, strategy)
    try:
        assert await live.gateway.reconcile() == []
        live.gateway.venues[venue] = _StopUnanswered(live.gateway.venues[venue])  # type: ignore[assignment]
        sl, tp = await live.enter(bare_sim, venue)
        assert live.status(sl) == "initialized"  # written ahead, outcome unknown: reconciliation's
        assert live.status(tp) == "accepted"  # sent all the same
        assert any(o.client_id == tp for o in bare_sim.state.book.open_orders("BTCUSDT"))
    finally:
        await close_execution(live.execution)


@pytest.mark.parametrize("venue", ["binance"])
async def test_both_intents_of_a_list_are_written_or_neither(
    bare_sim: ExchangeSimulator, venue: str, migrated_pg_url: str
) -> None:
    """The target's intent cannot be written (PostgreSQL refuses its over-long id): the stop's is not left
    behind either, as a stop reconciliation would find never reached the venue; nothing is sent."""
    price = bare_sim.state.last_price("BTCUSDT")
    stop = _order(venue, "smc-e9-sl", OrderType.STOP_MARKET, (price * Decimal("0.9")).quantize(CENT))
    tp = _order(venue, "smc-e9-" + "x" * 60 + "-tp", OrderType.LIMIT, (price * Decimal("1.1")).quantize(CENT))
    service = build_execution(
        dataclasses.replace(execution_config(migrated_pg_url, None, bare_sim), venue=venue)
    )
    gw = service.gateway
    try:
        assert await gw.reconcile() == []
        with pytest.raises(DBAPIError):
            await gw.submit_oco(SubmitOco(ts_event=0, ts_init=0, stop=stop, target=tp))
        assert gw.repo.get("smc-e9-sl") is None
        assert bare_sim.state.book.open_orders("BTCUSDT") == []
    finally:
        await close_execution(service)


async def test_canceling_the_target_alone_never_takes_the_stop_with_it(
    bare_sim: ExchangeSimulator, venue: str, migrated_sqlite_url: str
) -> None:
    """On Binance the target shares an OCO list with the stop, and canceling either leg cancels both:
    a strategy dropping its target would have dropped the stop too. The cancel is refused there (the
    target stays); on Bybit the target goes alone."""
    price = bare_sim.state.last_price("BTCUSDT")
    stop, target = (price * Decimal("0.9")).quantize(CENT), (price * Decimal("1.1")).quantize(CENT)
    ids: dict[str, str] = {}

    def enter(s: Strategy, c: Candle) -> None:
        ids["entry"] = str(s.buy(qty=float(QTY), stop_loss=stop, take_profit=target))

    strategy = Scripted({0: enter, 1: lambda s, c: s.cancel(ClientOrderId(f"{ids['entry']}-tp"))})
    live = Live(bare_sim, venue, migrated_sqlite_url, strategy)
    try:
        assert await live.gateway.reconcile() == []
        p = float(price)
        for i in range(2):
            await live.trading.on_candle(Candle(venue, "BTC/USDT", "1m", i * 60_000, p, p, p, p, 10.0))
            await live.pump()
        sl, tp = f"{ids['entry']}-sl", f"{ids['entry']}-tp"
        assert live.status(sl) == "accepted"
        assert any(o.client_id == sl for o in bare_sim.state.book.open_orders("BTCUSDT"))
        engine_tp = live.engine.orders.get(ClientOrderId(tp))
        assert engine_tp is not None
        if venue == "binance":
            assert live.status(tp) == "accepted" and engine_tp.status.is_open
        else:
            assert live.status(tp) == "canceled" and not engine_tp.status.is_open
    finally:
        await close_execution(live.execution)


@pytest.mark.parametrize(
    ("bar_open", "executed", "price"),
    [
        ("120", "e-tp", "120"),  # opened above the target: it executes there, at the open
        ("85", "e-sl", "85"),  # opened below the stop
        ("100", "e-sl", "90"),  # opened between them and reached both: the stop first (conservative)
    ],
)
def test_an_oco_list_on_a_bar_reaching_both_legs(bar_open: str, executed: str, price: str) -> None:
    book = Book({"BTCUSDT": SymbolSpec("BTCUSDT", "BTC", "USDT")}, {"BTC": Decimal(1), "USDT": ZERO}, ZERO)
    legs = book.place_oco(
        symbol="BTCUSDT",
        side="SELL",
        qty=Decimal("0.1"),
        target_price=Decimal(110),
        target_client_id="e-tp",
        target_conditional=True,
        stop_price=Decimal(90),
        stop_limit_price=None,
        stop_client_id="e-sl",
        now_ms=0,
        last_price=Decimal(100),
    )
    bar = Bar(60_000, Decimal(bar_open), Decimal(121), Decimal(80), Decimal(85), Decimal(1000))
    book.on_closed_bars("BTCUSDT", [bar], 60_000)
    done = {o.client_id: o for o in legs}
    other = "e-sl" if executed == "e-tp" else "e-tp"
    assert done[executed].status == "FILLED" and done[other].status == "EXPIRED"
    assert [t.price for t in done[executed].trades] == [Decimal(price)]
    assert book.balance("USDT").free == Decimal(price) * Decimal("0.1")
