"""``smc-agent exchange-sim`` as a separate process, used by the unmodified ccxt client."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import aiohttp

from smc_agent.venues.client import make_client
from tests.venues.simkit import synthetic_bars


def _write_csv(path: Path) -> None:
    lines = ["timestamp_ms,datetime_utc,open,high,low,close,volume"]
    lines += [f"{b.open_time},x,{b.open},{b.high},{b.low},{b.close},{b.volume}" for b in synthetic_bars(700)]
    path.write_text("\n".join(lines) + "\n")


async def test_exchange_sim_command_serves_ccxt(tmp_path: Path) -> None:
    csv_path = tmp_path / "binance_spot_BTCUSDT_1m.csv"
    _write_csv(csv_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smc_agent.cli.exchange_sim",
        "--venue",
        "bybit",
        "--port",
        "0",
        "--data",
        str(csv_path),
        "--speed",
        "0",
        "--start-index",
        "600",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        url = None
        assert proc.stderr is not None
        async with asyncio.timeout(90):
            while url is None:
                line = (await proc.stderr.readline()).decode()
                assert line, "exchange-sim exited before serving"
                match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
                url = match.group(1) if match else None
        exchange = make_client("bybit", base_url=url)
        try:
            candles = await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)
            async with aiohttp.ClientSession() as http, http.post(f"{url}/admin/step", json={"candles": 2}):
                pass
            later = await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)
        finally:
            await exchange.close()
        assert len(candles) == 5 and later[-1][0] - candles[-1][0] == 2 * 60_000
    finally:
        proc.terminate()
        await proc.wait()


def test_a_replayed_files_symbol_may_be_given_as_the_unified_one(tmp_path: Path) -> None:
    # BTC/USDT@15m=file.csv made a market named "BTC//USDT"
    import pytest

    from smc_agent.venues.simulator.feed import parse_data_arg

    path = tmp_path / "candles.csv"
    assert parse_data_arg(f"BTC/USDT@15m={path}") == ("BTCUSDT", "15m", path)
    assert parse_data_arg(f"ethusdt@1h={path}") == ("ETHUSDT", "1h", path)
    with pytest.raises(ValueError, match="expected letters and digits"):
        parse_data_arg(f"BTC-USDT@1h={path}")
