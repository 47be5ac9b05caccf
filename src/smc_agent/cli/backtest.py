"""``smc-agent backtest``: run one backtest (HTML + JSON report) or ``sweep`` a parameter grid.

::

    smc-agent backtest --data ../shared/data/ohlcv/binance_2024/binance_spot_BTCUSDT_15m.csv \\
        --strategy smc --from 2024-01-01 --to 2024-06-01 --param rr=3 --out reports/
    smc-agent backtest --data binance:BTC/USDT:15m --strategy sma_cross      # from the candle store
    smc-agent backtest sweep --data ... --strategy sma_cross --grid fast=5,10,20 --grid slow=50,100 \\
        --metric sharpe --walk-forward 4
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import inspect

from smc_agent.backtest.data import CandleData
from smc_agent.backtest.fill_model import FillModel
from smc_agent.backtest.report import describe_open_position, json_number, to_html, to_json
from smc_agent.backtest.runner import BacktestConfig, run_backtest
from smc_agent.backtest.sweep import METRICS, rank, run_sweep, walk_forward
from smc_agent.backtest.sweep_report import sweep_html
from smc_agent.cli.candle_csv import load_csv, wrong_epoch_unit
from smc_agent.cli.data import parse_time
from smc_agent.core.candle import timeframe_ms
from smc_agent.core.errors import ConfigError, DataError, SmcAgentError
from smc_agent.risk.config import RiskConfig
from smc_agent.smc.candles import CandleError, Candles
from smc_agent.strategy.registry import STRATEGIES, build_strategy, load_strategy

app = typer.Typer(
    help="Backtests: run one (default), or sweep a parameter grid.",
    invoke_without_command=True,
    no_args_is_help=False,
)
console = Console()
err = Console(stderr=True)

DataOpt = Annotated[
    str | None, typer.Option("--data", help="CSV file, or VENUE:SYMBOL:TF from the candle store")
]
StrategyOpt = Annotated[
    str,
    typer.Option(
        "--strategy", help=f"one of {sorted(STRATEGIES)}, or your own: package.module:Class or file.py:Class"
    ),
]
FromOpt = Annotated[str | None, typer.Option("--from", help="start (YYYY-MM-DD[THH:MM] UTC or epoch ms)")]
ToOpt = Annotated[str | None, typer.Option("--to", help="end, exclusive")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", help="strategy parameter k=v (repeatable)")]
OutOpt = Annotated[Path, typer.Option("--out", help="directory for the reports (default: current)")]
SymbolOpt = Annotated[str | None, typer.Option("--symbol", help="symbol of a CSV (default: from its name)")]
TfOpt = Annotated[str | None, typer.Option("--timeframe", help="timeframe of a CSV (default: from its name)")]
VenueOpt = Annotated[str | None, typer.Option("--venue", help="venue of a CSV (default: from its name)")]
CashOpt = Annotated[str, typer.Option("--cash", help="starting cash (quote currency)")]
FeeOpt = Annotated[str, typer.Option("--fee", help="taker fee fraction (maker uses --maker-fee)")]
MakerOpt = Annotated[str | None, typer.Option("--maker-fee", help="maker fee fraction (default: --fee)")]
SlipOpt = Annotated[
    float,
    typer.Option("--slippage-bps", help="slippage on market, stop and take-profit fills, bps (0 to 1000)"),
]
RiskOpt = Annotated[str, typer.Option("--risk", help="'live' (the live limits) or 'research' (wide open)")]
ParticipationOpt = Annotated[
    float | None,
    typer.Option("--max-participation", help="fill at most this fraction of a bar's volume (partial fills)"),
]
IntrabarOpt = Annotated[
    str,
    typer.Option(
        "--intrabar", help="stop and target in one bar: 'stop_first' or 'nearest_first' (to the open)"
    ),
]
TakeProfitOpt = Annotated[
    str,
    typer.Option(
        "--take-profit-fill",
        help="a position's target: 'market' (triggered at its price, taker, slipped: how Binance and "
        "Bybit spot execute it live) or 'limit' (rests at its price, maker)",
    ),
]
MarketOpt = Annotated[
    str,
    typer.Option(
        "--market",
        help="'spot' (no short selling, no leverage: Binance and Bybit spot), 'margin', or 'auto': spot "
        "for a *_spot_* CSV or stored spot candles (VENUE:BASE/QUOTE:TF), margin otherwise",
    ),
]
RepairOpt = Annotated[
    bool, typer.Option("--repair", help="drop or fix bad CSV rows (reported) instead of failing")
]
SmcOpt = Annotated[str, typer.Option("--smc-mode", help="'replay' (batch, fast) or 'stream' (SMCStream)")]

# binance_spot_BTCUSDT_5m, bybit_linear_perp_BTC_PERP_15m (the shared data's names), binance_BTCUSDT_1h
_NAME = re.compile(r"^(?P<venue>[a-z]+)_(?:[a-z_]+_)?(?P<symbol>[A-Z0-9][A-Z0-9_]*)_(?P<tf>\d+[smhdwM])$")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")  # a strategy's name in a report's file name
_QUOTES = ("USDT", "USDC", "BUSD", "USD", "BTC", "ETH", "PERP")


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # one line, however long
    return typer.Exit(2)


def parse_params(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param expects k=v, got {item!r}")
        if key.strip() in out:  # the last one silently won
            raise ConfigError(f"--param {key.strip()} given twice ({out[key.strip()]!r}, {value.strip()!r})")
        out[key.strip()] = value.strip()
    return out


def _symbol_from(raw: str) -> str:
    raw = raw.replace("_", "")  # BTC_PERP
    for quote in _QUOTES:
        if raw.endswith(quote) and len(raw) > len(quote):
            base = raw[: -len(quote)]
            return f"{base}/USDT" if quote == "PERP" else f"{base}/{quote}"
    return raw


def load_data(
    spec: str,
    *,
    venue: str | None,
    symbol: str | None,
    timeframe: str | None,
    start: int | None,
    end: int | None,
    repair: bool = False,
) -> CandleData:
    if start is not None and end is not None and start >= end:
        raise ConfigError("--from must be before --to")
    path = Path(spec)
    if path.suffix.lower() == ".csv" or path.exists():
        if not path.is_file():
            raise DataError(f"--data: no such file {path}")
        match = _NAME.match(path.stem)
        venue = venue or (match["venue"] if match else "csv")
        symbol = symbol or (_symbol_from(match["symbol"]) if match else path.stem)
        timeframe = timeframe or (match["tf"] if match else None)
        if timeframe is None:
            raise ConfigError(f"cannot tell the timeframe of {path.name}: pass --timeframe")
        _check_timeframe(timeframe)
        try:
            loaded = load_csv(path, repair=repair)
        except CandleError as exc:
            raise DataError(f"{path.name}: {exc}") from None
        for note in loaded.repairs:
            err.print(f"repaired: {escape(note)}")
        loaded = _positive_prices(loaded, path.name, repair=repair)
        loaded = _check_spacing(loaded, timeframe, path.name, repair=repair)
        _warn_off_grid(loaded.ts_ms, timeframe, path.name)
        data = CandleData.from_smc(loaded, venue=venue, symbol=symbol, timeframe=timeframe).between(
            start, end
        )
        if len(data) == 0:
            raise DataError(f"no candles in {path.name} in the requested range")
        _warn_gaps(data)
        return data
    parts = spec.split(":")
    if len(parts) != 3:
        raise ConfigError(f"--data: expected a CSV path or VENUE:SYMBOL:TF, got {spec!r}")
    v, s, tf = parts
    _check_timeframe(tf)
    from smc_agent.cli.common import container
    from smc_agent.marketdata.store import END_OF_TIME_MS, SqlCandleStore

    with container() as built:
        if not inspect(built.engine).has_table("candles"):  # as `smc-agent data download` tells it
            raise ConfigError(
                "the database has no schema (no candles table): run `smc-agent db upgrade`, then "
                f"`smc-agent data download {v} {s} {tf} --since ... --until ...`"
            )
        store = SqlCandleStore(built.session_factory)
        candles = store.get(v, s, tf, start_ms=start or 0, end_ms=END_OF_TIME_MS if end is None else end)
    if not candles:
        raise DataError(
            f"no stored candles for {v}:{s}:{tf} in the range; run `smc-agent data download` first"
        )
    frame = pd.DataFrame([c._asdict() for c in candles])
    data = CandleData.from_frame(frame, venue=v, symbol=s, timeframe=tf)
    _warn_gaps(data)
    return data


def _warn_gaps(data: CandleData) -> None:
    """Missing candles are traded across as if the market had not moved: say so before the run."""
    count, missing, before = data.gaps()
    if count:
        at = pd.Timestamp(before, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M")
        err.print(
            f"warning: {count:,} gap(s) in the candles, {missing:,} {data.timeframe} candle(s) missing "
            f"(the largest after {at} UTC); orders working across a gap fill at the next candle"
        )


def _time(text: str | None, option: str) -> int | None:
    """``--from`` / ``--to``: a date, or epoch milliseconds. Epoch seconds (read as milliseconds they fall
    in January 1970) and micro- or nanoseconds are refused, as in a CSV's time column."""
    if not text:
        return None
    ms = parse_time(text, option)
    unit = wrong_epoch_unit(ms, ms) if text.isdigit() else None
    if unit:
        raise ConfigError(
            f"{option} {text} looks like epoch {unit}: give epoch milliseconds or a date (YYYY-MM-DD[THH:MM])"
        )
    return ms


