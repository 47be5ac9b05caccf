"""A position's exits on spot venues, where a resting sell holds the coins it would sell.

Binance holds them for every order from placement: the stop-loss holds them, and the take-profit
placed after it is refused (an OCO order list would let both share them: not done yet). Bybit holds
them for a limit from placement but for a conditional order only once it triggers: a take-profit
resting as a limit would leave the stop unfunded, refused at the very moment it triggers, so the
gateway places the take-profit as a conditional market order at its price.

``close()`` of a bracketed position is carried to the venue in the order the engine emits its
commands: a market sell of coins a stop holds is refused, so the cancels go first, or the position
would stay open with no stop at all. The accounts hold only the position (no spare coins to mask the
rules)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from smc_agent.core.candle import Candle
from smc_agent.core.clock import TestClock
from smc_agent.core.commands import CancelOrder, SubmitOrder
from smc_agent.core.enums import LiquiditySide, OrderSide, OrderStatus, OrderType
from smc_agent.core.errors import RejectedError
from smc_agent.core.events import OrderFilled
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, TradeId
from smc_agent.core.instrument import Instrument
from smc_agent.engine.engine import TradingEngine
from smc_agent.risk.config import RiskConfig
from smc_agent.risk.gate import RiskGate
from smc_agent.venues.gateway import CcxtGateway
from smc_agent.venues.simulator import ExchangeSimulator
from tests.engine.harness import Scripted
from tests.venues.conftest import open_gateway
from tests.venues.simkit import sim_config

QTY = Decimal("0.01")
CENT = Decimal("0.01")


class Recorder:
    """The engine's execution client: keeps every command, in the order the engine sends them."""

    def __init__(self) -> None:
        self.commands: list[SubmitOrder | CancelOrder] = []

    def connect(self, sink: object) -> None:
        pass  # the test carries the venue's reports back itself

    def submit(self, command: SubmitOrder) -> None:
        self.commands.append(command)

    def cancel(self, command: CancelOrder) -> None:
        self.commands.append(command)

    def on_candle(self, candle: Candle) -> None:
        pass


@pytest.fixture
async def bare_sim(venue: str) -> AsyncIterator[ExchangeSimulator]:
    """An account with quote currency only: what the bot buys is all the BTC it has."""
    balances = (("USDT", Decimal(100_000)), ("BTC", Decimal(0)))
    async with ExchangeSimulator(sim_config(venue, balances=balances)) as simulator:
        yield simulator


async def _send(gw: CcxtGateway, command: SubmitOrder | CancelOrder) -> str:
    """Carry one command to the venue as the execution service does; the status the venue gave it."""
    try:
        if isinstance(command, SubmitOrder):
            return (await gw.submit_order(command)).status.value
        report = await gw.cancel_order(command.instrument_id, client_order_id=command.client_order_id)
        return report.status.value
    except RejectedError as exc:
        return f"rejected: {exc}"


