"""The Strategy base class users subclass.

Only :meth:`Strategy.on_candle` is required. Optional hooks take ``**kwargs`` so the engine can pass
more information later without breaking anyone. Every call into a strategy is guarded by the engine:
an exception becomes a ``StrategyFailed`` event and halts that bot, never the engine.

::

    class Breakout(Strategy):
        lookback = Param(int, 20, low=2, high=500)
        timeframes = ("1h",)                     # extra, higher timeframes built from the base feed

        def on_candle(self, candle):
            if candle.timeframe != self.timeframe:   # a 1h candle
                return
            if self.flat and candle.close > self.high_water:
                self.buy(stop_loss=candle.low, take_profit=candle.close * 1.03, tag="breakout")
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import Any, ClassVar

from smc_agent.core.candle import Candle
from smc_agent.core.enums import OrderSide, OrderType
from smc_agent.core.errors import ConfigError
from smc_agent.core.events import OrderEvent, OrderFilled
from smc_agent.core.ids import ClientOrderId, InstrumentId
from smc_agent.core.money import to_decimal
from smc_agent.core.position import Position
from smc_agent.smc.config import SMCConfig
from smc_agent.smc.events import SMCEvent
from smc_agent.strategy.context import StrategyContext
from smc_agent.strategy.params import Param, declared_params, resolve_params
from smc_agent.strategy.smc_source import SMCProvider, SMCSource, event_kinds, stream_provider

Number = float | int | Decimal
_BUY, _SELL = OrderSide.BUY, OrderSide.SELL  # enum members: module globals are faster to read
_MARKET, _LIMIT, _STOP_MARKET, _STOP_LIMIT = (
    OrderType.MARKET,
    OrderType.LIMIT,
    OrderType.STOP_MARKET,
    OrderType.STOP_LIMIT,
)


class Strategy:
    """Base class. Subclasses declare :class:`Param` attributes and implement :meth:`on_candle`."""

    name: ClassVar[str] = ""
    timeframes: tuple[str, ...] = ()  # a class default; an instance may set its own in __init__

    def __init__(self, **params: Any) -> None:
        values = resolve_params(type(self), params)
        self.params: dict[str, Any] = values
        for key, value in values.items():
            setattr(self, key, value)  # instance attribute shadows the class-level Param
        try:
            self.check_params()
        except Exception as exc:  # user code: whatever it raises refuses the parameters, with its words
            text = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            raise ConfigError(f"{type(self).__name__}: {text}") from None
        self._ctx: StrategyContext | None = None
        self.smc_provider: SMCProvider = stream_provider  # backtests may install a batch replay
        self.instrument_id: InstrumentId = InstrumentId("unbound", "unbound")
        self.timeframe: str = ""

    # ------------------------------------------------------------------ metadata
    @classmethod
    def param_specs(cls) -> dict[str, Param[Any]]:
        return declared_params(cls)

    @classmethod
    def strategy_name(cls) -> str:
        return cls.name or cls.__name__

    def bind(self, ctx: StrategyContext, *, instrument_id: InstrumentId, timeframe: str) -> None:
        """Called by the engine before ``on_start``."""
        self._ctx = ctx
        self.instrument_id = instrument_id
        self.timeframe = timeframe

    @property
    def ctx(self) -> StrategyContext:
        if self._ctx is None:
            raise ConfigError(f"strategy {self.strategy_name()} is not bound to an engine")
        return self._ctx

    def check_params(self) -> None:
        """Rules between parameters (each one's type and range is checked by its :class:`Param`); raise
        ``ValueError`` naming them. Runs when the strategy is built, so a bad combination is refused before
        any candle is read."""

    # ------------------------------------------------------------------ hooks
    def on_start(self, **kwargs: Any) -> None:
        """Called once before the first candle."""

    def on_candle(self, candle: Candle) -> None:
        """Called for every closed candle of the base timeframe and of each extra ``timeframes``."""
        raise NotImplementedError(f"{type(self).__name__} must implement on_candle(candle)")

    def on_order_filled(self, event: OrderFilled, **kwargs: Any) -> None:
        """Called for each fill of one of this strategy's orders."""

    def on_order_event(self, event: OrderEvent, **kwargs: Any) -> None:
        """Called for other order events (denied, rejected, canceled, expired)."""

    def on_stop(self, **kwargs: Any) -> None:
        """Called once after the last candle (or when the bot is stopped)."""

    # ------------------------------------------------------------------ state
    @property
    def now(self) -> int:
        return self.ctx.now_ms()

    @property
    def position(self) -> Position:
        """This bot's position (other bots on the instrument have their own)."""
        return self.ctx.position(self, self.instrument_id)

    @property
    def position_size(self) -> float:
        """This bot's signed position quantity (float)."""
        return self.ctx.position_size(self, self.instrument_id)

    @property
    def flat(self) -> bool:
        return self.ctx.position_size(self, self.instrument_id) == 0.0

    @property
    def equity(self) -> float:
        return self.ctx.equity()

    def smc(
        self,
        timeframe: str | None = None,
        config: SMCConfig | None = None,
        *,
        kinds: Collection[type[SMCEvent]] | None = None,
    ) -> SMCSource:
        """A fresh SMC event source for ``timeframe`` (default: the base timeframe); feed it candles.
        ``kinds``: deliver only events of these types (default: all), e.g. ``{StructureBroken}``."""
        return self.smc_provider(timeframe or self.timeframe, config or SMCConfig(), event_kinds(kinds))

    # ------------------------------------------------------------------ orders
    def buy(
        self,
        *,
        qty: Number | None = None,
        price: Number | None = None,
        trigger: Number | None = None,
        stop_loss: Number | None = None,
        take_profit: Number | None = None,
        tag: str = "",
        instrument_id: InstrumentId | None = None,
    ) -> ClientOrderId | None:
        """Buy ``qty`` (sized by the engine's sizing rule when ``None``). ``price`` makes it a limit
        order, ``trigger`` a stop (both: stop-limit). ``stop_loss``/``take_profit`` attach protective
        exits once filled. Returns the client order id, or ``None`` when the risk gate denied it (an
        ``OrderDenied`` event) or nothing was sent: no price to size it at yet, or a quantity (given or
        sized) that rounds down to 0 at the lot step. A ``qty`` of 0 or below raises ``ValueError``."""
        return self._order(
            _BUY,
            qty=qty,
            price=price,
            trigger=trigger,
            stop_loss=stop_loss,
            take_profit=take_profit,
            tag=tag,
            instrument_id=instrument_id,
        )

    def sell(
        self,
        *,
        qty: Number | None = None,
        price: Number | None = None,
        trigger: Number | None = None,
        stop_loss: Number | None = None,
        take_profit: Number | None = None,
        tag: str = "",
        instrument_id: InstrumentId | None = None,
    ) -> ClientOrderId | None:
        """Sell (open/add to a short, or reduce a long); see :meth:`buy`."""
        return self._order(
            _SELL,
            qty=qty,
            price=price,
            trigger=trigger,
            stop_loss=stop_loss,
            take_profit=take_profit,
            tag=tag,
            instrument_id=instrument_id,
        )

    def close(self, *, tag: str = "", instrument_id: InstrumentId | None = None) -> ClientOrderId | None:
        """Flatten the position with a reduce-only market order and cancel this strategy's other open
        orders, the cancels sent first (a spot venue holds the coins of a resting stop, so a close sent
        before its cancel is refused). A close the risk gate refuses (HALTED) leaves them working: the
        position keeps its stop and target rather than be stripped of them and stay open."""
        iid = instrument_id or self.instrument_id
        ctx = self.ctx
        qty = ctx.position(self, iid).qty
        if qty == 0:
            ctx.cancel_all(self, iid)
            return None
        side = _SELL if qty > 0 else _BUY
        return ctx.submit(
            self,
            instrument_id=iid,
            side=side,
            order_type=_MARKET,
            qty=abs(qty),
            price=None,
            trigger_price=None,
            stop_loss=None,
            take_profit=None,
            reduce_only=True,
            tag=tag or "close",
            cancel_others=True,
        )

    def cancel(self, client_order_id: ClientOrderId) -> None:
        self.ctx.cancel(self, client_order_id)

    def cancel_all(self, *, instrument_id: InstrumentId | None = None) -> None:
        self.ctx.cancel_all(self, instrument_id)

    def annotate(self, kind: str, **fields: object) -> None:
        """Record an object the strategy acted on (order block, FVG, level) for the backtest report."""
        self.ctx.annotate(self, {"kind": kind, **fields})

    def _order(
        self,
        side: OrderSide,
        *,
        qty: Number | None,
        price: Number | None,
        trigger: Number | None,
        stop_loss: Number | None,
        take_profit: Number | None,
        tag: str,
        instrument_id: InstrumentId | None,
    ) -> ClientOrderId | None:
        if trigger is not None:
            order_type = _STOP_LIMIT if price is not None else _STOP_MARKET
        else:
            order_type = _LIMIT if price is not None else _MARKET
        return self.ctx.submit(
            self,
            instrument_id=instrument_id or self.instrument_id,
            side=side,
            order_type=order_type,
            qty=None if qty is None else to_decimal(qty),
            price=None if price is None else to_decimal(price),
            trigger_price=None if trigger is None else to_decimal(trigger),
            stop_loss=None if stop_loss is None else to_decimal(stop_loss),
            take_profit=None if take_profit is None else to_decimal(take_profit),
            reduce_only=False,
            tag=tag,
        )