def _check_timeframe(timeframe: str) -> None:
    try:
        timeframe_ms(timeframe)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _check_out(out: Path) -> None:
    """Refused before the run, not after it (a directory that could not be made lost the whole run's
    results): reports go into a directory that is, or can be made, and written to."""
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"--out: {existing} is a file, not a directory")
    try:  # where the reports, or their directory, will be made: tried now, left as it was
        os.rmdir(tempfile.mkdtemp(prefix=".smc-out-check-", dir=existing))
    except OSError as exc:
        raise ConfigError(f"--out: nothing can be written in {existing} ({exc.strerror})") from None


def _positive_prices(candles: Candles, name: str, *, repair: bool) -> Candles:
    """A price of 0 cannot be traded, sized or valued: the row is refused with its line, or dropped
    with ``--repair`` (said, like the other repairs)."""
    prices = np.vstack([candles.open, candles.high, candles.low, candles.close])
    zero = (prices == 0.0).any(axis=0)
    if not zero.any():
        return candles
    if not repair:
        row = int(np.argmax(zero))
        column = ("open", "high", "low", "close")[int(np.argmax(prices[:, row] == 0.0))]
        raise DataError(
            f"{name}: row {row} (line {row + 2} of the file): {column} is 0 (a price must be positive; "
            "--repair drops such rows and says so)"
        )
    err.print(f"repaired: dropped {int(zero.sum())} rows with a price of 0")
    return _keep(candles, ~zero)


