"""The :class:`~smc_agent.strategy.context.StrategyContext` the trading engine gives its strategies:
what a bot may ask of it (its own position, equity, prices) and the orders it sends through it."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderType, TradingState
from smc_agent.core.errors import ConfigError
from smc_agent.core.ids import ClientOrderId, InstrumentId
from smc_agent.core.instrument import Instrument
from smc_agent.core.money import to_decimal
from smc_agent.core.position import Position
from smc_agent.execution.ids import client_order_id
from smc_agent.risk.checks import Denial
from smc_agent.risk.sizing import size_order

if TYPE_CHECKING:
    from smc_agent.engine.engine import TradingEngine

_NAN = float("nan")
_HALTED = TradingState.HALTED


class EngineContext:
    """The :class:`~smc_agent.strategy.context.StrategyContext` the engine gives its strategies."""

    __slots__ = ("_e",)

    def __init__(self, engine: TradingEngine) -> None:
        self._e = engine

    def now_ms(self) -> int:
        return self._e.clock.timestamp_ms()

    def instrument(self, instrument_id: InstrumentId) -> Instrument:
        return self._e.instruments[instrument_id]

    def position(self, strategy: object, instrument_id: InstrumentId) -> Position:
        e = self._e
        return e.portfolio.bot_position(e._by_strategy[id(strategy)].strategy_id, instrument_id)

    def position_size(self, strategy: object, instrument_id: InstrumentId) -> float:
        e = self._e
        return e.portfolio.bot_size(e._by_strategy[id(strategy)].strategy_id, instrument_id)

    def equity(self) -> float:
        return self._e.portfolio.equity_f()

    def last_price(self, instrument_id: InstrumentId) -> float:
        return self._e.portfolio.marks.get(instrument_id, _NAN)

    def submit(
        self,
        strategy: object,
        *,
        instrument_id: InstrumentId,
        side: OrderSide,
        order_type: OrderType,
        qty: Decimal | None,
        price: Decimal | None,
        trigger_price: Decimal | None,
        stop_loss: Decimal | None,
        take_profit: Decimal | None,
        reduce_only: bool,
        tag: str,
        cancel_others: bool = False,
    ) -> ClientOrderId | None:
        e = self._e
        bot = e._by_strategy[id(strategy)]
        inst = e.instruments.get(instrument_id)
        if inst is None:
            raise ConfigError(f"unknown instrument {instrument_id}")
        mark = e.portfolio.marks.get(instrument_id)
        reference = to_decimal(mark) if mark is not None else None
        if price is not None:
            price = inst.round_price(price)
        if trigger_price is not None:
            trigger_price = inst.round_price(trigger_price)
        if stop_loss is not None:
            stop_loss = inst.round_price(stop_loss)
        if take_profit is not None:
            take_profit = inst.round_price(take_profit)
        if qty is None:
            entry = price or trigger_price or reference
            if entry is None:
                return None
            qty = size_order(e.sizing, equity=e.portfolio.equity(), entry=entry, stop=stop_loss, inst=inst)
        else:
            if not qty > 0:  # a strategy's mistake (NaN is refused on the way in)
                raise ValueError(f"qty must be positive, got {qty}")
            qty = inst.round_qty(qty)
        if qty <= 0:
            return None  # sized or rounded down to nothing at the lot step
        now = e.clock.timestamp_ms()
        if instrument_id is bot.instrument_id:  # the usual case: the ids of the bot's own instrument
            cid = bot.client_ids(bot.signal_ts, side, tag, bot.seq)
        else:
            cid = client_order_id(
                strategy_id=bot.strategy_id,
                instrument_id=instrument_id,
                signal_ts=bot.signal_ts,
                side=side,
                tag=tag,
                seq=bot.seq,
            )
        bot.seq += 1
        cmd = SubmitOrder(
            ts_event=now,
            ts_init=now,
            strategy_id=bot.strategy_id,
            instrument_id=instrument_id,
            client_order_id=cid,
            side=side,
            order_type=order_type,
            qty=qty,
            price=price,
            trigger_price=trigger_price,
            reduce_only=reduce_only,
            stop_loss=stop_loss,
            take_profit=take_profit,
            tag=tag,
            reference_price=reference,
        )
        if bot.state is _HALTED and not e.orders.knows(cid):
            # its code raised earlier in this call (in a hook the engine called meanwhile): the rest of
            # that call still runs, and sends nothing
            e._deny(cmd, Denial("bot_halted", f"bot {bot.strategy_id} is halted: no new orders"))
            return None
        return e.submit_command(cmd, cancel_others=cancel_others)

    def cancel(self, strategy: object, client_order_id: ClientOrderId) -> None:
        e = self._e
        order = e.orders.get(client_order_id)
        sid = e._by_strategy[id(strategy)].strategy_id
        if order is not None and order.strategy_id != sid:
            raise ValueError(f"order {client_order_id} belongs to bot {order.strategy_id}, not to {sid}")
        if order is not None and order.is_open:
            e._cancel(order.strategy_id, order.instrument_id, client_order_id, e.clock.timestamp_ms())

    def cancel_all(self, strategy: object, instrument_id: InstrumentId | None) -> None:
        e = self._e
        sid = e._by_strategy[id(strategy)].strategy_id
        now = e.clock.timestamp_ms()
        for order in e.orders.open_orders(instrument_id):
            if order.strategy_id == sid:
                e._cancel(sid, order.instrument_id, order.client_order_id, now)

    def annotate(self, strategy: object, annotation: dict[str, object]) -> None:
        e = self._e
        bot = e._by_strategy[id(strategy)]
        annotation.setdefault("ts", e.clock.timestamp_ms())
        bot.annotations.append(annotation)
