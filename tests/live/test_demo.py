"""``smc-agent demo`` runs offline on the embedded default, trades, and exits cleanly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from smc_agent.store.db import make_engine, make_session_factory
from smc_agent.store.trading_repo import TradingRepo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_runs_offline_trades_and_exits_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMC_")}
    env["SMC_DATA_DIR"] = str(tmp_path)
    env["SMC_LOG_LEVEL"] = "WARNING"
    port = free_port()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "smc_agent.cli.runtime",
            "demo",
            "--duration",
            "15",
            "--offline",
            "--port",
            str(port),
            "--speed",
            "600",
        ],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "synthetic market" in out
    assert f"http://127.0.0.1:{port}" in out and "smc-agent status" in out
    repo = TradingRepo(make_session_factory(make_engine(f"sqlite:///{tmp_path / 'smc_trading.db'}")))
    orders = repo.all_orders()
    assert orders, "the demo must paper-trade"
    assert any(o.filled_quantity > 0 for o in orders)
    bots = repo.bots()
    assert [b["strategy"] for b in bots] == ["smc_fast"]


def test_run_sends_incident_alerts_from_its_own_outbox(tmp_path: Path) -> None:
    """``smc-agent run`` runs the ops workers: a halt from another process opens an incident (the
    latched halt) and its initial alert reaches the Slack webhook without a separate dispatcher."""
    import time

    from tests.ops.receivers import HttpReceiver

    receiver = HttpReceiver().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMC_")}
    env |= {
        "SMC_DATA_DIR": str(tmp_path),
        "SMC_LOG_LEVEL": "WARNING",
        "SMC_SLACK_CRITICAL_WEBHOOK": f"{receiver.url}/slack",
        "SMC_ACTOR": "oncall",
    }
    cmd = [sys.executable, "-m", "smc_agent.cli.main"]
    proc = subprocess.Popen(
        [*cmd, "run", "--offline", "--port", str(free_port()), "--speed", "600", "--duration", "120"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        for line in proc.stdout:  # the startup panel: engines and API are up
            if "smc-agent status" in line or time.monotonic() > deadline:
                break
        halted = subprocess.run(
            [*cmd, "halt", "--reason", "game day drill"],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert halted.returncode == 0, halted.stdout + halted.stderr
        deadline = time.monotonic() + 30
        while not any(r.path == "/slack" for r in receiver.received):
            assert time.monotonic() < deadline, "no Slack alert from the run process"
            time.sleep(0.1)
        text = str(next(r.body for r in receiver.received if r.path == "/slack"))
        assert "INCIDENT ALERT - P0" in text and "game day drill" in text, text
    finally:
        proc.terminate()
        proc.wait(30)
        receiver.stop()