def _keep(candles: Candles, keep: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Candles:
    """The rows of ``candles`` that ``keep`` selects (a mask or ascending row numbers)."""
    return dataclasses.replace(
        candles,
        open=candles.open[keep],
        high=candles.high[keep],
        low=candles.low[keep],
        close=candles.close[keep],
        volume=candles.volume[keep],
        ts_ms=candles.ts_ms[keep],
    )


def _warn_off_grid(times: npt.NDArray[np.int64], timeframe: str, name: str) -> None:
    """Candles that do not open on the timeframe's grid from 00:00 UTC (a 5m candle at :07): the higher
    timeframes, bucketed from the epoch, close one candle late. Said, not refused (a daily file of a
    venue that closes its day at another hour is usable)."""
    step = timeframe_ms(timeframe)
    if step > timeframe_ms("1d") or not len(times):
        return  # weeks start on Monday, months vary: no epoch grid to hold them to
    off = times % step
    if off.any():
        row = int(np.flatnonzero(off)[0])
        at = pd.Timestamp(int(times[row]), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")
        err.print(
            f"warning: {name}: {int(np.count_nonzero(off)):,} candle(s) off the {timeframe} grid from 00:00 "
            f"UTC (row {row} opens {at} UTC): higher-timeframe candles built from them close one candle late"
        )


def _check_spacing(candles: Candles, timeframe: str, name: str, *, repair: bool) -> Candles:
    """A file whose candles are not ``timeframe`` apart (a wrong name or --timeframe) would be traded with
    the wrong bar length: higher timeframes, annualisation and the report would all be off. A row that
    opens less than one candle after the row before it is not in step with the series (Binance's 1h
    klines of 2018-02-09..11 open at :28:14, between on-the-hour rows): refused with its line; with
    ``--repair`` (said) moved down onto the grid as ``data download`` does, else dropped."""
    times = candles.ts_ms
    if len(times) < 3:
        return candles
    steps = np.diff(times)
    typical = int(np.median(steps))
    if typical != timeframe_ms(timeframe):
        raise DataError(
            f"{name}: its candles are {typical // 1000:,} s apart, but the timeframe is {timeframe} "
            f"({timeframe_ms(timeframe) // 1000:,} s): pass the right --timeframe"
        )
    short = np.flatnonzero(steps < typical)  # a gap is a missing candle; a shorter step is not a candle
    if not short.size:
        return candles
    if not repair:
        row = int(short[0]) + 1
        raise DataError(
            f"{name}: row {row} (line {row + 2} of the file) opens {int(steps[row - 1]) // 1000:,} s after the "
            f"row before it, less than one {timeframe} candle: times out of step with the rest of the file "
            "(--repair moves such rows onto the grid, or drops them, and says so)"
        )
    step = timeframe_ms(timeframe)
    if step <= timeframe_ms("1d") and (off := times % step).any():
        # as `data download` repairs them: a candle off the grid is the grid's candle it opens in
        # (on the grid one of the same time wins)
        snapped = times - off
        order: npt.NDArray[np.intp] = np.lexsort((off != 0, snapped))  # by time, the one on the grid first
        first_of_time = np.r_[True, np.diff(snapped[order]) > 0]
        keep_rows = np.sort(order[first_of_time])
        dropped = len(times) - len(keep_rows)
        err.print(
            f"repaired: {int(np.count_nonzero(off[keep_rows]))} rows off the {timeframe} grid moved onto it"
            + (f", {dropped} that then fell on another row's time dropped" if dropped else "")
        )
        candles = dataclasses.replace(_keep(candles, keep_rows), ts_ms=snapped[keep_rows])
        times = candles.ts_ms
        if not (np.diff(times) < typical).any():
            return candles
    keep = np.ones(len(times), dtype=bool)
    last = int(times[0])
    for i in range(1, len(times)):  # each row against the last one kept
        if times[i] - last < typical:
            keep[i] = False
        else:
            last = int(times[i])
    first = int(np.flatnonzero(~keep)[0])
    err.print(
        f"repaired: dropped {int((~keep).sum())} rows that open less than one {timeframe} candle after the "
        f"row kept before them (the first: row {first}, line {first + 2} of the file)"
    )
    return _keep(candles, keep)


def make_config(
    *,
    cash: str,
    fee: str,
    maker_fee: str | None,
    slippage_bps: float,
    risk: str,
    smc_mode: str,
    participation: float | None = None,
    intrabar: str = "stop_first",
    take_profit: str = "market",
    spot: bool = False,
) -> BacktestConfig:
    try:
        taker = Decimal(fee)
        maker = Decimal(maker_fee) if maker_fee is not None else taker
        starting = Decimal(cash)
    except InvalidOperation:
        raise ConfigError(
            f"--cash/--fee/--maker-fee must be numbers, got {cash!r}, {fee!r}, {maker_fee!r}"
        ) from None
    if risk not in ("live", "research"):
        raise ConfigError(f"--risk must be 'live' or 'research', got {risk!r}")
    return BacktestConfig(
        starting_cash=starting,
        fill_model=FillModel(
            maker_fee=maker,
            taker_fee=taker,
            slippage_bps=slippage_bps,
            max_participation=participation,
            intrabar=intrabar,
            take_profit=take_profit,
        ),
        risk=RiskConfig() if risk == "live" else RiskConfig.permissive(),
        smc_mode=smc_mode,
        spot=spot,
    )


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    )


def _stats_table(stats: dict[str, Any], title: str) -> Table:
    table = Table(title=title, show_header=False)
    for key, value in stats.items():
        if key in ("start", "end") and isinstance(value, int):  # epoch ms in the JSON, a date to read here
            text = pd.Timestamp(value, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
        else:
            text = f"{value:,.4f}" if isinstance(value, float) else str(value)
        table.add_row(key, text)
    return table


@app.callback()
def backtest(  # noqa: PLR0917 - Typer maps parameters onto options
    ctx: typer.Context,
    data: DataOpt = None,
    strategy: StrategyOpt = "smc",
    from_: FromOpt = None,
    to: ToOpt = None,
    param: ParamOpt = None,
    out: OutOpt = Path(),
    symbol: SymbolOpt = None,
    timeframe: TfOpt = None,
    venue: VenueOpt = None,
    cash: CashOpt = "10000",
    fee: FeeOpt = "0.001",
    maker_fee: MakerOpt = None,
    slippage_bps: SlipOpt = 0.0,
    risk: RiskOpt = "live",
    smc_mode: SmcOpt = "replay",
    repair: RepairOpt = False,
    participation: ParticipationOpt = None,
    intrabar: IntrabarOpt = "stop_first",
    take_profit_fill: TakeProfitOpt = "market",
    market: MarketOpt = "auto",
) -> None:
    """Run one backtest and write an HTML and a JSON report."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None:
        raise _fail("--data is required (a CSV file or VENUE:SYMBOL:TF); see --help")
    try:
        _check_out(out)
        start = _time(from_, "--from")
        end = _time(to, "--to")
        config = make_config(
            cash=cash,
            fee=fee,
            maker_fee=maker_fee,
            slippage_bps=slippage_bps,
            risk=risk,
            smc_mode=smc_mode,
            participation=participation,
            intrabar=intrabar,
            take_profit=take_profit_fill,
            spot=is_spot(data, market),
        )
        candles = load_data(
            data, venue=venue, symbol=symbol, timeframe=timeframe, start=start, end=end, repair=repair
        )
        instance = build_strategy(strategy, parse_params(param))
        name = _SAFE.sub("_", instance.strategy_name())
        with _progress() as bar:
            task = bar.add_task(f"{name} {candles.symbol} {candles.timeframe}", total=len(candles))
            result = run_backtest(
                instance, candles, config, progress=lambda done, total: bar.update(task, completed=done)
            )
    except SmcAgentError as exc:
        raise _fail(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    stem = f"backtest_{name}_{_run_name(candles)}"
    html_path, json_path = out / f"{stem}.html", out / f"{stem}.json"
    html_path.write_text(to_html(result), encoding="utf-8")
    json_path.write_text(json.dumps(to_json(result), indent=1, default=str), encoding="utf-8")
    console.print(_stats_table(result.stats, f"{name} on {candles.symbol} {candles.timeframe}"))
    console.print(f"open position at the end: {escape(describe_open_position(result.open_position))}")
    console.print(f"report: {html_path}\njson:   {json_path}")
    if result.rejections:  # a run without trades must not look like one without signals
        first = result.rejections[0]
        err.print(
            f"[yellow]warning:[/] the venue refused {len(result.rejections)} order(s); "
            f"the first: {escape(first.reason)}"
        )
    if result.failures:  # the report shows where it stopped; a script must not take the run for a success
        err.print(f"[bold red]strategy failed:[/] {escape(result.failures[0].error)}")
        raise typer.Exit(1)


def is_spot(spec: str, market: str) -> bool:
    """``--market``: a spot account for ``spot``, or with ``auto`` for spot data: a CSV named like the
    shared data's spot files (``binance_spot_BTCUSDT_5m.csv``), or stored candles of a spot symbol
    (``binance:BTC/USDT:5m``; a derivative's symbol has a settle currency, ``BTC/USDT:USDT``)."""
    if market not in ("auto", "spot", "margin"):
        raise ConfigError(f"--market must be 'auto', 'spot' or 'margin', got {market!r}")
    if market != "auto":
        return market == "spot"
    if Path(spec).suffix.lower() == ".csv" or Path(spec).exists():
        return "_spot_" in Path(spec).name.lower()
    return spec.count(":") == 2  # VENUE:BASE/QUOTE:TF


def _run_name(candles: CandleData) -> str:
    """``binance_BTCUSDT_1h``: the venue is in it, so runs of one symbol on two venues do not
    overwrite each other's reports."""
    symbol = _SAFE.sub("_", candles.symbol.replace("/", ""))
    return f"{_SAFE.sub('_', candles.venue)}_{symbol}_{candles.timeframe}"


def _stats_json(stats: dict[str, float | int | str]) -> dict[str, Any]:
    """As the single run's JSON has them: NaN as null, infinities as "inf" / "-inf" (JSON has neither)."""
    return {key: json_number(value) for key, value in stats.items()}


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise ConfigError(f"--grid expects k=v1,v2,..., got {item!r}")
        if key.strip() in grid:  # the last one silently won
            raise ConfigError(f"--grid {key.strip()} given twice")
        grid[key.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    return grid


@app.command()
def sweep(  # noqa: PLR0917 - Typer maps parameters onto options
    data: DataOpt = None,
    strategy: StrategyOpt = "smc",
    grid: Annotated[list[str] | None, typer.Option("--grid", help="k=v1,v2,... (repeatable)")] = None,
    param: ParamOpt = None,
    from_: FromOpt = None,
    to: ToOpt = None,
    metric: Annotated[
        str, typer.Option("--metric", help=f"statistic to rank by: {', '.join(METRICS)}")
    ] = "sharpe",
    workers: Annotated[int | None, typer.Option("--workers", help="processes (default: all cores)")] = None,
    walk: Annotated[int, typer.Option("--walk-forward", help="rolling walk-forward folds (0 = off)")] = 0,
    top: Annotated[int, typer.Option("--top", min=1, help="rows to show")] = 10,
    out: OutOpt = Path(),
    symbol: SymbolOpt = None,
    timeframe: TfOpt = None,
    venue: VenueOpt = None,
    cash: CashOpt = "10000",
    fee: FeeOpt = "0.001",
    maker_fee: MakerOpt = None,
    slippage_bps: SlipOpt = 0.0,
    risk: RiskOpt = "live",
    smc_mode: SmcOpt = "replay",
    repair: RepairOpt = False,
    participation: ParticipationOpt = None,
    intrabar: IntrabarOpt = "stop_first",
    take_profit_fill: TakeProfitOpt = "market",
    market: MarketOpt = "auto",
) -> None:
    """Run a parameter grid over all cores and rank the results (optionally walk-forward)."""
    if data is None:
        raise _fail("--data is required (a CSV file or VENUE:SYMBOL:TF); see --help")
    try:
        _check_out(out)
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1 (default: all cores), got {workers}")
        grid_values = parse_grid(grid or [])
        config = make_config(
            cash=cash,
            fee=fee,
            maker_fee=maker_fee,
            slippage_bps=slippage_bps,
            risk=risk,
            smc_mode=smc_mode,
            participation=participation,
            intrabar=intrabar,
            take_profit=take_profit_fill,
            spot=is_spot(data, market),
        )
        candles = load_data(
            data,
            venue=venue,
            symbol=symbol,
            timeframe=timeframe,
            start=_time(from_, "--from"),
            end=_time(to, "--to"),
            repair=repair,
        )
        base = parse_params(param)
        name = _SAFE.sub("_", load_strategy(strategy).strategy_name())
        with _progress() as bar:
            task = bar.add_task(f"sweep {name}", total=None)

            def tick(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if walk:
                folds = walk_forward(
                    strategy,
                    candles,
                    grid_values,
                    config,
                    folds=walk,
                    metric=metric,
                    workers=workers,
                    progress=tick,
                    base_params=base,
                )
            else:
                rows = run_sweep(
                    strategy,
                    candles,
                    grid_values,
                    config,
                    metric=metric,
                    workers=workers,
                    progress=tick,
                    base_params=base,
                )
    except SmcAgentError as exc:
        raise _fail(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    stem = f"sweep_{name}_{_run_name(candles)}"
    if walk:
        table = Table(title=f"walk-forward ({walk} folds) by {metric}")
        for col in (
            "train from",
            "test from",
            "best params",
            f"train {metric}",
            f"test {metric}",
            "test return",
            "error",
        ):
            table.add_column(col)
        for f in folds:
            table.add_row(
                str(pd.Timestamp(f.train[0], unit="ms")),
                str(pd.Timestamp(f.test[0], unit="ms")),
                str(f.best_params),
                f"{f.train_stats.get(metric, float('nan')):.4f}",
                f"{f.test_stats.get(metric, float('nan')):.4f}",
                f"{f.test_stats.get('total_return', float('nan')):.2%}",
                escape(f.error),
            )
        failed = [f.error for f in folds if f.error]
        payload: Any = [
            {**f.__dict__, "train_stats": _stats_json(f.train_stats), "test_stats": _stats_json(f.test_stats)}
            for f in folds
        ]
    else:
        rows = rank(rows, metric)
        table = Table(title=f"top {top} of {len(rows)} by {metric}")
        for col in ("params", metric, "total_return", "max_drawdown", "trades", "error / note"):
            table.add_column(col)
        for r in rows[:top]:
            table.add_row(
                str(r.params),
                f"{r.stats.get(metric, float('nan')):.4f}",
                f"{r.stats.get('total_return', float('nan')):.2%}",
                f"{r.stats.get('max_drawdown', float('nan')):.2%}",
                str(r.stats.get("trades", "")),
                escape(r.error or r.note),
            )
        payload = [
            {"params": r.params, "stats": _stats_json(r.stats), "error": r.error, "note": r.note}
            for r in rows
        ]
        failed = [] if any(not r.error for r in rows) else [rows[0].error]
    path = out / f"{stem}.json"
    path.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    console.print(table)
    console.print(f"results: {path}")
    if not walk:
        chart = out / f"{stem}.html"
        title = f"sweep: {name} on {candles.symbol} {candles.timeframe}, ranked by {metric}"
        chart.write_text(sweep_html(rows, metric, title), encoding="utf-8")
        console.print(f"chart:   {chart}")
    if failed:  # results are written (they say why); a script must not take them for a clean run
        err.print(
            f"[bold red]failed:[/] {escape(failed[0])}"
            + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")
        )
        raise typer.Exit(1)
