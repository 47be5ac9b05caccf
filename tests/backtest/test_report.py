import json
import re

from smc_agent.backtest.report import to_html, to_json
from smc_agent.backtest.runner import BacktestConfig, run_backtest
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


def test_report_groups_risk_denials_by_check() -> None:
    """June-July 2024 on 15m: the 25% drawdown breaker halts the bot on 1 July and every later entry is
    denied by the trading-state check; the report counts them in one row instead of listing them all."""
    data = load_candles("binance_2024", "binance_spot_BTCUSDT_15m.csv", symbol="BTC/USDT", timeframe="15m")
    result = run_backtest(SmcStructure(), data.between(1717200000000, 1722470400000), BacktestConfig())
    checks = {d.check for d in result.denials}
    assert len(result.denials) > 100 and checks == {"trading_state"}
    page = to_html(result)
    row = re.search(r"<tr><td>trading_state</td><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td>", page)
    assert row is not None and int(row[1]) == len(result.denials)
    assert row[2].startswith("2024-07-01") and row[3] > row[2]
    assert page.count("trading is HALTED: no new orders</li>") == 20  # the first 20 in order, not all
