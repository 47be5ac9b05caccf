"""``close()`` of a bracketed position, carried to the venue in the order the engine emits its commands.

A spot venue holds the coins of a resting sell: Binance those of a stop from the moment it is placed,
Bybit those of the limit take-profit. A market sell of the same coins sent while they are held is
refused for want of them. If the close went first and the cancels after it, the position would stay
open with no stop at all. The engine therefore sends the cancels first. The account holds only the
position (no spare coins to mask the rule)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from smc_agent.core.candle import Candle
from smc_agent.core.clock import TestClock
from smc_agent.core.commands import CancelOrder, SubmitOrder
from smc_agent.core.enums import LiquiditySide, OrderStatus
from smc_agent.core.errors import RejectedError
from smc_agent.core.events import OrderFilled
from smc_agent.core.ids import TradeId
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
        else:  # a Bybit stop holds nothing until it triggers; the resting target holds them
            assert placed["-tp"] == "accepted"
        assert bare_sim.state.book.balance("BTC").locked == QTY

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
