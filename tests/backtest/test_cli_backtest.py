import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from smc_agent.cli.backtest import app
from tests._shared import shared_file

runner = CliRunner()


def small_csv(tmp_path: Path) -> Path:
    frame = pd.read_csv(shared_file("ohlcv", "binance_2024", "binance_spot_BTCUSDT_1h.csv")).head(1500)
    path = tmp_path / "binance_spot_BTCUSDT_1h.csv"
    frame.to_csv(path, index=False)
    return path


def test_backtest_writes_html_and_json(tmp_path: Path) -> None:
    csv = small_csv(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "--data",
            str(csv),
            "--strategy",
            "sma_cross",
            "--param",
            "fast=5",
            "--param",
            "slow=30",
            "--from",
            "2024-01-10",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "backtest_sma_cross_BTCUSDT_1h.json").read_text())
    assert doc["params"]["fast"] == 5 and doc["instrument"]["symbol"] == "BTC/USDT"
    assert doc["stats"]["start"] == 1704844800000  # --from 2024-01-10
    assert (out / "backtest_sma_cross_BTCUSDT_1h.html").stat().st_size > 100_000


def test_backtest_bad_input_names_the_problem(tmp_path: Path) -> None:
    csv = small_csv(tmp_path)
    bad_param = runner.invoke(app, ["--data", str(csv), "--strategy", "sma_cross", "--param", "fast=zero"])
    assert bad_param.exit_code == 2 and "'fast'" in bad_param.output
    bad_strategy = runner.invoke(app, ["--data", str(csv), "--strategy", "nope"])
    assert bad_strategy.exit_code == 2 and "unknown strategy" in bad_strategy.output
    missing = runner.invoke(app, ["--data", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    same_tf = runner.invoke(app, ["--data", str(csv), "--strategy", "smc"])  # its higher timeframe is 1h too
    assert same_tf.exit_code == 2, same_tf.output
    assert "higher timeframe 1h" in same_tf.output and "lower timeframe" in same_tf.output


def test_sweep_ranks_and_walk_forward(tmp_path: Path) -> None:
    csv = small_csv(tmp_path)
    result = runner.invoke(
        app,
        [
            "sweep",
            "--data",
            str(csv),
            "--strategy",
            "sma_cross",
            "--grid",
            "fast=5,10",
            "--grid",
            "slow=30,50",
            "--metric",
            "total_return",
            "--workers",
            "2",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "sweep_sma_cross_BTCUSDT_1h.json").read_text())
    assert len(rows) == 4
    returns = [r["stats"]["total_return"] for r in rows]
    assert returns == sorted(returns, reverse=True)
    wf = runner.invoke(
        app,
        [
            "sweep",
            "--data",
            str(csv),
            "--strategy",
            "sma_cross",
            "--grid",
            "fast=5,10",
            "--walk-forward",
            "3",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "wf"),
        ],
    )
    assert wf.exit_code == 0, wf.output
    folds = json.loads((tmp_path / "wf" / "sweep_sma_cross_BTCUSDT_1h.json").read_text())
    assert len(folds) == 2 and all(f["test"][0] == f["train"][1] for f in folds)
