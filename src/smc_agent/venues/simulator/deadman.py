"""Dead-man switch of the simulator: cancel every open order when the client stops refreshing.

Binance's futures ``countdownCancelAll`` (per symbol, ms) and Bybit's ``disconnected-cancel-all``
(seconds) both come down to a countdown the client keeps pushing back; ``0`` disarms Binance's.
"""

from __future__ import annotations

import asyncio

from smc_agent.venues.simulator.state import SimState, wall_ms


class DeadManSwitch:
    def __init__(self, state: SimState) -> None:
        self.state = state
        self._timers: dict[str | None, asyncio.TimerHandle] = {}
        self.fired: list[tuple[str | None, int]] = []  # (symbol or None for all, orders cancelled)

    def arm(self, symbol: str | None, window_ms: int) -> None:
        old = self._timers.pop(symbol, None)
        if old is not None:
            old.cancel()
        if window_ms > 0:
            loop = asyncio.get_running_loop()
            self._timers[symbol] = loop.call_later(window_ms / 1000, self._fire, symbol)

    def armed(self, symbol: str | None) -> bool:
        return symbol in self._timers

    def _fire(self, symbol: str | None) -> None:
        self._timers.pop(symbol, None)
        orders = self.state.book.open_orders(symbol)
        for order in orders:
            self.state.book.cancel(order.symbol, order.order_id, None, wall_ms())
        self.fired.append((symbol, len(orders)))

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
