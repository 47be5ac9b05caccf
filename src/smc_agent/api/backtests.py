"""Backtest jobs: a ``backtests`` row per submission, run in a worker thread when a runner is wired.

``BacktestRunner`` is the seam to the backtest layer: it receives the job parameters and a progress
callback (0..1) and returns the result summary and, optionally, the path of an HTML report.
Without a runner, jobs stay ``queued`` for a separate backtest worker to pick up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from smc_agent.logs import get_logger
from smc_agent.store.models import BacktestRun
from smc_agent.store.types import utcnow

log = get_logger("smc_agent.api.backtests")


@dataclass(frozen=True, slots=True)
class RunOutcome:
    result: dict[str, Any]
    report_path: str | None = None


BacktestRunner = Callable[[dict[str, Any], Callable[[float], None]], RunOutcome]


class BacktestLauncher:
    def __init__(
        self, factory: sessionmaker[Session], runner: BacktestRunner | None, *, workers: int = 1
    ) -> None:
        self._factory = factory
        self._runner = runner
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backtest") if runner else None
        )
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self._runner is not None

    def submit(self, job_id: str) -> None:
        if self._pool is not None:
            self._pool.submit(self._run, job_id)

    def _update(self, job_id: str, **values: Any) -> None:
        with self._factory() as session, session.begin():
            row = session.get(BacktestRun, job_id)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)

    def _run(self, job_id: str) -> None:
        assert self._runner is not None
        with self._factory() as session:
            row = session.get(BacktestRun, job_id)
            params = dict(row.parameters) if row is not None else None
        if params is None:
            return
        self._update(job_id, status="running", progress=0.0)
        last = {"p": 0.0}

        def progress(fraction: float) -> None:
            if fraction - last["p"] >= 0.02 or fraction >= 1.0:
                last["p"] = fraction
                self._update(job_id, progress=round(min(max(fraction, 0.0), 1.0), 4))

        try:
            outcome = self._runner(params, progress)
        except Exception as exc:
            log.warning("backtest failed", backtest_id=job_id, error=str(exc))
            self._update(
                job_id, status="failed", error=f"{exc.__class__.__name__}: {exc}"[:2000], finished_at=utcnow()
            )
            return
        self._update(
            job_id,
            status="done",
            progress=1.0,
            result=outcome.result,
            report_path=outcome.report_path,
            finished_at=utcnow(),
        )

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
