"""The SMA-cross strategy matches backtesting.py trade for trade on real data (same fills: market
orders at the next bar's open, 0.1% commission per side, fixed size 1)."""

from __future__ import annotations

import warnings
from decimal import Decimal

import pandas as pd
import pytest

from smc_agent.backtest.fill_model import FillModel
from smc_agent.backtest.runner import BacktestConfig, run_backtest
from smc_agent.risk.config import RiskConfig
from smc_agent.strategy.sma_cross import SmaCross
from tests.backtest._data import load_candles

backtesting = pytest.importorskip("backtesting")

FAST, SLOW, COMMISSION, CASH = 10, 20, 0.001, 1_000_000


def _peer_run(data) -> tuple[pd.DataFrame, float]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    def sma(values, n):
        return pd.Series(values).rolling(n).mean()

    class PeerSmaCross(Strategy):
        def init(self):
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self):
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy(size=1)
            elif crossover(self.slow, self.fast):
                self.position.close()
                self.sell(size=1)

    frame = pd.DataFrame(
        {"Open": data.open, "High": data.high, "Low": data.low, "Close": data.close, "Volume": data.volume},
        index=pd.to_datetime(data.open_time, unit="ms"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(frame, PeerSmaCross, cash=CASH, commission=COMMISSION, finalize_trades=False)
        stats = bt.run()
    return stats["_trades"], float(stats["Equity Final [$]"])


def test_sma_cross_matches_backtesting_py_trade_for_trade() -> None:
    data = load_candles("binance_2024", "binance_spot_ETHUSDT_15m.csv", symbol="ETH/USDT", timeframe="15m")
    config = BacktestConfig(
        starting_cash=Decimal(CASH),
        fill_model=FillModel(maker_fee=Decimal("0.001"), taker_fee=Decimal("0.001")),
        risk=RiskConfig.permissive(),
        qty_increment=Decimal(1),
    )
    ours = run_backtest(SmaCross(fast=FAST, slow=SLOW, qty=1.0), data, config)
    peer_trades, peer_final = _peer_run(data)

    assert len(peer_trades) > 500  # a real comparison, not a handful of trades
    assert len(ours.trades) == len(peer_trades)
    index_ms = {ts: i for i, ts in enumerate(data.open_time.tolist())}
    for mine, (_, theirs) in zip(ours.trades, peer_trades.iterrows(), strict=True):
        assert index_ms[mine.entry_time] == theirs["EntryBar"]
        assert index_ms[mine.exit_time] == theirs["ExitBar"]
        assert (1 if mine.side.value == "buy" else -1) * mine.qty == theirs["Size"]
        assert float(mine.entry_price) == pytest.approx(theirs["EntryPrice"], rel=1e-12)
        assert float(mine.exit_price) == pytest.approx(theirs["ExitPrice"], rel=1e-12)
        assert float(mine.pnl) == pytest.approx(theirs["PnL"], rel=1e-9, abs=1e-9)
    assert ours.stats["final_equity"] == pytest.approx(peer_final, rel=1e-12)
