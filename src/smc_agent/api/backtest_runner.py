"""The backtest runner behind ``POST /v1/backtests``: candles from the store, the strategy from the
registry, the ONE engine via :func:`smc_agent.backtest.runner.run_backtest`, an HTML report on disk."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from smc_agent.api.backtests import BacktestRunner, RunOutcome
from smc_agent.core.errors import DataError

MAX_TRADES_KEPT = 500


def store_backtest_runner(factory: sessionmaker[Session], reports_dir: Path) -> BacktestRunner:
    def run(params: dict[str, Any], progress: Callable[[float], None]) -> RunOutcome:
        import pandas as pd

        from smc_agent.backtest.data import CandleData
        from smc_agent.backtest.report import to_html, to_json
        from smc_agent.backtest.runner import BacktestConfig, run_backtest
        from smc_agent.marketdata.store import END_OF_TIME_MS, SqlCandleStore
        from smc_agent.strategy.registry import shipped_strategy

        venue, symbol, timeframe = params["exchange"], params["symbol"], params["timeframe"]
        candles = SqlCandleStore(factory).get(
            venue,
            symbol,
            timeframe,
            start_ms=params.get("start_ms") or 0,
            end_ms=params.get("end_ms") or END_OF_TIME_MS,
        )
        if not candles:
            raise DataError(f"no stored candles for {venue}:{symbol}:{timeframe} in the requested range")
        frame = pd.DataFrame([c._asdict() for c in candles])
        data = CandleData.from_frame(frame, venue=venue, symbol=symbol, timeframe=timeframe)
        strategy = shipped_strategy(params["strategy"], params.get("parameters", {}))
        config = BacktestConfig(
            starting_cash=Decimal(str(params.get("initial_cash", "10000"))),
            spot=":" not in symbol,  # the venues' spot symbols (a derivative's has a settle currency)
        )
        result = run_backtest(
            strategy,
            data,
            config,
            progress=lambda done, total: progress(done / max(total, 1)),
            progress_every=max(1, len(data) // 50),
        )
        reports_dir.mkdir(parents=True, exist_ok=True)
        path = reports_dir / f"backtest-{uuid.uuid4().hex[:12]}.html"
        path.write_text(to_html(result), encoding="utf-8")
        summary = json.loads(json.dumps(to_json(result), default=str))
        summary["trades"] = summary.get("trades", [])[:MAX_TRADES_KEPT]
        summary.pop("orders", None)
        return RunOutcome(result=summary, report_path=str(path))

    return run
