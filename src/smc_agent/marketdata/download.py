"""Paginated candle download with resume.

Each page is fetched, validated and repaired (every repair appended to ``<state>.repairs.jsonl``),
stored in one transaction, and only then is the checkpoint advanced (written atomically). A killed
download therefore continues from the last stored page, and re-storing a page is harmless because
the store ignores candles it already has.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from smc_agent.core.candle import Candle, timeframe_ms
from smc_agent.core.ids import InstrumentId
from smc_agent.marketdata.repair import Repair, repair_candles
from smc_agent.marketdata.store import CandleStore


class CandleSource(Protocol):
    @property
    def venue(self) -> str: ...

    async def fetch_candles(
        self,
        instrument_id: InstrumentId,
        timeframe: str,
        *,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> Sequence[Candle]: ...


@dataclass(frozen=True, slots=True)
class DownloadResult:
    stored: int
    fetched: int
    pages: int
    repairs: int
    next_open_time: int
    complete: bool


Progress = Callable[[int, int], None]  # (done_ms, total_ms)


class CandleDownloader:
    def __init__(
        self, source: CandleSource, store: CandleStore, *, state_dir: Path, page_size: int = 1000
    ) -> None:
        if page_size <= 0:
            raise ValueError(f"page_size must be positive, got {page_size}")
        self.source = source
        self.store = store
        self.state_dir = state_dir
        self.page_size = page_size

    def state_path(self, symbol: str, timeframe: str, since_ms: int, until_ms: int) -> Path:
        name = f"{self.source.venue}_{symbol.replace('/', '')}_{timeframe}_{since_ms}_{until_ms}.json"
        return self.state_dir / name

    async def download(
        self, symbol: str, timeframe: str, *, since_ms: int, until_ms: int, progress: Progress | None = None
    ) -> DownloadResult:
        """Download ``[since_ms, until_ms)`` into the store, resuming from the checkpoint if any."""
        if until_ms <= since_ms:
            raise ValueError(f"--until ({until_ms}) must be after --since ({since_ms})")
        tf = timeframe_ms(timeframe)
        state_file = self.state_path(symbol, timeframe, since_ms, until_ms)
        state = _load_state(state_file)
        cursor = max(since_ms, int(state.get("cursor", since_ms)))
        stored, fetched, pages, repairs = (
            int(state.get(k, 0)) for k in ("stored", "fetched", "pages", "repairs")
        )
        iid = InstrumentId(self.source.venue, symbol)
        previous: Candle | None = None
        total = until_ms - since_ms
        while cursor < until_ms:
            page = [
                c
                for c in await self.source.fetch_candles(
                    iid, timeframe, since_ms=cursor, limit=self.page_size
                )
                if c.open_time < until_ms
            ]
            if not page:
                break
            fetched += len(page)
            pages += 1
            result = repair_candles([*([previous] if previous else []), *page], timeframe)
            fixed = [c for c in result.candles if previous is None or c.open_time > previous.open_time]
            self._log_repairs(state_file, result.repairs)
            repairs += len(result.repairs)
            stored += self.store.put(fixed, source="download")
            previous = fixed[-1] if fixed else previous
            cursor = max(cursor + tf, (fixed[-1].open_time + tf) if fixed else cursor + tf)
            _save_state(
                state_file,
                {
                    "cursor": cursor,
                    "stored": stored,
                    "fetched": fetched,
                    "pages": pages,
                    "repairs": repairs,
                    "complete": False,
                },
            )
            if progress is not None:
                progress(min(cursor, until_ms) - since_ms, total)
        complete = cursor >= until_ms
        _save_state(
            state_file,
            {
                "cursor": cursor,
                "stored": stored,
                "fetched": fetched,
                "pages": pages,
                "repairs": repairs,
                "complete": complete,
            },
        )
        return DownloadResult(stored, fetched, pages, repairs, cursor, complete)

    @staticmethod
    def _log_repairs(state_file: Path, repairs: list[Repair]) -> None:
        if not repairs:
            return
        state_file.parent.mkdir(parents=True, exist_ok=True)  # the first page's repairs come before any state
        with state_file.with_suffix(".repairs.jsonl").open("a") as fh:
            for r in repairs:
                fh.write(json.dumps(asdict(r)) + "\n")


def _load_state(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"download state {path} is corrupt ({exc}); delete it to start over") from exc
    return {k: int(v) for k, v in dict(data).items()}


def _save_state(path: Path, state: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)
