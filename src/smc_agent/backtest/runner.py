"""Backtest runner: drives the ONE :class:`~smc_agent.engine.TradingEngine` over candles with a
:class:`~smc_agent.core.clock.TestClock` and a :class:`SimulatedVenue`. Nothing here trades on its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from smc_agent.backtest.data import CandleData
from smc_agent.backtest.fill_model import FillModel
from smc_agent.backtest.sim_venue import SimulatedVenue
from smc_agent.backtest.smc_replay import replay_provider
from smc_agent.backtest.stats import compute_stats
from smc_agent.backtest.trades import OpenPosition, Trade, trades_and_open_position
from smc_agent.core.candle import timeframe_ms
from smc_agent.core.clock import TestClock
from smc_agent.core.enums import OrderStatus
from smc_agent.core.errors import ConfigError, DataError
from smc_agent.core.events import (
    OrderDenied,
    OrderFilled,
    OrderRejected,
    StrategyFailed,
    TradingStateChanged,
)
from smc_agent.core.ids import InstrumentId
from smc_agent.core.instrument import Instrument
from smc_agent.engine.bus import InProcessBus
from smc_agent.engine.engine import TradingEngine
from smc_agent.engine.portfolio import Portfolio
from smc_agent.risk.config import RiskConfig
from smc_agent.risk.gate import RiskGate
from smc_agent.risk.sizing import Sizing
from smc_agent.strategy.base import Strategy

Progress = Callable[[int, int], None]


MAX_CASH = Decimal(10) ** 12  # as the API's limit: beyond it, money arithmetic loses its cents


@dataclass(frozen=True)
class BacktestConfig:
    """Defaults: 10,000 USDT, Binance-like 0.1% taker / 0.1% maker fees, no slippage, the same risk
    limits as live trading, sizing 1% of equity at risk to the stop (10% of equity without a stop)."""

    starting_cash: Decimal = Decimal(10_000)
    quote_currency: str = "USDT"
    fill_model: FillModel = field(
        default_factory=lambda: FillModel(maker_fee=Decimal("0.001"), taker_fee=Decimal("0.001"))
    )
    risk: RiskConfig = field(default_factory=RiskConfig)
    sizing: Sizing = field(default_factory=Sizing)
    leverage: Decimal = Decimal(1)
    qty_increment: Decimal = Decimal("0.00001")
    price_increment: Decimal | None = None  # None: inferred from the data
    smc_mode: str = "replay"  # "replay": batch SMC replayed bar by bar (fast); "stream": SMCStream
    spot: bool = False  # a spot account, as on Binance and Bybit spot: no short selling, no leverage

    def __post_init__(self) -> None:
        if not (self.starting_cash.is_finite() and 0 < self.starting_cash <= MAX_CASH):
            raise ConfigError(
                f"starting cash must be positive and at most {MAX_CASH:,}, got {self.starting_cash}"
            )
        if not (self.leverage.is_finite() and self.leverage > 0):
            raise ConfigError(f"leverage must be positive, got {self.leverage}")
        if self.spot and self.leverage != 1:
            raise ConfigError(f"a spot account has no leverage, got {self.leverage}")
        if self.smc_mode not in ("replay", "stream"):
            raise ConfigError(f"smc_mode must be 'replay' or 'stream', got {self.smc_mode!r}")


@dataclass
class BacktestResult:
    strategy: str
    params: dict[str, Any]
    instrument: Instrument
    data: CandleData
    equity: npt.NDArray[np.float64]
    position: npt.NDArray[np.float64]
    trades: list[Trade]
    fills: list[OrderFilled]
    orders: list[dict[str, Any]]
    denials: list[OrderDenied]
    state_changes: list[TradingStateChanged]
    failures: list[StrategyFailed]
    annotations: list[dict[str, object]]
    stats: dict[str, float | int | str]
    open_position: OpenPosition | None = None  # held at the end, marked to the last close
    rejections: list[OrderRejected] = field(default_factory=list)  # refused by the simulated venue


def make_instrument(data: CandleData, config: BacktestConfig) -> Instrument:
    base, _, quote = data.symbol.partition("/")
    return Instrument(
        venue=data.venue,
        symbol=data.symbol,
        base=base or data.symbol,
        quote=quote or config.quote_currency,
        price_increment=config.price_increment or data.price_increment(),
        qty_increment=config.qty_increment,
        maker_fee=config.fill_model.maker_fee or Decimal(0),
        taker_fee=config.fill_model.taker_fee or Decimal(0),
    )


def run_backtest(
    strategy: Strategy,
    data: CandleData,
    config: BacktestConfig | None = None,
    *,
    progress: Progress | None = None,
    progress_every: int = 10_000,
) -> BacktestResult:
    config = config or BacktestConfig()
    if len(data) == 0:
        raise DataError(f"no candles for {data.symbol} {data.timeframe} in the requested range")
    tf_ms = timeframe_ms(data.timeframe)
    instrument = make_instrument(data, config)
    clock = TestClock(int(data.open_time[0]))
    venue = SimulatedVenue(
        clock=clock,
        instruments=[instrument],
        starting_cash=config.starting_cash,
        fill_model=config.fill_model,
        leverage=config.leverage,
        quote_currency=config.quote_currency,
        spot=config.spot,
    )
    engine = TradingEngine(
        clock=clock,
        client=venue,
        instruments=[instrument],
        risk=RiskGate(config.risk),
        starting_cash=config.starting_cash,
        quote_currency=config.quote_currency,
        sizing=config.sizing,
    )
    if config.smc_mode == "replay":
        strategy.smc_provider = replay_provider(data)
    recorder = _Recorder()
    recorder.subscribe(engine.bus)
    sid = engine.add_strategy(strategy, instrument_id=instrument.id, timeframe=data.timeframe)
    engine.start()

    n = len(data)
    portfolio = engine.portfolio
    snapshots = _Snapshots(clock, portfolio, instrument.id)
    engine.bus.subscribe(OrderFilled, snapshots.on_fill)  # type: ignore[arg-type]
    on_candle = engine.on_candle
    set_time = clock.set_time
    step = _CHUNK if progress is None else max(1, progress_every)
    for start in range(0, n, step):
        if progress is not None:
            progress(start, n)
        for candle in data.candles(start, start + step):
            set_time(candle[3] + tf_ms)
            on_candle(candle)
    equity, position = snapshots.series(data.open_time + tf_ms, data.close)
    engine.stop()
    if progress is not None:
        progress(n, n)

    # every filled order is in the engine's book (a fill's tag is its order's tag)
    tags: dict[str, str] = {cid: o_.tag for cid, o_ in engine.orders.orders.items()}
    mark = Decimal(repr(float(data.close[-1])))  # as Portfolio.equity marks a float close
    trades, held = trades_and_open_position(recorder.fills, instrument.id, mark, tags)
    stats = compute_stats(
        equity=equity,
        times=data.open_time,
        bar_ms=tf_ms,
        trades=trades,
        fees=portfolio.fees,
        exposure_bars=int(np.count_nonzero(position)),
        closes=data.close,
    )
    orders = [
        {
            "client_order_id": o_.client_order_id,
            "side": o_.side._value_,  # ``.value`` is a property lookup per call; same string
            "type": o_.order_type._value_,
            "qty": str(o_.qty),
            "price": None if o_.price is None else str(o_.price),
            "trigger_price": None if o_.trigger_price is None else str(o_.trigger_price),
            "status": o_.status._value_,
            "filled_qty": str(o_.filled_qty),
            "avg_fill_price": None if o_.avg_fill_price is None else str(o_.avg_fill_price),
            "reduce_only": o_.reduce_only,
            "tag": o_.tag,
            "ts_init": o_.ts_init,
            "reason": o_.reason,
        }
        for o_ in engine.orders.orders.values()
    ]
    return BacktestResult(
        strategy=strategy.strategy_name(),
        params=dict(strategy.params),
        instrument=instrument,
        data=data,
        equity=equity,
        position=position,
        trades=trades,
        fills=recorder.fills,
        orders=orders,
        denials=recorder.denials,
        state_changes=recorder.states,
        failures=recorder.failures,
        annotations=_acted_on(engine.bots[sid].annotations, orders),
        stats=stats,
        open_position=held,
        rejections=recorder.rejections,
    )


_CHUNK = 65_536  # candles converted to Python objects at a time (bounded memory on long series)


class _Snapshots:
    """Equity and position per bar without per-bar work: cash and quantity only change on fills, so
    the state after each fill is kept and the series are filled forward and marked to the closes.

    Same arithmetic as :meth:`Portfolio.equity_f` (``cash + qty * close``, just ``cash`` when flat)."""

    def __init__(self, clock: TestClock, portfolio: Portfolio, instrument_id: InstrumentId) -> None:
        self._clock = clock
        self._portfolio = portfolio
        self._iid = instrument_id
        self._cash0 = portfolio.cash_f
        self._ts: list[int] = []
        self._cash: list[float] = []
        self._qty: list[float] = []

    def on_fill(self, event: OrderFilled) -> None:  # after the portfolio applied it
        self._ts.append(self._clock.timestamp_ms())
        self._cash.append(self._portfolio.cash_f)
        self._qty.append(self._portfolio.qty_f[self._iid])

    def series(
        self, close_times: npt.NDArray[np.int64], closes: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(equity, position) at the close of every bar (fills of a bar are at its close time)."""
        n = len(close_times)
        bar_of_fill = np.searchsorted(close_times, np.asarray(self._ts, dtype=np.int64), side="left")
        last = np.searchsorted(bar_of_fill, np.arange(n), side="right") - 1  # last fill at or before
        cash = np.append(np.float64(self._cash0), np.asarray(self._cash, dtype=np.float64))[last + 1]
        qty = np.append(np.float64(0.0), np.asarray(self._qty, dtype=np.float64))[last + 1]
        equity = np.where(qty != 0.0, cash + qty * closes, cash)
        return equity, qty


