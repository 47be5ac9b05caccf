"""Publishes trading-state and venue changes on the bus, however they happened (API, CLI, or the
playbook's raw ``SET emergency_halt``), by observing the control facade once a second."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi.concurrency import run_in_threadpool

from smc_agent.api.bus import JsonBus
from smc_agent.api.deps import ApiContainer
from smc_agent.logs import get_logger

log = get_logger("smc_agent.api.watcher")


class ControlWatcher:
    def __init__(self, container: ApiContainer, bus: JsonBus, *, interval_s: float = 1.0) -> None:
        self._container = container
        self._bus = bus
        self._interval = interval_s
        self._last: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="control-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await run_in_threadpool(self.poll_once)
            except Exception as exc:
                log.warning("control watcher could not observe the control store", error=str(exc))
            await asyncio.sleep(self._interval)

    def poll_once(self) -> None:
        snap = self._container.trading_control.observe()
        trading: dict[str, Any] = {
            "state": snap.state.value,
            "reason": snap.reason,
            "latch": None if snap.latch is None else snap.latch.status,
        }
        self._publish_if_changed("trading_state", trading)
        venue = self._container.failover.status()
        venue.pop("stranded_positions", None)
        self._publish_if_changed("venue", venue)

    def _publish_if_changed(self, channel: str, data: dict[str, Any]) -> None:
        text = json.dumps(data, sort_keys=True, default=str)
        if self._last.get(channel) != text:
            self._last[channel] = text
            self._bus.publish(channel, data)
