"""The ONE trading engine. Backtest and live differ only in the clock, the candle source and the
:class:`~smc_agent.engine.client.ExecutionClient` (simulated venue vs. adapter over a real venue).

Per closed base candle (:meth:`TradingEngine.on_candle`):

1. the execution client sees the candle (a simulated venue matches working orders on it, which
   reports fills back through :meth:`handle_event`);
2. the portfolio is marked to the close and the breakers are evaluated;
3. each bot on that (venue, symbol, timeframe) gets its higher-timeframe candles, then the candle.

Strategy calls go strategy -> :meth:`submit` -> risk gate -> order manager -> execution client.
Every call into strategy code is guarded: an exception halts that bot (``StrategyFailed`` +
``TradingStateChanged`` events), never the engine.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from smc_agent.core.candle import Candle
from smc_agent.core.clock import Clock
from smc_agent.core.commands import CancelOrder, SubmitOrder
from smc_agent.core.enums import OrderSide, OrderType, TradingState
from smc_agent.core.errors import ConfigError
from smc_agent.core.events import (
    Event,
    OrderCancelRejected,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    PositionChanged,
    StrategyFailed,
    TradingStateChanged,
)
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId
from smc_agent.core.instrument import Instrument
from smc_agent.core.money import to_decimal
from smc_agent.engine.bots import Bot
from smc_agent.engine.bus import InProcessBus
from smc_agent.engine.client import ExecutionClient
from smc_agent.engine.context import EngineContext
from smc_agent.engine.portfolio import Portfolio
from smc_agent.engine.risk_view import LazyRiskView
from smc_agent.execution.ids import child_order_id, child_role, parent_order_id
from smc_agent.execution.orders import OrderManager
from smc_agent.risk.breakers import Breakers
from smc_agent.risk.checks import Denial
from smc_agent.risk.gate import RiskGate
from smc_agent.risk.sizing import Sizing
from smc_agent.strategy.base import Strategy

_ZERO = Decimal(0)
_ACTIVE = TradingState.ACTIVE
_HALTED = TradingState.HALTED


class TradingEngine:
    def __init__(
        self,
        *,
        clock: Clock,
        client: ExecutionClient,
        instruments: Sequence[Instrument],
        risk: RiskGate,
        starting_cash: Decimal,
        quote_currency: str = "USDT",
        sizing: Sizing | None = None,
        bus: InProcessBus | None = None,
    ) -> None:
        self.clock = clock
        self.client = client
        self.instruments = {i.id: i for i in instruments}
        self.risk = risk
        self.sizing = sizing or Sizing()
        self.bus = bus or InProcessBus()
        self.portfolio = Portfolio(starting_cash, quote_currency)
        self.orders = OrderManager()
        self._canceling: set[ClientOrderId] = set()  # cancels sent, their orders not ended yet
        self.state = TradingState.ACTIVE
        self.state_reason = ""
        self.breakers = Breakers(risk.config, float(starting_cash), clock.timestamp_ms())
        self._breakers_on = risk.config.max_drawdown is not None or risk.config.daily_loss_limit is not None
        self.bots: dict[StrategyId, Bot] = {}
        self._routes: dict[tuple[str, str, str], list[Bot]] = {}
        self._by_strategy: dict[int, Bot] = {}
        self._ref_ts: dict[tuple[str, str], int] = {}
        self._started = False
        # set by a live runtime while it feeds history (a back-fill on start): strategies see the
        # candles, the risk gate refuses their entries with this reason (check ``history``)
        self.replaying: str | None = None
        client.connect(self.handle_event)

    # ================================================================ setup
    def add_strategy(
        self,
        strategy: Strategy,
        *,
        instrument_id: InstrumentId,
        timeframe: str,
        strategy_id: str | None = None,
    ) -> StrategyId:
        if instrument_id not in self.instruments:
            raise ConfigError(
                f"unknown instrument {instrument_id}; known: {sorted(map(str, self.instruments))}"
            )
        sid = StrategyId(strategy_id or f"{strategy.strategy_name()}-{instrument_id.symbol}-{timeframe}")
        if sid in self.bots:
            raise ConfigError(f"strategy id {sid!r} already used")
        bot = Bot(strategy, sid, instrument_id, timeframe)
        strategy.bind(self.context, instrument_id=instrument_id, timeframe=timeframe)
        self.bots[sid] = bot
        self._by_strategy[id(strategy)] = bot
        self._routes.setdefault((instrument_id.venue, instrument_id.symbol, timeframe), []).append(bot)
        self.portfolio.bot_position(sid, instrument_id)
        return sid

    def held_elsewhere(self, strategy_id: StrategyId, instrument_id: InstrumentId) -> list[str]:
        """What the bot holds, or has working, on instruments other than ``instrument_id``: a bot moved
        to another symbol would leave them to no strategy."""
        held = [
            f"{qty:g} {iid.symbol}"
            for (sid, iid), qty in self.portfolio.bot_qty_f.items()
            if sid == strategy_id and iid != instrument_id and qty
        ]
        working = [
            f"order {o.client_order_id} on {o.instrument_id.symbol}"
            for o in self.orders.open_orders()
            if o.strategy_id == strategy_id and o.instrument_id != instrument_id
        ]
        return held + working

    def remove_strategy(self, strategy_id: StrategyId) -> None:
        """Take a bot's strategy out of the engine (to start the bot with other settings, or after its
        start failed): no candle reaches it any more. Its positions and orders stay the bot's."""
        bot = self.bots.pop(strategy_id, None)
        if bot is None:
            return
        self._by_strategy.pop(id(bot.strategy), None)
        key = (bot.instrument_id.venue, bot.instrument_id.symbol, bot.timeframe)
        routed = [b for b in self._routes.get(key, ()) if b is not bot]
        if routed:
            self._routes[key] = routed
        else:
            self._routes.pop(key, None)

    @property
    def context(self) -> EngineContext:
        return EngineContext(self)

    def start(self) -> None:
        self._started = True
        for bot in self.bots.values():
            self._guard(bot, "on_start", bot.strategy.on_start)

    def stop(self) -> None:
        for bot in self.bots.values():
            if bot.state is not TradingState.HALTED:
                self._guard(bot, "on_stop", bot.strategy.on_stop)

    # ================================================================ the loop step
    def on_candle(self, candle: Candle) -> None:
        key = candle[:2]  # (venue, symbol): equal to (and hashes like) the InstrumentId
        now = self.clock.timestamp_ms()
        # the candle's prices are known from now on, to the orders its fills bring too (a strategy's
        # on_order_filled on 1h candles saw a reference an hour stale, the clock at the close and the
        # fill at the open, and its orders were refused)
        self._ref_ts[key] = now
        self.client.on_candle(candle)
        portfolio = self.portfolio
        portfolio.marks[key] = candle.close
        if self._breakers_on and (portfolio._open or self.state is not _ACTIVE):
            self._check_breakers(portfolio.equity_f(), now)
        bots = self._routes.get(candle[:3])  # (venue, symbol, timeframe)
        if bots is None:
            return
        for bot in bots:
            if bot.state is _HALTED:
                continue
            bot.signal_ts = candle.open_time
            bot.seq = 0
            try:
                hook = bot.on_candle
                for agg in bot.aggregators:  # higher timeframes first: closed by this base candle
                    gap_closed, closed = agg.update(candle)
                    if gap_closed is not None:
                        hook(gap_closed)
                    if closed is not None:
                        hook(closed)
                hook(candle)
            except (Exception, SystemExit) as exc:  # sys.exit() in a strategy halts it too
                self._fail_bot(bot, "on_candle", exc)

    def reset_breakers(self) -> None:
        """Start the breakers from the equity now (after a restart restored positions and realised PnL:
        the day's baseline and the peak are then what the books hold, not the starting cash)."""
        self.breakers = Breakers(self.risk.config, self.portfolio.equity_f(), self.clock.timestamp_ms())

    def _check_breakers(self, equity: float, now: int) -> None:
        day_before = self.breakers.day
        trip = self.breakers.update(equity, now)
        if trip is None:
            if (
                self.state is TradingState.REDUCING
                and self.state_reason.startswith("daily_loss_limit")
                and self.breakers.day != day_before
            ):
                self.set_trading_state(TradingState.ACTIVE, "daily_loss_limit: reset at new UTC day")
            return
        rank = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
        if rank[trip.state] > rank[self.state]:
            self.set_trading_state(trip.state, trip.reason)

    # ================================================================ state
    def set_trading_state(self, state: TradingState, reason: str) -> None:
        """Switch the engine's trading state; HALTED cancels working entry (non reduce-only) orders."""
        previous = self.state
        if previous is state and reason == self.state_reason:
            return
        self.state = state
        self.state_reason = reason
        now = self.clock.timestamp_ms()
        self.bus.publish(
            TradingStateChanged(
                ts_event=now, ts_init=now, previous=previous, state=state, reason=reason, scope="engine"
            )
        )
        if state is TradingState.HALTED:
            for order in self.orders.open_orders():
                if not order.reduce_only:
                    self._cancel(order.strategy_id, order.instrument_id, order.client_order_id, now)

    def _fail_bot(self, bot: Bot, hook: str, exc: BaseException) -> None:
        now = self.clock.timestamp_ms()
        previous = bot.state
        bot.state = TradingState.HALTED
        self.bus.publish(
            StrategyFailed(
                ts_event=now,
                ts_init=now,
                strategy_id=bot.strategy_id,
                hook=hook,
                error=f"{type(exc).__name__}: {exc}",
                traceback="".join(traceback.format_exception(exc)),
            )
        )
        self.bus.publish(
            TradingStateChanged(
                ts_event=now,
                ts_init=now,
                previous=previous,
                state=TradingState.HALTED,
                scope=f"bot:{bot.strategy_id}",
                reason=f"strategy raised in {hook}: {type(exc).__name__}: {exc}",
            )
        )
        for order in self.orders.open_orders():
            if order.strategy_id == bot.strategy_id and not order.reduce_only:
                self._cancel(order.strategy_id, order.instrument_id, order.client_order_id, now)

    def _guard(self, bot: Bot, hook: str, fn: Callable[..., object], *args: Any) -> None:
        if bot.state is TradingState.HALTED:
            return
        try:
            fn(*args)
        except (Exception, SystemExit) as exc:
            self._fail_bot(bot, hook, exc)

    # ================================================================ venue events
    def handle_event(self, event: Event) -> None:
        """Entry point for everything the venue reports (and for the engine's own order events)."""
        if not isinstance(event, OrderEvent):
            self.bus.publish(event)
            return
        follow_ups = self.orders.apply(event)
        if self._canceling and event.client_order_id in self._canceling:
            order = self.orders.get(event.client_order_id)
            if order is None or not order.is_open or isinstance(event, OrderCancelRejected):
                self._canceling.discard(event.client_order_id)
        filled = isinstance(event, OrderFilled)
        before = after = 0.0
        if filled:  # the bot's position, before and after
            before = self.portfolio.bot_size(event.strategy_id, event.instrument_id)
            self._on_fill(event)  # type: ignore[arg-type]
            after = self.portfolio.bot_size(event.strategy_id, event.instrument_id)
        self.bus.publish(event)
        bot = self.bots.get(event.strategy_id)
        if bot is not None:
            if filled:
                if bot.on_filled is not None:
                    self._guard(bot, "on_order_filled", bot.on_filled, event)
            elif bot.on_event is not None and not isinstance(event, OrderSubmitted):
                self._guard(bot, "on_order_event", bot.on_event, event)
        self.follow_up(follow_ups)
        if filled and self.orders.open_count and before and before * after <= 0:  # flat, or flipped
            self._cancel_stale_exits(event, follow_ups)
        elif isinstance(event, OrderRejected) and child_role(event.client_order_id) == "sl":
            self._stop_refused(event)
        if filled:
            self.trim(event.client_order_id)
        if filled and self._breakers_on:  # after its protective orders: a fill can end a position at a loss
            self._check_breakers(self.portfolio.equity_f(), self.clock.timestamp_ms())

    def follow_up(self, follow_ups: Sequence[SubmitOrder | CancelOrder]) -> None:
        """Send what the order manager derived from an order's end: its exits (sized to the position,
        through the risk gate) and the cancels of their siblings."""
        for cmd in follow_ups:
            if not isinstance(cmd, SubmitOrder):
                self._canceling_add(cmd.client_order_id)
                self.client.cancel(cmd)
                continue
            exit_ = self._sized_exit(cmd, parent_order_id(cmd.client_order_id))
            if exit_ is not None:
                self.submit_command(exit_)

    def _stop_refused(self, event: OrderRejected) -> None:
        """A position's stop-loss the venue refused leaves the position without it; most often the
        market has already passed the stop ("would trigger immediately": the entry filled beyond it).
        Close what the stop covered at market, as the stop would have (its target, if working, is
        canceled first). The execution engine raises a P1 incident for the refused stop, and another
        if the venue refuses this close too."""
        stop = self.orders.get(event.client_order_id)
        parent = parent_order_id(event.client_order_id)
        if stop is None or parent is None:
            return
        target = self.orders.get(child_order_id(parent, "tp"))
        now = self.clock.timestamp_ms()
        mark = self.portfolio.marks.get(stop.instrument_id)
        close = self._sized_exit(
            SubmitOrder(
                ts_event=now,
                ts_init=now,
                strategy_id=stop.strategy_id,
                instrument_id=stop.instrument_id,
                client_order_id=child_order_id(parent, "ex"),
                side=stop.side,
                order_type=OrderType.MARKET,
                qty=stop.qty,
                reduce_only=True,
                tag="stop_refused",
                reference_price=None if mark is None else to_decimal(mark),
                cancel_first=(target.client_order_id,) if target is not None and target.is_open else (),
            ),
            parent,
        )
        if close is not None:
            self.submit_command(close)

    def _sized_exit(self, cmd: SubmitOrder, parent: ClientOrderId | None) -> SubmitOrder | None:
        """A protective exit (sized at its entry's fill) covers at most what of its bot's position on
        its entry's side no other exit of the bot covers yet, rounded down to the lot step: an entry
        that first closed an opposite position (a flip) protects what it opened, one that only shrank it
        protects nothing (a spot venue would take its reduce-only buy for a buy), and a second entry's
        exits do not sell the coins the first one's hold. A bot's long is what it bought less the fees
        paid in the coin; sized on what is left uncovered, the last exit takes the earlier ones'
        rounding with it (each rounded down on its own, two entries' stops left a lot step or more with
        no exit). It reads the books alone, so a restart sizes it the same."""
        qty = self.portfolio.bot_position(cmd.strategy_id, cmd.instrument_id).qty
        held = qty if cmd.side is OrderSide.SELL else -qty  # the exits of a long sell
        if held <= 0:
            return None
        held -= self._covered(cmd, parent)
        if cmd.qty <= held:
            return cmd
        inst = self.instruments.get(cmd.instrument_id)
        held = inst.round_qty(held) if inst is not None else held  # less a base-coin fee: off the lot step
        return replace(cmd, qty=held) if held > 0 else None

    def _covered(self, cmd: SubmitOrder, parent: ClientOrderId | None) -> Decimal:
        """What of the bot's position the working exits of its entries other than ``parent`` (and its
        other working reduce-only orders) on ``cmd``'s instrument and side will sell. Per entry the
        smaller rest of its stop and target: one or the other fills, and a part one of them sold is out
        of the position. An order whose cancel is on its way covers nothing (the exits of a position
        that ended; counted, they left the next entry without any)."""
        rests: dict[ClientOrderId, Decimal] = {}
        canceling = self._canceling
        for order in self.orders.open_orders(cmd.instrument_id):
            if (
                not order.reduce_only
                or order.side is not cmd.side
                or order.strategy_id != cmd.strategy_id
                or order.client_order_id in canceling
            ):
                continue
            owner = parent_order_id(order.client_order_id) or order.client_order_id
            if owner != parent:
                rest = order.qty - order.filled_qty
                known = rests.get(owner)
                rests[owner] = rest if known is None or rest < known else known
        return sum(rests.values(), _ZERO)

    def trim(self, client_order_id: ClientOrderId) -> None:
        """Cancel the rest of a resting entry with exits that filled in part (once), when its fills
        opened a position on its side: see :meth:`OrderManager.start_trim`. After a restart, the runtime
        asks for each restored open order."""
        order = self.orders.get(client_order_id)
        if order is None:
            return
        if self.portfolio.bot_size(order.strategy_id, order.instrument_id) * order.side.sign <= 0:
            return  # no position on its side (yet): a flip's fill that only closed the old one
        if self.orders.start_trim(order):
            self._cancel(order.strategy_id, order.instrument_id, client_order_id, self.clock.timestamp_ms())

    def cancel_orphan_exits(self, ended: Collection[ClientOrderId] = ()) -> int:
        """Cancel the exits of positions that ended while the engine was down: those in ``ended`` (a
        stop whose target filled) and the reduce-only orders of bots that hold nothing on their side. A
        venue without order lists keeps such a stop: it would sell the account's other coins, and the
        bot's next entry would find it covering and get no exits. A restart asks, after restoring the
        books and before sending the exits of entries that filled meanwhile; how many."""
        now = self.clock.timestamp_ms()
        canceled = 0
        for order in self.orders.open_orders():
            if not order.reduce_only or order.client_order_id in self._canceling:
                continue
            side_held = self.portfolio.bot_size(order.strategy_id, order.instrument_id) * order.side.sign
            if order.client_order_id in ended or side_held >= 0:
                self._cancel(order.strategy_id, order.instrument_id, order.client_order_id, now)
                canceled += 1
        return canceled

    def _cancel_stale_exits(self, event: OrderEvent, follow_ups: Sequence[SubmitOrder | CancelOrder]) -> None:
        """The position went flat (or flipped) with this fill: reduce-only orders left on the instrument
        belong to the position that ended (the stop and target of an entry that ``close()`` flattened or
        a sell flipped short). Cancel them rather than trust the venue to: a spot venue does not know
        the flag and would sell holdings with them, and after a flip back they would close the new
        position. The exits this fill itself just attached stay."""
        canceling = {c.client_order_id for c in follow_ups}
        canceling.add(event.client_order_id)  # its own remainder: the venue's to end
        now = self.clock.timestamp_ms()
        for order in self.orders.open_orders(event.instrument_id):
            if (
                order.reduce_only
                and order.strategy_id == event.strategy_id
                and order.client_order_id not in canceling
            ):
                self._cancel(order.strategy_id, order.instrument_id, order.client_order_id, now)

    def _on_fill(self, event: OrderFilled) -> None:
        pos = self.portfolio.apply_fill(event, event.strategy_id)
        if event.written_off:  # dust the fill left, written off the books with it
            cost = event.written_off_cost or _ZERO
            self.portfolio.write_off(event.instrument_id, event.written_off, cost, event.strategy_id)
        # a fill is the latest trade price of its instrument: the breakers, looking right after it, value
        # the position there (at the previous close a gapped entry looked like a loss), and a fill before
        # any candle (after a restart) gives the instrument its first price
        key = event.instrument_id
        self.portfolio.marks[key] = float(event.price)
        if event.ts_event > self._ref_ts.get(key, -1):
            self._ref_ts[key] = event.ts_event
        if not self.bus.wants(PositionChanged):
            return
        self.bus.publish(
            PositionChanged(
                ts_event=event.ts_event,
                ts_init=event.ts_init,
                strategy_id=event.strategy_id,
                instrument_id=event.instrument_id,
                qty=pos.qty,
                avg_price=pos.avg_price,
                realized_pnl=pos.realized_pnl,
                fees=pos.fees,
            )
        )

    # ================================================================ orders
    def submit_command(self, cmd: SubmitOrder, *, cancel_others: bool = False) -> ClientOrderId | None:
        """Risk-check and send ``cmd``. Idempotent: a known client order id is not sent again.

        ``cancel_others`` (a close): once the gate admits ``cmd``, it carries the strategy's other open
        orders on its instrument as ``cancel_first``: the venue side cancels them immediately before it
        sends the close, and only if it does. A spot venue holds the coins of a resting stop (Binance
        does from placement), so a close sent while the stop works is refused for want of them; and a
        close refused on the way (by the gate here, or by the execution engine's halt check) must
        leave the position its stop and target."""
        if self.orders.knows(cmd.client_order_id):
            return cmd.client_order_id
        if cancel_others:  # before the gate: the orders a close replaces are not left to fill with it
            others = tuple(
                o.client_order_id
                for o in self.orders.open_orders(cmd.instrument_id)
                if o.strategy_id == cmd.strategy_id and o.client_order_id != cmd.client_order_id
            )
            if others:
                cmd = replace(cmd, cancel_first=others)
        denial = self.risk.evaluate(cmd, self._risk_context(cmd))
        if denial is not None:
            self._deny(cmd, denial)
            return None
        self.orders.create(cmd)
        now = self.clock.timestamp_ms()
        if self.bus.wants(OrderSubmitted):
            self.handle_event(
                OrderSubmitted(
                    ts_event=now,
                    ts_init=now,
                    strategy_id=cmd.strategy_id,
                    instrument_id=cmd.instrument_id,
                    client_order_id=cmd.client_order_id,
                    side=cmd.side,
                    order_type=cmd.order_type,
                    qty=cmd.qty,
                    price=cmd.price,
                    trigger_price=cmd.trigger_price,
                    reduce_only=cmd.reduce_only,
                    tag=cmd.tag,
                )
            )
        else:  # nobody would receive it (bots never get OrderSubmitted): only its effect on the order
            self.orders.submitted(cmd.client_order_id, now)
        self.client.submit(cmd)
        return cmd.client_order_id

    def _canceling_add(self, cid: ClientOrderId) -> None:
        order = self.orders.get(cid)
        if order is not None and order.is_open:  # dropped when it ends (or the venue refuses the cancel)
            self._canceling.add(cid)

    def _deny(self, cmd: SubmitOrder, denial: Denial) -> None:
        self.orders.create(cmd)
        self.handle_event(self.risk.denied_event(cmd, denial, self.clock.timestamp_ms()))

    def _risk_context(self, cmd: SubmitOrder) -> LazyRiskView:
        return LazyRiskView(self, cmd, self.clock.timestamp_ms())

    def _cancel(
        self, strategy_id: StrategyId, instrument_id: InstrumentId, cid: ClientOrderId, now: int
    ) -> None:
        self._canceling_add(cid)
        self.client.cancel(
            CancelOrder(
                ts_event=now,
                ts_init=now,
                strategy_id=strategy_id,
                instrument_id=instrument_id,
                client_order_id=cid,
            )
        )
