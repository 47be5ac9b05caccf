"""Game day (issue 8, "Done means"), as far as the system exists today: separate processes on
PostgreSQL and Redis. The Binance simulator goes down; the watcher process opens an incident by itself;
Slack and Statuspage receivers get the initial alert; the exchange-failover runbook moves to Bybit (whose
simulator answers); the incident is resolved; the resolution arrives; the post-mortem has the timeline.
Trading continuing on Bybit needs the trading engine process, which is not part of this test yet.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
import typer
from typer.testing import CliRunner

from smc_agent.cli import incident as incident_cli
from smc_agent.cli import runbook as runbook_cli

from .receivers import HttpReceiver

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def _bars_csv(path: Path, n: int = 700) -> Path:
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
        time.sleep(0.01)
    return time.monotonic() - start


def _simulator(venue: str, csv: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smc_agent.cli.exchange_sim",
            "--venue",
            venue,
            "--port",
            "0",
            "--data",
            str(csv),
            "--speed",
            "0",
            "--start-index",
            "600",
        ],
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


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def receivers() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(default_json={"id": "sp-gameday"}).start()
    yield receiver
    receiver.stop()


def test_gameday_binance_down(
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
    }
    csv = _bars_csv(tmp_path / "binance_spot_BTCUSDT_1m.csv")
    binance, bybit = _simulator("binance", csv, env), _simulator("bybit", csv, env)  # start in parallel
    binance_url, bybit_url = _served_url(binance, "binance"), _served_url(bybit, "bybit")
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from smc_agent.cli.incident import app; app()",
            "watch",
            "--poll",
            "0.2",
            "--venue-probe",
            f"binance={binance_url}/api/v3/ping",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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
        assert watcher.stdout is not None
        _wait(lambda: "running" in watcher.stdout.readline(), 90, "the watcher process")  # type: ignore[union-attr]
        _drain(watcher.stdout)
        assert httpx.get(f"{binance_url}/api/v3/ping").is_success

        fault = time.monotonic()
        _stop(binance, signal.SIGKILL)  # the Binance API goes away
        _wait(lambda: arrived("/slack", "INCIDENT ALERT - P1"), 30, "the Slack alert")
        fault_to_slack = time.monotonic() - fault
        _wait(lambda: arrived("/v1/pages/gd/incidents", "investigating"), 30, "the Statuspage incident")
        fault_to_statuspage = time.monotonic() - fault
        alert = next(r.body["text"] for r in receivers.received if r.path == "/slack")
        inc = re.search(r"\*\*Incident ID\*\*: (INC-\S+)", alert).group(1)  # type: ignore[union-attr]
        assert "Exchange API failure: binance unreachable" in alert

        out = cli(
            "runbook", "run", "exchange-failover", "--yes", "--incident", inc, "--reason", "binance down"
        )
        fault_to_failover = time.monotonic() - fault
        assert "failover activated: binance -> bybit" in out and "exchange-failover: completed" in out
        assert httpx.get(f"{bybit_url}/v5/market/time").is_success  # the backup venue serves

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
    finally:
        _stop(watcher, signal.SIGINT)
        _stop(binance)
        _stop(bybit)

    rows = [line for line in postmortem.splitlines() if line.startswith("| ") and ":" in line.split("|")[1]]
    kinds = [row.split("|")[3].strip() for row in rows]
    first = {k: kinds.index(k) for k in ("opened", "notified", "runbook", "status_changed", "resolved")}
    assert (
        first["opened"] == 0
        and first["opened"] < first["runbook"] < first["status_changed"] < first["resolved"]
    )
    assert "activate-failover: done" in postmortem and "| time to resolve |" in postmortem
    print(
        f"\ngame day: fault->Slack {fault_to_slack:.2f} s, fault->Statuspage {fault_to_statuspage:.2f} s, "
        f"fault->failover active {fault_to_failover:.2f} s"
    )
