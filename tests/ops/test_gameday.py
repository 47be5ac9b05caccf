"""Game day (issue 8, "Done means"): the system runs as separate processes on PostgreSQL and Redis
(two exchange simulators, data pipeline, trading engine, execution engine with a backup venue, the
incident watcher; Slack and Statuspage receivers on loopback). A ``drill`` bot trades on Binance; the
Binance simulator is killed; the watcher opens an incident by itself and Slack and Statuspage get the
initial alert; the exchange-failover runbook moves to Bybit and waits for trades there; new orders
and trades are recorded on Bybit and the Bybit simulator knows them; the incident is resolved, the
resolution arrives and the post-mortem has the timeline. Prints fault->alert and fault->trading on
the backup venue (docs/operations/gameday.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from smc_agent.cli import incident as incident_cli
from smc_agent.cli import runbook as runbook_cli
from smc_agent.control.failover import FAILOVER_KEY
from smc_agent.control.redis_kv import RedisKeyValueStore
from smc_agent.core.enums import OrderStatus
from smc_agent.core.ids import ClientOrderId, InstrumentId
from smc_agent.live.wiring import ExecutionConfig, build_venue
from smc_agent.store.db import make_engine, make_session_factory, transaction
from smc_agent.store.models.trading import Order, Trade
from smc_agent.store.trading_repo import TradingRepo
from smc_agent.store.users import create_user
from smc_agent.venues.simulator import DEFAULT_API_KEY, DEFAULT_API_SECRET

from .receivers import HttpReceiver, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
SPEED = "60"  # one 1m candle closes every second: the drill bot orders once a second


def _bars_csv(path: Path, n: int = 1_500) -> Path:
    lines = ["timestamp_ms,datetime_utc,open,high,low,close,volume"]
    start = 1_700_000_000_000
    for i in range(n):
        price = 40_000 + (i % 50) * 10
        lines.append(f"{start + i * 60_000},x,{price},{price + 20},{price - 20},{price + 5},1.5")
    path.write_text("\n".join(lines) + "\n")
    return path


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - start


def _steady(count: Callable[[], int], timeout: float) -> None:
    """Wait until the start-up backlog is worked off (trades come one per candle, >= 0.5 s apart);
    returns right after a trade, so that no order is in flight (that case: tests/live)."""
    deadline = time.monotonic() + timeout
    seen, last_at, gaps = count(), time.monotonic(), 0
    while gaps < 2:
        assert time.monotonic() < deadline, "trading did not settle to one trade per candle"
        time.sleep(0.02)
        now, n = time.monotonic(), count()
        if n != seen:
            gaps = gaps + 1 if now - last_at >= 0.5 else 0
            seen, last_at = n, now


def _smc(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    """One ``smc-agent`` process; its output goes to ``log`` (shown when the test fails)."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "smc_agent.cli.main", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _simulator(venue: str, port: int, csv: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    replay = ["--data", str(csv), "--speed", SPEED, "--start-index", "600"]
    return subprocess.Popen(
        [sys.executable, "-m", "smc_agent.cli.exchange_sim", "--venue", venue, "--port", str(port), *replay],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _drain(stream: IO[str]) -> None:
    """Keep reading a child's output so that it never blocks on a full pipe."""
    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()


def _served_url(proc: subprocess.Popen[str], venue: str) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        assert line, f"{venue} simulator exited before serving"
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        if match:
            _drain(proc.stderr)
            return match.group(1)
    raise AssertionError(f"{venue} simulator did not start")


def _stop(procs: list[subprocess.Popen[str]], sig: int = signal.SIGTERM) -> None:
    """Signal every process first, then wait for each (they shut down in parallel)."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        proc.send_signal(sig)
    for proc in running:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _drill_bot(database_url: str) -> str:
    factory = make_session_factory(make_engine(database_url))
    with transaction(factory) as session:
        user_id = create_user(session, username="gameday", password="gameday-pass-1234").id
    return TradingRepo(factory).create_bot(
        user_id=user_id,
        name="gameday drill",
        strategy="drill",
        venue="binance",
        symbols=["BTC/USDT"],
        timeframes=["1m"],
        parameters={"qty": 0.001, "every": 1},
    )


def _at_venue(url: str, cids: list[str]) -> dict[str, Any]:
    """Ask the Bybit simulator (its signed v5 API, through ccxt) for each client order id."""

    async def ask() -> dict[str, Any]:
        config = ExecutionConfig(
            database_url="", venue="bybit", venue_url=url, api_key=DEFAULT_API_KEY, secret=DEFAULT_API_SECRET
        )
        venue = build_venue(config)
        try:
            iid = InstrumentId("bybit", "BTC/USDT")
            return {c: await venue.fetch_order(iid, client_order_id=ClientOrderId(c)) for c in cids}
        finally:
            await venue.close()

    return asyncio.run(ask())


@pytest.fixture
def receivers() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(default_json={"id": "sp-gameday"}).start()
    yield receiver
    receiver.stop()


def test_gameday_binance_down_trading_continues_on_bybit(
    migrated_pg_url: str, redis_pair: tuple[str, str], receivers: HttpReceiver, tmp_path: Path
) -> None:
    control_url, session_url = redis_pair
    env = {
        **os.environ,
        "SMC_DATABASE_URL": migrated_pg_url,
        "SMC_REDIS_URL": control_url,
        "SMC_SESSION_REDIS_DB": session_url.rsplit("/", 1)[1],
        "SMC_DATA_DIR": str(tmp_path),
        "SMC_SLACK_CRITICAL_WEBHOOK": f"{receivers.url}/slack",
        "SMC_STATUSPAGE_PAGE_ID": "gd",
        "SMC_STATUSPAGE_TOKEN": "sp-token",
        "SMC_STATUSPAGE_API_URL": f"{receivers.url}/v1",
        "SMC_NOTIFY_MIN_INTERVAL_S": "0.2",
        "SMC_ACTOR": "gameday",
        "SMC_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    if env.pop("PYTHONDONTWRITEBYTECODE", None):  # six children compile the same modules: cache them
        env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "smc-gameday-pycache")
    bot_id = _drill_bot(migrated_pg_url)
    factory = make_session_factory(make_engine(migrated_pg_url))

    def orders() -> list[Order]:
        with transaction(factory) as s:
            return list(s.scalars(select(Order).order_by(Order.created_at)))

    def trades(exchange: str) -> list[Trade]:
        with transaction(factory) as s:
            return list(s.scalars(select(Trade).where(Trade.exchange == exchange)))

    csv = _bars_csv(tmp_path / "binance_spot_BTCUSDT_1m.csv")
    binance_url, bybit_url = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    # everything starts at once (the engines wait for the venues); the watcher once the venues serve
    binance = _simulator("binance", int(binance_url.rsplit(":", 1)[1]), csv, env)
    bybit = _simulator("bybit", int(bybit_url.rsplit(":", 1)[1]), csv, env)
    venues = ["--venue-url", binance_url, "--backup-venue-url", bybit_url]

    def health() -> list[str]:
        return ["--health-port", str(free_port())]

    logs = {name: tmp_path / f"{name}.log" for name in ("data", "trading", "execution", "watcher")}
    services = [
        _smc(
            ["serve", "execution-engine", *venues, "--name", "exec-gd", *health()],
            env,
            logs["execution"],
        ),
        _smc(
            ["serve", "trading-engine", "--venue-url", binance_url, "--name", "trading-gd", *health()],
            env,
            logs["trading"],
        ),
        _smc(
            ["serve", "data-pipeline", *venues, "--warmup", "2", "--poll", "0.25", *health()],
            env,
            logs["data"],
        ),
    ]
    assert _served_url(binance, "binance") == binance_url and _served_url(bybit, "bybit") == bybit_url
    probe = f"binance={binance_url}/api/v3/ping"
    services.append(
        _smc(["incident", "watch", "--poll", "0.2", "--venue-probe", probe], env, logs["watcher"])
    )
    root = typer.Typer()
    root.add_typer(incident_cli.app, name="incident")
    root.add_typer(runbook_cli.app, name="runbook")
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(root, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def arrived(path: str, needle: str) -> bool:
        return any(r.path == path and needle in str(r.body) for r in receivers.received)

    try:
        # 1. the drill bot trades on Binance (every process up: candles -> orders -> fills)
        _wait(lambda: len(trades("binance")) >= 2, 60, "trades on binance")
        assert all(t.bot_id == bot_id for t in trades("binance"))
        _wait(lambda: "running" in logs["watcher"].read_text(), 30, "the watcher process")
        _steady(lambda: len(trades("binance")), 30)

        # 2. the Binance API goes away
        fault = time.time()
        _stop([binance], signal.SIGKILL)

        # 3. an incident opens by itself; Slack and Statuspage get the initial alert
        _wait(lambda: arrived("/slack", "INCIDENT ALERT - P1"), 30, "the Slack alert")
        _wait(lambda: arrived("/v1/pages/gd/incidents", "investigating"), 30, "the Statuspage incident")
        slack = next(r for r in receivers.received if r.path == "/slack" and "ALERT" in r.body["text"])
        statuspage = next(r for r in receivers.received if r.path == "/v1/pages/gd/incidents")
        inc = re.search(r"\*\*Incident ID\*\*: (INC-\S+)", slack.body["text"]).group(1)  # type: ignore[union-attr]
        assert "Exchange API failure: binance unreachable" in slack.body["text"]

        # 4. the on-call runs the exchange-failover runbook; it waits for trades on Bybit
        out = cli(
            "runbook",
            "run",
            "exchange-failover",
            "--yes",
            "--incident",
            inc,
            "--reason",
            "binance down",
            "--wait-backup-trades",
            "30",
        )
        assert "failover activated: binance -> bybit" in out and "exchange-failover: completed" in out
        assert re.search(r"trades last 5 min by exchange: \{[^}]*'bybit': [1-9]", out), out
        kv = RedisKeyValueStore(control_url)
        failover = json.loads(kv.get(FAILOVER_KEY) or "{}")
        kv.close()
        assert failover["active"] == "bybit" and failover["actor"] == "gameday"

        # 5. trading continues on Bybit: orders and trades in PostgreSQL ...
        _wait(lambda: len(trades("bybit")) >= 2, 20, "trading to go on on bybit")
        every = orders()
        exchanges = [o.exchange for o in every]
        first_bybit = exchanges.index("bybit")
        assert set(exchanges[:first_bybit]) == {"binance"} and set(exchanges[first_bybit:]) == {"bybit"}, (
            "after the failover every new order goes to bybit"
        )
        on_bybit = [o for o in every if o.exchange == "bybit" and o.status == OrderStatus.FILLED.value]
        assert on_bybit and all(o.bot_id == bot_id for o in on_bybit)
        # ... and the Bybit simulator knows them (its own API, by client order id)
        reports = _at_venue(bybit_url, [o.client_order_id for o in on_bybit])
        for o in on_bybit:
            report = reports[o.client_order_id]
            assert report.status is OrderStatus.FILLED and report.filled_qty == o.quantity
            assert report.instrument_id == InstrumentId("bybit", "BTC/USDT")
        stats = httpx.get(f"{bybit_url}/admin/stats").json()
        assert stats["venue"] == "bybit" and sum(
            n for path, n in stats["requests"].items() if "order/create" in path
        ) >= len(on_bybit)

        # 6. resolution, the resolution message, the post-mortem
        cli("incident", "update", inc, "--status", "monitoring", "--note", "Trading routed to Bybit")
        cli(
            "incident",
            "resolve",
            inc,
            "--root-cause",
            "Binance API outage",
            "--resolution",
            "Failed over to Bybit",
            "--no-data-lost",
        )
        _wait(lambda: arrived("/slack", "INCIDENT RESOLVED"), 30, "the Slack resolution")
        _wait(
            lambda: any(
                r.method == "PATCH" and r.body["incident"]["status"] == "resolved"
                for r in receivers.received
                if r.path.startswith("/v1/")
            ),
            30,
            "the Statuspage resolution",
        )
        resolution = next(
            r.body["text"]
            for r in receivers.received
            if r.path == "/slack" and "INCIDENT RESOLVED" in r.body["text"]
        )
        assert "**Data Lost**: No data was lost" in resolution
        postmortem = cli("incident", "postmortem", inc)
    except BaseException:
        for name, path in logs.items():
            print(f"----- {name} log (tail)\n{path.read_text()[-4000:]}")
        raise
    finally:
        _stop(services, signal.SIGINT)
        _stop([binance, bybit])

    rows = [line for line in postmortem.splitlines() if line.startswith("| ") and ":" in line.split("|")[1]]
    kinds = [row.split("|")[3].strip() for row in rows]
    first = {k: kinds.index(k) for k in ("opened", "notified", "runbook", "status_changed", "resolved")}
    assert (
        first["opened"] == 0
        and first["opened"] < first["runbook"] < first["status_changed"] < first["resolved"]
    )
    assert "| opened | automation | watcher | P1 incident opened: Exchange API failure: binance" in rows[0]
    assert "activate-failover: done failover activated: binance -> bybit" in postmortem
    assert re.search(r"trades-per-exchange: done trades last 5 min by exchange: \{[^}]*'bybit'", postmortem)
    assert "| time to resolve |" in postmortem and "**Data lost**: no" in postmortem
    first_order = every[first_bybit]
    first_fill = min(o.closed_at for o in on_bybit if o.closed_at is not None)
    fault_to_slack = slack.at - fault
    fault_to_statuspage = statuspage.at - fault
    fault_to_failover = failover["since_ms"] / 1000 - fault
    fault_to_backup_order = first_order.created_at.timestamp() - fault
    fault_to_backup_trade = first_fill.timestamp() - fault
    print(
        f"\ngame day: fault->Slack {fault_to_slack:.2f} s, fault->Statuspage {fault_to_statuspage:.2f} s, "
        f"fault->failover active {fault_to_failover:.2f} s, "
        f"fault->first order on bybit {fault_to_backup_order:.2f} s, "
        f"fault->first trade on bybit {fault_to_backup_trade:.2f} s"
    )
