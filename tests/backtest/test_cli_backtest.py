import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from smc_agent.backtest.data import CandleData
from smc_agent.cli.backtest import app
from smc_agent.cli.candle_csv import load_csv
from smc_agent.core.candle import Candle
from smc_agent.marketdata.store import SqlCandleStore
from smc_agent.store.db import make_engine, make_session_factory
from smc_agent.store.migrate import upgrade
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
            "--market",
            "margin",  # it may end short
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "backtest_sma_cross_binance_BTCUSDT_1h.json").read_text())
    assert doc["params"]["fast"] == 5 and doc["instrument"]["symbol"] == "BTC/USDT"
    assert doc["stats"]["start"] == 1704844800000  # --from 2024-01-10
    assert (out / "backtest_sma_cross_binance_BTCUSDT_1h.html").stat().st_size > 100_000
    # the position the cross strategy still holds is printed with the statistics, as the JSON has it
    held = doc["open_position"]
    assert held is not None and held["side"] in ("long", "short")
    printed = " ".join(result.output.split())
    assert f"open position at the end: {held['side']} {held['qty']} at avg" in printed


def test_backtest_bad_input_names_the_problem(tmp_path: Path) -> None:
    csv = small_csv(tmp_path)
    bad_param = runner.invoke(app, ["--data", str(csv), "--strategy", "sma_cross", "--param", "fast=zero"])
    assert bad_param.exit_code == 2 and "'fast'" in bad_param.output
    bad_strategy = runner.invoke(app, ["--data", str(csv), "--strategy", "nope"])
    assert bad_strategy.exit_code == 2 and "unknown strategy" in bad_strategy.output
    missing = runner.invoke(app, ["--data", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    for option, value, words in [
        ("--fee", "-0.1", "taker_fee must be a fraction of notional between 0 and 0.1"),
        ("--fee", "0.5", "taker_fee must be a fraction"),
        ("--maker-fee", "-0.05", "maker_fee must be a fraction of notional between -0.01"),
        ("--fee", "NaN", "taker_fee must be a fraction"),
        ("--cash", "0", "starting cash must be positive"),
        ("--cash", "-5", "starting cash must be positive"),
        ("--to", "2024-01-01", "--from must be before --to"),
    ]:
        args = ["--data", str(csv), "--strategy", "sma_cross", "--from", "2024-01-10", option, value]
        bad = runner.invoke(app, [*args, "--out", str(tmp_path / "never")])
        assert bad.exit_code == 2 and words in bad.output, (option, value, bad.output)
    empty = runner.invoke(app, ["--data", str(csv), "--from", "2030-01-01", "--out", str(tmp_path / "never")])
    assert empty.exit_code == 2 and "no candles in binance_spot_BTCUSDT_1h.csv" in empty.output
    assert not (tmp_path / "never").exists()  # nothing was written for a refused run
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
    rows = json.loads((tmp_path / "sweep_sma_cross_binance_BTCUSDT_1h.json").read_text())
    assert len(rows) == 4
    assert all(type(v) is int for r in rows for v in r["params"].values())  # were strings ("5")
    returns = [r["stats"]["total_return"] for r in rows]
    assert returns == sorted(returns, reverse=True)
    chart = (tmp_path / "sweep_sma_cross_binance_BTCUSDT_1h.html").read_text()
    assert '"type":"heatmap"' in chart and "total_return by fast and slow" in chart
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
    folds = json.loads((tmp_path / "wf" / "sweep_sma_cross_binance_BTCUSDT_1h.json").read_text())
    assert len(folds) == 2 and all(f["test"][0] == f["train"][1] for f in folds)


def test_backtest_from_the_candle_store_with_an_open_ended_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--data VENUE:SYMBOL:TF`` without ``--to`` reads to the newest stored candle (it crashed on a date
    the store could not convert)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    frame = pd.read_csv(shared_file("ohlcv", "binance_2024", "binance_spot_BTCUSDT_1h.csv")).head(600)
    data = CandleData.from_frame(frame, venue="binance", symbol="BTC/USDT", timeframe="1h")
    engine = make_engine(url)
    try:
        candles = [
            Candle("binance", "BTC/USDT", "1h", int(t), o, h, lo, c, v)
            for t, o, h, lo, c, v in zip(
                data.open_time, data.open, data.high, data.low, data.close, data.volume, strict=True
            )
        ]
        assert SqlCandleStore(make_session_factory(engine)).put(candles) == 600
    finally:
        engine.dispose()
    monkeypatch.setenv("SMC_DATABASE_URL", url)
    monkeypatch.setenv("SMC_DATA_DIR", str(tmp_path))
    out = tmp_path / "out"
    args = ["--data", "binance:BTC/USDT:1h", "--strategy", "sma_cross", "--out", str(out)]
    result = runner.invoke(app, [*args, "--from", str(int(data.open_time[100]))])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "backtest_sma_cross_binance_BTCUSDT_1h.json").read_text())
    assert doc["stats"]["start"] == int(data.open_time[100])
    assert doc["stats"]["bars"] == 500  # from the 101st candle to the newest stored one
    missing = runner.invoke(app, ["--data", "bybit:BTC/USDT:1h", "--out", str(out)])
    assert missing.exit_code == 2 and "no stored candles for bybit:BTC/USDT:1h" in missing.output


