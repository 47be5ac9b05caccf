import json
import math
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from smc_agent.backtest.report import MAX_POINTS, build_figure, to_html, to_json
from smc_agent.backtest.runner import BacktestConfig, BacktestResult, run_backtest
from smc_agent.strategy.sma_cross import SmaCross
from smc_agent.strategy.smc_structure import SmcStructure
from tests.backtest._data import load_candles


def test_report_is_self_contained_and_json_serialisable() -> None:
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    result = run_backtest(SmcStructure(), data.between(None, int(data.open_time[3000])), BacktestConfig())
    assert result.trades and result.annotations
    page = to_html(result)
    assert "<script" in page and "Plotly.newPlot" in page
    assert not re.search(r'<script[^>]+src="https?://', page)  # plotly inlined, nothing fetched
    for label in ("Equity", "Drawdown", "long entry", "exit", "max_drawdown", "profit_factor"):
        assert label in page
    doc = json.loads(json.dumps(to_json(result)))
    assert doc["stats"]["trades"] == len(result.trades) == len(doc["trades"])
    assert doc["trades"][0]["entry_price"] == str(result.trades[0].entry_price)
    assert doc["annotations"][0]["kind"] in ("ob", "fvg")
    assert len(doc["equity_curve"]["equity"]) == len(result.equity)
    assert doc["equity_curve"]["step"] == 1
    # the run ends long (entered 24 January 2024, still held at the last bar): reported, not a trade
    pos = doc["open_position"]
    assert pos["side"] == "long" and Decimal(pos["qty"]) == Decimal(repr(float(result.position[-1]))) > 0
    assert pos["mark_price"] == repr(float(result.data.close[-1]))
    assert pos["entry_time"] > result.trades[-1].exit_time
    assert "Open position at the end: long " + pos["qty"] + " at avg " in page
    # its entry is on the chart with the closed trades' entries (it was missing: only trades were drawn)
    longs = next(trace for trace in build_figure(result).data if trace.name == "long entry")
    assert len(longs.x) == sum(t.side.value == "buy" for t in result.trades) + 1
    assert longs.text[-1] == f"{pos['entry_tag']} (open at the end)" and longs.y[-1] == float(
        pos["avg_entry_price"]
    )
    _assert_reconciles(result, doc)


def _assert_reconciles(result: BacktestResult, doc: dict) -> None:
    """Final equity - starting cash = closed trades' PnL (net of their fees) + the open position's
    realised and unrealised PnL - the fees paid on it; all fees = the trades' + the open position's."""
    pos = doc["open_position"]
    trades_pnl = sum((Decimal(t["pnl"]) for t in doc["trades"]), Decimal(0))
    trades_fees = sum((Decimal(t["fees"]) for t in doc["trades"]), Decimal(0))
    open_pnl = open_fees = Decimal(0)
    if pos is not None:
        open_fees = Decimal(pos["fees"])
        open_pnl = Decimal(pos["realized_pnl"]) + Decimal(pos["unrealized_pnl"]) - open_fees
    change = Decimal(repr(doc["stats"]["final_equity"])) - Decimal(repr(doc["stats"]["start_equity"]))
    assert float(trades_pnl + open_pnl) == pytest.approx(float(change), rel=1e-12, abs=1e-9)
    assert float(trades_fees + open_fees) == pytest.approx(doc["stats"]["fees"], rel=1e-12)


def test_long_run_json_keeps_a_downsampled_curve_and_the_open_position() -> None:
    """25,649 bars of 15m: the JSON curve keeps every 5th bar (25649 // 5000), the statistics use all
    of them; SMA cross is always in the market after its first cross, so it ends with a position."""
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    result = run_backtest(SmaCross(), data, BacktestConfig())
    doc = json.loads(json.dumps(to_json(result)))
    curve, n = doc["equity_curve"], len(result.equity)
    assert curve["step"] == n // MAX_POINTS == 5
    assert len(curve["equity"]) == len(curve["open_time"]) == math.ceil(n / 5)
    assert curve["equity"] == result.equity[::5].tolist()
    assert curve["open_time"][1] - curve["open_time"][0] == 5 * 900_000
    assert doc["stats"]["bars"] == n and doc["stats"]["final_equity"] == result.equity[-1]
    pos = doc["open_position"]
    assert pos is not None and Decimal(pos["qty"]) * (1 if pos["side"] == "long" else -1) == Decimal(
        repr(float(result.position[-1]))
    )
    _assert_reconciles(result, doc)


def test_flat_at_the_end_has_a_null_open_position() -> None:
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    result = run_backtest(SmcStructure(), data.between(None, int(data.open_time[1200])), BacktestConfig())
    assert result.position[-1] == 0 and result.trades
    doc = json.loads(json.dumps(to_json(result)))
    assert doc["open_position"] is None
    assert "Open position at the end: none (flat at the end)" in to_html(result)
    _assert_reconciles(result, doc)


def test_report_groups_risk_denials_by_check() -> None:
    """June-July 2024 on 15m: the 25% drawdown breaker halts the bot in early July and every later entry
    is denied by the trading-state check; the report counts them in one row instead of listing them all."""
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    result = run_backtest(SmcStructure(), data.between(1717200000000, 1722470400000), BacktestConfig())
    checks = {d.check for d in result.denials}
    assert len(result.denials) > 100 and checks == {"trading_state"}
    page = to_html(result)
    row = re.search(r"<tr><td>trading_state</td><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td>", page)
    assert row is not None and int(row[1]) == len(result.denials)
    (halt,) = result.state_changes
    halted_on = datetime.fromtimestamp(halt.ts_event / 1000, tz=UTC).strftime("%Y-%m-%d")
    assert halted_on.startswith("2024-07") and halted_on <= row[2] < row[3]  # first and last denial
    assert page.count("trading is HALTED: no new orders</li>") == 20  # the first 20 in order, not all


class _TooBig(SmaCross):
    """Buys 1 BTC on a 10,000 USDT account at its first cross: the simulated venue refuses it."""

    def on_candle(self, candle):  # type: ignore[no-untyped-def]
        if not hasattr(self, "_sent"):
            self._sent = self.buy(qty=1)


def test_orders_the_venue_refused_are_in_the_report_the_json_and_counted() -> None:
    """They were only in the JSON's orders list: the report said 0 trades and 0 denials, nothing more."""
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_1h.csv", symbol="BTC/USDT", timeframe="1h")
    result = run_backtest(_TooBig(), data.between(None, int(data.open_time[100])), BacktestConfig())
    (refused,) = result.rejections
    assert "insufficient margin" in refused.reason and not result.trades
    page = to_html(result)
    assert "Refused by the venue (1)" in page and "insufficient margin: exposure" in page
    (row,) = to_json(result)["rejections"]
    assert row == {
        "ts": refused.ts_event,
        "client_order_id": refused.client_order_id,
        "reason": refused.reason,
    }


def test_the_chart_of_a_long_run_draws_its_last_candles() -> None:
    """Above 4,000 bars the candles are grouped; the last len % k candles were left out of the chart."""
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_1h.csv", symbol="BTC/USDT", timeframe="1h")
    data = data.between(None, int(data.open_time[4033]))
    result = run_backtest(SmaCross(), data, BacktestConfig())
    candles = next(trace for trace in build_figure(result).data if trace.type == "candlestick")
    k = math.ceil(len(data) / 4_000)
    assert len(candles.x) == math.ceil(len(data) / k)
    assert candles.close[-1] == data.close[-1] and candles.high[-1] == max(data.high[-(len(data) % k) :])