async def test_close_cancels_the_stop_before_it_sells(bare_sim: ExchangeSimulator, venue: str) -> None:
    price = bare_sim.state.last_price("BTCUSDT")
    cent = Decimal("0.01")
    stop, target = (price * Decimal("0.9")).quantize(cent), (price * Decimal("1.1")).quantize(cent)
    strategy = Scripted({0: lambda s, c: s.buy(qty=float(QTY), stop_loss=stop, take_profit=target)})
    inst = Instrument(venue, "BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"))
    clock = TestClock(0)
    client = Recorder()
    engine = TradingEngine(
        clock=clock,
        client=client,
        instruments=[inst],
        risk=RiskGate(RiskConfig.permissive()),
        starting_cash=Decimal(100_000),
    )
    engine.add_strategy(strategy, instrument_id=inst.id, timeframe="1m", strategy_id="bot")
    engine.start()
    p = float(price)
    clock.set_time(60_000)
    engine.on_candle(Candle(venue, "BTC/USDT", "1m", 0, p, p, p, p, 10.0))
    (entry,) = client.commands
    assert isinstance(entry, SubmitOrder)

    async with open_gateway(bare_sim, venue) as gw:
        report = await gw.submit_order(entry)
        assert report.status is OrderStatus.FILLED and report.avg_fill_price is not None
        engine.handle_event(
            OrderFilled(
                ts_event=60_000,
                ts_init=60_000,
                strategy_id=entry.strategy_id,
                instrument_id=entry.instrument_id,
                client_order_id=entry.client_order_id,
                venue_order_id=report.venue_order_id,
                trade_id=TradeId("t-1"),
                side=entry.side,
                qty=QTY,
                price=report.avg_fill_price,
                fee=Decimal(0),
                fee_currency="USDT",
                liquidity=LiquiditySide.TAKER,
            )
        )
        children = client.commands[1:]
        assert sorted(c.client_order_id[-3:] for c in children) == ["-sl", "-tp"]
        placed = {c.client_order_id[-3:]: await _send(gw, c) for c in children}
        assert placed["-sl"] == "accepted"
        if venue == "binance":  # the stop holds the coins, so the target is refused (no OCO list yet)
            assert placed["-tp"].startswith("rejected") and "insufficient" in placed["-tp"].lower()
        else:  # neither the Bybit stop nor the target (a conditional order too) holds them yet
            assert placed["-tp"] == "accepted"
        assert bare_sim.state.book.balance("BTC").locked == (QTY if venue == "binance" else 0)

        n = len(client.commands)
        close_id = strategy.close()
        assert close_id is not None
        closing = client.commands[n:]
        # what reaches the venue, in the engine's order: the close fills, after the stop (and target) went
        outcome = {c.client_order_id: await _send(gw, c) for c in closing}
        assert outcome[close_id] == "filled", outcome
        assert list(outcome)[-1] == close_id
        assert await gw.fetch_open_orders(inst.id) == []
    btc = bare_sim.state.book.balance("BTC")
    assert btc.free == 0 and btc.locked == 0  # flat, and nothing left working to sell coins it lacks


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
        qty=QTY,
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
        assert sl.status is OrderStatus.FILLED and sl.filled_qty == QTY  # not refused for want of coins
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
        assert (sl.status, sl.order_type, tp.status, tp.order_type, tp.price) == (
            OrderStatus.ACCEPTED,
            OrderType.STOP_MARKET,
            OrderStatus.ACCEPTED,
            OrderType.LIMIT,
            target,
        )
        btc = bare_sim.state.book.balance("BTC")
        assert (btc.free, btc.locked) == (0, QTY)  # both legs, one reservation
        if reached == "neither":  # canceling one leg cancels the list and frees the coins
            canceled = await gw.cancel_order(iid, client_order_id=ClientOrderId("e1-tp"))
            assert canceled.status is OrderStatus.CANCELED
            other = await gw.fetch_order(iid, client_order_id=ClientOrderId("e1-sl"))
            assert other.status is OrderStatus.CANCELED and (btc.free, btc.locked) == (QTY, 0)
            return
        bare_sim.step(60)
        done = await gw.fetch_order(
            iid, client_order_id=ClientOrderId(f"e1-{'sl' if reached == 'stop' else 'tp'}")
        )
        gone = await gw.fetch_order(
            iid, client_order_id=ClientOrderId(f"e1-{'tp' if reached == 'stop' else 'sl'}")
        )
        assert done.status is OrderStatus.FILLED and done.filled_qty == QTY
        assert gone.status is OrderStatus.EXPIRED and gone.filled_qty == 0
        assert done.avg_fill_price is not None
        assert done.avg_fill_price <= stop if reached == "stop" else done.avg_fill_price >= target
    assert (btc.free, btc.locked) == (0, 0)


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
    assert bare_sim.state.book.balance("BTC").free == QTY


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