class _Recorder:
    """Keeps the events a result needs; each kind goes straight to its list (no dispatch per event)."""

    def __init__(self) -> None:
        self.fills: list[OrderFilled] = []
        self.denials: list[OrderDenied] = []
        self.rejections: list[OrderRejected] = []
        self.states: list[TradingStateChanged] = []
        self.failures: list[StrategyFailed] = []

    def subscribe(self, bus: InProcessBus) -> None:
        bus.subscribe(OrderFilled, self.fills.append)  # type: ignore[arg-type]
        bus.subscribe(OrderDenied, self.denials.append)  # type: ignore[arg-type]
        bus.subscribe(OrderRejected, self.rejections.append)  # type: ignore[arg-type]
        bus.subscribe(TradingStateChanged, self.states.append)  # type: ignore[arg-type]
        bus.subscribe(StrategyFailed, self.failures.append)  # type: ignore[arg-type]


_REFUSED = (OrderStatus.REJECTED.value, OrderStatus.DENIED.value)


def _acted_on(annotations: list[dict[str, object]], orders: list[dict[str, Any]]) -> list[dict[str, object]]:
    """The annotations but those of an order (``order=`` its client id) that the venue or the risk gate
    refused before any fill: the report drew 109 short entries a spot venue had rejected."""
    refused = {
        o["client_order_id"] for o in orders if o["status"] in _REFUSED and not Decimal(o["filled_qty"])
    }
    return [a for a in annotations if a.get("order") not in refused]
