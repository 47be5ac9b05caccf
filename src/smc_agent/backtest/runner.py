"""Backtest runner: drives the ONE :class:`~smc_agent.engine.TradingEngine` over candles with a
:class:`~smc_agent.core.clock.TestClock` and a :class:`SimulatedVenue`. Nothing here trades on its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from smc_agent.backtest.data import CandleData
from smc_agent.backtest.fill_model import FillModel
from smc_agent.backtest.sim_venue import SimulatedVenue
from smc_agent.backtest.smc_replay import replay_provider
from smc_agent.backtest.stats import compute_stats
from smc_agent.backtest.trades import Trade, build_trades
from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.clock import TestClock
from smc_agent.core.errors import ConfigError, DataError
from smc_agent.core.events import (
    Event,
    OrderDenied,
    OrderFilled,
    OrderSubmitted,
    StrategyFailed,
    TradingStateChanged,
)
from smc_agent.core.instrument import Instrument
from smc_agent.engine.engine import TradingEngine
from smc_agent.risk.config import RiskConfig
from smc_agent.risk.gate import RiskGate
from smc_agent.risk.sizing import Sizing
from smc_agent.strategy.base import Strategy

Progress = Callable[[int, int], None]


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
    elif config.smc_mode != "stream":
        raise ConfigError(f"smc_mode must be 'replay' or 'stream', got {config.smc_mode!r}")
    recorder = _Recorder()
    for kind in (OrderFilled, OrderSubmitted, OrderDenied, TradingStateChanged, StrategyFailed):
        engine.bus.subscribe(kind, recorder.on_event)
    sid = engine.add_strategy(strategy, instrument_id=instrument.id, timeframe=data.timeframe)
    engine.start()

    n = len(data)
    venue_name, symbol, tf = data.venue, data.symbol, data.timeframe
    candles = map(
        partial(tuple.__new__, Candle),  # Candle rows built in C, one tuple per candle, no kwargs parsing
        zip(
            repeat(venue_name),
            repeat(symbol),
            repeat(tf),
            data.open_time.tolist(),
            data.open.tolist(),
            data.high.tolist(),
            data.low.tolist(),
            data.close.tolist(),
            data.volume.tolist(),
            strict=False,
        ),
    )
    portfolio = engine.portfolio
    qty_f = portfolio.qty_f
    iid = instrument.id
    on_candle = engine.on_candle
    set_time = clock.set_time
    eq_list: list[float] = []
    pos_list: list[float] = []
    add_eq, add_pos = eq_list.append, pos_list.append
    for i, candle in enumerate(candles):
        set_time(candle[3] + tf_ms)
        on_candle(candle)
        add_eq(portfolio.equity_f() if portfolio._open else portfolio.cash_f)
        add_pos(qty_f[iid])
        if progress is not None and i % progress_every == 0:
            progress(i, n)
    equity = np.asarray(eq_list, dtype=np.float64)
    position = np.asarray(pos_list, dtype=np.float64)
    engine.stop()
    if progress is not None:
        progress(n, n)

    tags = {cid: tag for cid, tag in recorder.tags.items()}
    trades = build_trades(recorder.fills, tags)
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
            "side": o_.side.value,
            "type": o_.order_type.value,
            "qty": str(o_.qty),
            "price": None if o_.price is None else str(o_.price),
            "trigger_price": None if o_.trigger_price is None else str(o_.trigger_price),
            "status": o_.status.value,
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
        annotations=engine.bots[sid].annotations,
        stats=stats,
    )


class _Recorder:
    def __init__(self) -> None:
        self.fills: list[OrderFilled] = []
        self.denials: list[OrderDenied] = []
        self.states: list[TradingStateChanged] = []
        self.failures: list[StrategyFailed] = []
        self.tags: dict[str, str] = {}

    def on_event(self, event: Event) -> None:
        if isinstance(event, OrderFilled):
            self.fills.append(event)
        elif isinstance(event, OrderSubmitted):
            self.tags[event.client_order_id] = event.tag
        elif isinstance(event, OrderDenied):
            self.denials.append(event)
        elif isinstance(event, TradingStateChanged):
            self.states.append(event)
        elif isinstance(event, StrategyFailed):
            self.failures.append(event)
