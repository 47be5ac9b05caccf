"""Circuit breakers: daily loss limit -> REDUCING, max drawdown -> HALTED. Pure state machine.

Equity is compared as ``float`` here: the engine calls :meth:`Breakers.update` on every candle with
an open position and after every fill (so a loss taken by the fill that closes a position counts), and
a breaker's threshold is a fraction, not an amount of money."""

from __future__ import annotations

from dataclasses import dataclass

from smc_agent.core.enums import TradingState
from smc_agent.risk.config import RiskConfig

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Trip:
    breaker: str
    state: TradingState
    reason: str


class Breakers:
    """Tracks peak equity and start-of-day equity (UTC days) and says when a breaker trips."""

    __slots__ = (
        "config",
        "day",
        "day_start_equity",
        "last_equity",
        "max_daily_loss",
        "max_dd",
        "peak_equity",
    )

    def __init__(self, config: RiskConfig, equity: float, now_ms: int) -> None:
        self.config = config
        self.max_dd = float(config.max_drawdown) if config.max_drawdown is not None else None
        self.max_daily_loss = float(config.daily_loss_limit) if config.daily_loss_limit is not None else None
        self.peak_equity = equity
        self.day_start_equity = equity
        self.last_equity = equity
        self.day = now_ms // DAY_MS

    def update(self, equity: float, now_ms: int) -> Trip | None:
        day = now_ms // DAY_MS
        if day != self.day:
            # a day starts with the equity it inherited: the last figure seen before it, so a loss
            # taken by the day's first update (a stop filled at its first candle) counts against it
            self.day = day
            self.day_start_equity = self.last_equity
        self.last_equity = equity
        self.peak_equity = max(self.peak_equity, equity)
        if self.max_dd is not None and self.peak_equity > 0:
            dd = (self.peak_equity - equity) / self.peak_equity
            if dd >= self.max_dd:
                return Trip(
                    "max_drawdown",
                    TradingState.HALTED,
                    f"max_drawdown: drawdown {dd:.2%} from peak {self.peak_equity:.2f} reached limit "
                    f"{self.max_dd:.2%}",
                )
        if self.max_daily_loss is not None and self.day_start_equity > 0:
            loss = (self.day_start_equity - equity) / self.day_start_equity
            if loss >= self.max_daily_loss:
                return Trip(
                    "daily_loss_limit",
                    TradingState.REDUCING,
                    f"daily_loss_limit: loss {loss:.2%} since day start {self.day_start_equity:.2f} "
                    f"reached limit {self.max_daily_loss:.2%}",
                )
        return None
