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