def _broken(tmp_path: Path, name: str, edit: str) -> Path:
    frame = pd.read_csv(small_csv(tmp_path)).astype({"open": object})
    if edit == "nan":
        frame.loc[500, "open"] = float("nan")
    elif edit == "high_below_low":
        frame.loc[500, "high"] = frame.loc[500, "low"] - 100
    elif edit == "text":
        frame.loc[500, "open"] = "abc"
    elif edit == "seconds":
        frame["timestamp_ms"] //= 1000
    path = tmp_path / f"binance_spot_{name}_1h.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("edit", "words", "repairable"),
    [
        ("nan", "row 500 (line 502 of the file): open is not a finite number (nan)", True),
        ("high_below_low", "row 500 (line 502 of the file): high 41518.68 < low 41618.68", True),
        ("text", "row 500 (line 502 of the file): open 'abc' is not a number", True),
        (
            "seconds",
            "row 0 (line 2 of the file): 1704067200 looks like epoch seconds; expected epoch milliseconds",
            False,
        ),
    ],
)
def test_a_malformed_csv_is_refused_naming_the_row_and_repair_says_what_it_did(
    tmp_path: Path, edit: str, words: str, repairable: bool
) -> None:
    csv = _broken(tmp_path, "BTCUSDT", edit)
    out = tmp_path / "out"
    refused = runner.invoke(app, ["--data", str(csv), "--strategy", "sma_cross", "--out", str(out)])
    assert refused.exit_code == 2, refused.output
    assert words in " ".join(refused.output.split())  # rich wraps long lines
    assert not out.exists()
    repaired = runner.invoke(
        app, ["--data", str(csv), "--strategy", "sma_cross", "--out", str(out), "--repair"]
    )
    if not repairable:
        assert repaired.exit_code == 2 and words in " ".join(repaired.output.split())
        return
    assert repaired.exit_code == 0, repaired.output
    assert "repaired: " in repaired.output
    doc = json.loads((out / "backtest_sma_cross_binance_BTCUSDT_1h.json").read_text())
    assert doc["stats"]["bars"] == (1500 if edit == "high_below_low" else 1499)  # widened, or dropped


def test_a_csv_with_iso_times_backtests_like_one_with_epoch_milliseconds(tmp_path: Path) -> None:
    frame = pd.read_csv(small_csv(tmp_path))
    iso = tmp_path / "iso" / "binance_spot_BTCUSDT_1h.csv"
    iso.parent.mkdir()
    frame.drop(columns=["timestamp_ms"]).rename(columns={"datetime_utc": "open_time"}).to_csv(
        iso, index=False
    )
    docs = []
    for csv in (tmp_path / "binance_spot_BTCUSDT_1h.csv", iso):
        out = csv.parent / "out"
        result = runner.invoke(app, ["--data", str(csv), "--strategy", "sma_cross", "--out", str(out)])
        assert result.exit_code == 0, result.output
        docs.append(json.loads((out / "backtest_sma_cross_binance_BTCUSDT_1h.json").read_text()))
    assert docs[0]["stats"] == docs[1]["stats"] and docs[0]["stats"]["start"] == 1704067200000


USER_STRATEGY = """
from smc_agent.strategy.base import Strategy
from smc_agent.strategy.params import Param


class Dip(Strategy):
    name = "my dip/buyer"
    fail_at = Param(int, 0, low=0, help="raise at this candle (0: never)")

    def on_start(self, **kwargs):
        self.seen = 0

    def on_candle(self, candle):
        self.seen += 1
        if self.seen == self.fail_at:
            raise RuntimeError("boom at candle %d" % self.seen)
        if self.seen % 100 == 0:
            self.buy(qty=0.01, tag="dip") if self.flat else self.close(tag="exit")
"""


