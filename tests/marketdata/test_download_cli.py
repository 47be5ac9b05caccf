"""``smc-agent data download`` against the simulator: killed with SIGKILL, rerun, resumes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from smc_agent.cli import data as data_cli
from smc_agent.marketdata.store import SqlCandleStore
from smc_agent.venues.simulator import ExchangeSimulator
from tests.venues.simkit import sim_config


async def _run_cli(args: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smc_agent.cli.data",
        "download",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_download_cli_resumes_after_being_killed(
    db_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    async with ExchangeSimulator(sim_config("binance", n=3000, start_index=2900)) as sim:
        feed = sim.state.feeds["BTCUSDT"]
        since = sim.state.to_visible(feed.bars[0].open_time)
        until = sim.state.to_visible(feed.bars[2000].open_time)
        state_dir = tmp_path / "state"
        args = [
            "binance",
            "BTC/USDT",
            "1m",
            "--since",
            str(since),
            "--until",
            str(until),
            "--url",
            sim.url,
            "--state-dir",
            str(state_dir),
            "--page-size",
            "100",
        ]
        env = {
            **os.environ,
            "SMC_DATABASE_URL": db_url,
            "SMC_DATA_DIR": str(tmp_path),
            "SMC_LOG_LEVEL": "WARNING",
        }
        sim.fault(slow_ms=150)
        proc = await _run_cli(args, env)
        state_file = state_dir / f"binance_BTCUSDT_1m_{since}_{until}.json"
        for _ in range(
            1200
        ):  # wait until a few pages are stored (startup is slow on a busy box), kill it hard
            await asyncio.sleep(0.05)
            if state_file.exists() and json.loads(state_file.read_text())["pages"] >= 3:
                break
        proc.send_signal(signal.SIGKILL)
        await proc.communicate()
        store = SqlCandleStore(session_factory)
        partial = len(store.get("binance", "BTC/USDT", "1m", start_ms=since, end_ms=until))
        assert 300 <= partial < 2000
        sim.fault(clear=True)
        klines_before = sim.state.requests["/api/v3/klines"]
        # the rerun goes through the same Typer command in-process (a worker thread with its own event
        # loop, the simulator keeps serving on this one): a second interpreter start costs ~10 s of imports
        result = await asyncio.to_thread(CliRunner().invoke, data_cli.app, ["download", *args], env=env)
        assert result.exit_code == 0, result.output
        assert "complete: stored" in result.output
        resumed_pages = sim.state.requests["/api/v3/klines"] - klines_before
        assert resumed_pages == (2000 - partial + 99) // 100  # only the missing pages were fetched
        rows = store.get("binance", "BTC/USDT", "1m", start_ms=since, end_ms=until)
        assert [c.open_time for c in rows] == list(range(since, until, 60_000))


def test_data_validate_reports_the_problems_of_a_stored_series(
    db_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    # `smc-agent data` said "download, validate and store candles"; `data validate` did not exist
    from smc_agent.core.candle import Candle

    hour = 3_600_000
    store = SqlCandleStore(session_factory)
    good = [Candle("binance", "BTC/USDT", "1h", i * hour, 10.0, 11.0, 9.0, 10.5, 1.0) for i in (0, 1, 3)]
    store.put([*good, Candle("binance", "BTC/USDT", "1h", 4 * hour, 0.0, 0.0, 0.0, 0.0, 1.0)])
    env = {"SMC_DATABASE_URL": db_url, "SMC_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(data_cli.app, ["validate", "binance", "BTC/USDT", "1h"], env=env)
    assert result.exit_code == 1, result.output
    assert "4 candles stored" in result.output
    assert "non_positive: 1" in result.output and "gap: 1" in result.output
    clean = CliRunner().invoke(data_cli.app, ["validate", "binance", "BTC/USDT", "4h"], env=env)
    assert clean.exit_code == 1 and "no stored candles" in clean.output


def test_download_arguments_that_cannot_be_right_are_one_line(db_url: str, tmp_path: Path) -> None:
    # epoch seconds were read as milliseconds (January 1970: "complete", nothing stored), a --url
    # without a scheme and a corrupt checkpoint ended in tracebacks
    env = {"SMC_DATABASE_URL": db_url, "SMC_DATA_DIR": str(tmp_path)}
    base = ["download", "binance", "BTC/USDT", "1m"]
    seconds = CliRunner().invoke(
        data_cli.app, [*base, "--since", "1704067200", "--until", "1704070800"], env=env
    )
    assert seconds.exit_code == 2 and "looks like epoch seconds" in seconds.output, seconds.output
    times = ["--since", "2024-01-01", "--until", "2024-01-02"]
    bad_url = CliRunner().invoke(data_cli.app, [*base, *times, "--url", "notaurl"], env=env)
    assert bad_url.exit_code == 2 and "expected http(s)://host" in bad_url.output, bad_url.output
    state = tmp_path / "state"
    state.mkdir()
    since, until = 1_704_067_200_000, 1_704_153_600_000
    (state / f"binance_BTCUSDT_1m_{since}_{until}.json").write_text("{not json")
    args = [*base, *times, "--url", "http://127.0.0.1:9", "--state-dir", str(state)]
    corrupt = CliRunner().invoke(data_cli.app, args, env=env)
    assert corrupt.exit_code == 2 and "is corrupt" in corrupt.output, corrupt.output
