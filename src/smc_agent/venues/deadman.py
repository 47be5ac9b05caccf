"""Keeps a venue's dead-man switch armed while trading may continue.

While ``may_trade()`` is true (gateway healthy, trading not halted) the countdown is pushed back every
``window_s / 3``; once it turns false the keeper stops refreshing and the venue cancels every open
order when the countdown runs out, even if this process is dead or cut off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from smc_agent.core.errors import SmcAgentError
from smc_agent.core.ids import InstrumentId
from smc_agent.logs import get_logger
from smc_agent.venues.gateway import CcxtGateway

log = get_logger("smc_agent.venues.deadman")


class DeadManKeeper:
    def __init__(
        self,
        gateway: CcxtGateway,
        instruments: Sequence[InstrumentId],
        *,
        window_s: float,
        may_trade: Callable[[], bool],
        refresh_every_s: float | None = None,
    ) -> None:
        if not gateway.has_dead_man_switch:
            raise ValueError(f"{gateway.venue} offers no dead-man switch")
        self.gateway = gateway
        self.instruments = list(instruments) or [InstrumentId(gateway.venue, "BTC/USDT")]
        self.window_s = window_s
        self.may_trade = may_trade
        self.refresh_every_s = refresh_every_s or window_s / 3
        self.refreshes = 0
        self.failures = 0

    async def refresh(self) -> bool:
        if not self.may_trade():
            return False
        targets = self.instruments if self.gateway.quirks.dead_man_per_symbol else self.instruments[:1]
        for iid in targets:
            try:
                await self.gateway.arm_dead_man_switch(iid, self.window_s)
            except SmcAgentError as exc:
                self.failures += 1
                log.warning("dead-man switch refresh failed", venue=self.gateway.venue, error=str(exc))
                return False
        self.refreshes += 1
        return True

    async def run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.refresh_every_s)