def test_a_users_own_strategy_file_runs_and_a_failure_is_an_exit_status(tmp_path: Path) -> None:
    csv = small_csv(tmp_path)
    (tmp_path / "mine.py").write_text(USER_STRATEGY)
    spec = f"{tmp_path / 'mine.py'}:Dip"
    out = tmp_path / "out"
    ok = runner.invoke(app, ["--data", str(csv), "--strategy", spec, "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    doc = json.loads((out / "backtest_my_dip_buyer_binance_BTCUSDT_1h.json").read_text())
    assert doc["stats"]["trades"] == 7  # in at candle 100, 300, ..., out at 200, 400, ... (1500 candles)
    failed = runner.invoke(
        app, ["--data", str(csv), "--strategy", spec, "--param", "fail_at=250", "--out", str(out)]
    )
    assert failed.exit_code == 1 and "boom at candle 250" in failed.output  # the report is still written
    doc = json.loads((out / "backtest_my_dip_buyer_binance_BTCUSDT_1h.json").read_text())
    assert doc["stats"]["trades"] == 1
    for bad, words in [
        (f"{tmp_path / 'none.py'}:Dip", "not found"),
        (f"{tmp_path / 'mine.py'}:Nope", "has no Strategy subclass named 'Nope'"),
        ("no_such_module_xyz:Dip", "cannot import strategy module 'no_such_module_xyz'"),
    ]:
        refused = runner.invoke(app, ["--data", str(csv), "--strategy", bad, "--out", str(out)])
        assert refused.exit_code == 2 and words in " ".join(refused.output.split()), refused.output


def test_a_refused_parameter_combination_is_an_error_before_the_run_and_a_row_in_a_sweep(
    tmp_path: Path,
) -> None:
    csv = small_csv(tmp_path)
    out = tmp_path / "out"
    args = ["--data", str(csv), "--strategy", "sma_cross", "--out", str(out)]
    refused = runner.invoke(app, [*args, "--param", "fast=30", "--param", "slow=20"])
    assert refused.exit_code == 2 and "fast (30) must be shorter than slow (20)" in refused.output
    assert not out.exists()
    (tmp_path / "mine.py").write_text(USER_STRATEGY)
    sweeps = [
        ["--strategy", "sma_cross", "--grid", "fast=30,10", "--param", "slow=20"],
        ["--strategy", f"{tmp_path / 'mine.py'}:Dip", "--grid", "fail_at=0,250"],
    ]
    for sweep_args in sweeps:
        result = runner.invoke(
            app,
            [
                "sweep",
                "--data",
                str(csv),
                *sweep_args,
                "--metric",
                "fees",
                "--workers",
                "2",
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
    rows = json.loads((out / "sweep_sma_cross_binance_BTCUSDT_1h.json").read_text())
    # the refused one ranks last, with its reason, its parameters as given (the run's are typed)
    assert [r["params"]["fast"] for r in rows] == [10, "30"]
    assert rows[0]["error"] == "" and "fast (30) must be shorter than slow (20)" in rows[1]["error"]
    rows = json.loads((out / "sweep_my_dip_buyer_binance_BTCUSDT_1h.json").read_text())
    assert [r["params"]["fail_at"] for r in rows] == [0, 250]  # a run that failed part way is not ranked
    assert "strategy failed: RuntimeError: boom at candle 250" in rows[1]["error"]
    all_refused = runner.invoke(
        app,
        [
            "sweep",
            "--data",
            str(csv),
            "--strategy",
            "sma_cross",
            "--grid",
            "fast=30,40",
            "--param",
            "slow=20",
        ],
    )
    assert all_refused.exit_code == 2 and "must be shorter than slow" in all_refused.output


def test_volume_participation_and_intrabar_rule_are_cli_options(tmp_path: Path) -> None:
    csv = small_csv(tmp_path)
    base = ["--data", str(csv), "--strategy", "sma_cross", "--param", "qty=0.1", "--to", "2024-03-01"]
    base += ["--market", "margin"]  # its shorts fill (a spot account refuses them)
    short: dict[str, bool] = {}
    for label, extra in [("full", []), ("capped", ["--max-participation", "0.00005"])]:
        out = tmp_path / label
        result = runner.invoke(app, [*base, *extra, "--out", str(out)])
        assert result.exit_code == 0, result.output
        orders = json.loads((out / "backtest_sma_cross_binance_BTCUSDT_1h.json").read_text())["orders"]
        short[label] = any(Decimal(o["filled_qty"]) < Decimal(o["qty"]) for o in orders)
    assert short == {"full": False, "capped": True}  # 0.005% of an hour's volume cannot fill 0.1 BTC at once
    for option, value, words in [
        ("--max-participation", "2", "max_participation must be in (0, 1]"),
        ("--intrabar", "random", "intrabar rule must be one of"),
    ]:
        bad = runner.invoke(app, [*base, option, value, "--out", str(tmp_path / "never")])
        assert bad.exit_code == 2 and words in bad.output, bad.output
    nearest = runner.invoke(app, [*base, "--intrabar", "nearest_first", "--out", str(tmp_path / "n")])
    assert nearest.exit_code == 0, nearest.output


def test_unreadable_empty_and_wrongly_scaled_files_are_refused_with_exit_2(tmp_path: Path) -> None:
    rows = pd.read_csv(small_csv(tmp_path)).head(50)
    micro = rows.assign(timestamp_ms=rows["timestamp_ms"] * 1000)  # Binance's dumps since 2025
    cases = {
        "empty": ("", "not a readable CSV"),
        "header": ("timestamp_ms,open,high,low,close,volume\n", "the file has no candle rows"),
        "ragged": (
            "timestamp_ms,open,high,low,close,volume\n1,2,3,4,5,6\n1,2,3,4,5,6,7,8\n",
            "not a readable CSV",
        ),
        "micro": (micro.to_csv(index=False), "looks like epoch micro- or nanoseconds"),
    }
    for name, (text, words) in cases.items():
        csv = tmp_path / f"binance_spot_{name.upper()}USDT_1h.csv"
        csv.write_text(text)
        result = runner.invoke(
            app, ["--data", str(csv), "--strategy", "sma_cross", "--out", str(tmp_path / "o")]
        )
        assert result.exit_code == 2 and words in " ".join(result.output.split()), (name, result.output)
    for value in ("nan", "-1", "1000.5", "20000"):  # 10,000 bps or more filled sells at a negative price
        slip = runner.invoke(app, ["--data", str(small_csv(tmp_path)), "--slippage-bps", value])
        assert slip.exit_code == 2, (value, slip.output)
        assert "slippage_bps must be a number from 0 to 1,000 (10% of the price)" in slip.output


def test_iso_times_with_fractions_and_dotted_dates_are_read_exactly(tmp_path: Path) -> None:
    csv = tmp_path / "times.csv"
    csv.write_text(
        "time,open,high,low,close,volume\n"
        "2024-01-01T00:00:00.000Z,1,2,1,2,1\n"  # JavaScript's toISOString / ccxt's iso8601
        "2024-01-01T01:00:00.100,1,2,1,2,1\n"  # a fraction, not a UTC offset of -1:00
        "2024.01.01 02:00,1,2,1,2,1\n"  # MetaTrader's dotted date
        ",1,2,1,2,1\n"  # no time: refused, or dropped by --repair
    )
    hour = 3_600_000
    refused = runner.invoke(app, ["--data", str(csv), "--timeframe", "1h", "--symbol", "X/USDT"])
    assert refused.exit_code == 2 and "row 3 (line 5 of the file): empty time" in " ".join(
        refused.output.split()
    )
    loaded = load_csv(csv, repair=True)
    assert loaded.ts_ms.tolist() == [1704067200000, 1704067200000 + hour + 100, 1704067200000 + 2 * hour]
    assert loaded.repairs == ("dropped 1 rows without a time",)


def test_a_failing_check_params_of_any_kind_refuses_the_parameters(tmp_path: Path) -> None:
    (tmp_path / "odd.py").write_text(
        USER_STRATEGY + "\n\nclass Odd(Dip):\n    def check_params(self):\n        raise TypeError('odd')\n"
    )
    csv = small_csv(tmp_path)
    spec = f"{tmp_path / 'odd.py'}:Odd"
    one = runner.invoke(app, ["--data", str(csv), "--strategy", spec])
    assert one.exit_code == 2 and "Odd: TypeError: odd" in one.output
    grid = runner.invoke(app, ["sweep", "--data", str(csv), "--strategy", spec, "--grid", "fail_at=0,1"])
    assert grid.exit_code == 2 and "Odd: TypeError: odd" in grid.output
    base = runner.invoke(app, ["--data", str(csv), "--strategy", "smc_agent.strategy.base:Strategy"])
    assert base.exit_code == 2 and "has no Strategy subclass named 'Strategy'" in base.output


def test_sweeps_and_walk_forward_that_fail_say_so_and_exit_1(tmp_path: Path) -> None:
    csv = small_csv(tmp_path)
    (tmp_path / "mine.py").write_text(USER_STRATEGY)
    spec = ["--data", str(csv), "--strategy", f"{tmp_path / 'mine.py'}:Dip", "--workers", "1"]
    every = runner.invoke(app, ["sweep", *spec, "--grid", "fail_at=50,60", "--out", str(tmp_path / "a")])
    assert every.exit_code == 1 and "boom at candle 50" in every.output
    walk = runner.invoke(
        app, ["sweep", *spec, "--grid", "fail_at=50,60", "--walk-forward", "3", "--out", str(tmp_path / "w")]
    )
    assert walk.exit_code == 1, walk.output
    folds = json.loads((tmp_path / "w" / "sweep_my_dip_buyer_binance_BTCUSDT_1h.json").read_text())
    assert len(folds) == 2 and all(f["best_params"] == {} for f in folds)  # no failed run picked as "best"
    assert all("every combination failed on the training window" in f["error"] for f in folds)
    tiny = runner.invoke(app, ["sweep", *spec, "--grid", "fail_at=0", "--walk-forward", "100"])
    assert tiny.exit_code == 2
    assert "needs at least 2000 candles (20 per window), got 1500" in " ".join(tiny.output.split())


def test_the_shared_datas_file_names_tell_venue_symbol_and_timeframe(tmp_path: Path) -> None:
    for bundle, name, venue in [
        ("bybit_perp_2023_2026", "bybit_linear_perp_BTC_PERP_1h.csv", "bybit"),
        ("binance_2024", "binance_spot_BTCUSDT_1h.csv", "binance"),
    ]:
        csv = tmp_path / name
        pd.read_csv(shared_file("ohlcv", bundle, name)).head(300).to_csv(csv, index=False)
        out = tmp_path / "out"  # one directory: the venue in the file names keeps both runs' reports
        result = runner.invoke(app, ["--data", str(csv), "--strategy", "sma_cross", "--out", str(out)])
        assert result.exit_code == 0, result.output
        doc = json.loads((out / f"backtest_sma_cross_{venue}_BTCUSDT_1h.json").read_text())
        assert (doc["instrument"]["venue"], doc["instrument"]["symbol"]) == (venue, "BTC/USDT")
    assert len(list((tmp_path / "out").glob("*.html"))) == 2


def test_a_timeframe_that_does_not_match_the_candles_is_refused(tmp_path: Path) -> None:
    csv = small_csv(tmp_path)  # hourly candles
    wrong = runner.invoke(app, ["--data", str(csv), "--strategy", "sma_cross", "--timeframe", "5m"])
    assert wrong.exit_code == 2
    assert "its candles are 3,600 s apart, but the timeframe is 5m (300 s)" in " ".join(wrong.output.split())


def test_spot_data_is_backtested_on_a_spot_account_no_shorts(tmp_path: Path) -> None:
    """sma_cross goes short on a downward cross: on Binance spot data the backtest showed short trades a
    spot account cannot make (live, every one was refused). ``auto`` reads the spot file as spot."""
    csv = small_csv(tmp_path)  # binance_spot_BTCUSDT_1h.csv
    base = ["--data", str(csv), "--strategy", "sma_cross", "--param", "qty=0.01", "--to", "2024-03-01"]
    sides: dict[str, set[str]] = {}
    for market in ("auto", "margin"):
        out = tmp_path / market
        result = runner.invoke(app, [*base, "--market", market, "--out", str(out)])
        assert result.exit_code == 0, result.output
        doc = json.loads((out / "backtest_sma_cross_binance_BTCUSDT_1h.json").read_text())
        sides[market] = {t["side"] for t in doc["trades"]}
        if market == "auto":
            assert doc["rejections"] and all("spot account" in r["reason"] for r in doc["rejections"])
            assert "the venue refused" in " ".join(result.output.split())
    assert sides == {"auto": {"buy"}, "margin": {"buy", "sell"}}
    bad = runner.invoke(app, [*base, "--market", "futures", "--out", str(tmp_path / "never")])
    assert bad.exit_code == 2 and "--market must be 'auto', 'spot' or 'margin'" in bad.output
