"""The engine side of the halt contract (DESIGN.md §4), run by every trading / execution engine.

About 5 times a second :meth:`HaltGuard.tick`:

- refreshes the engine heartbeat (``HEARTBEAT_KEY``, 3 s TTL), so ``smc-agent resume`` knows an
  engine will verify;
- calls ``TradingControl.observe()`` (which latches ``SET emergency_halt``, alerts on expiry and
  turns ``DEL`` into a release request);
- HALTED -> the order gateway stops and cancels working entry orders;
- a release request -> runs the resume verification (database, control store, venue connectivity,
  reconciliation clean, fresh market data) through ``TradingControl.complete_release``; only a clean
  verification resumes (``trading resumed``), a failed one stays halted and says why;
- an unreachable control store -> halted; the halt is latched in the database at once and the key
  re-asserted when the store answers again, so the store coming back never resumes trading by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from smc_agent.control.trading import HEARTBEAT_KEY, ControlSnapshot, TradingControl
from smc_agent.core.control import ControlStoreUnavailable
from smc_agent.core.enums import TradingState
from smc_agent.live.gateway import OrderGateway
from smc_agent.logs import get_logger

log = get_logger("smc_agent.live.halt_guard")

AsyncCheck = Callable[[], Awaitable[str | None]]


class HaltGuard:
    def __init__(
        self,
        *,
        control: TradingControl,
        gateway: OrderGateway,
        checks: Sequence[tuple[str, AsyncCheck]],
        name: str = "execution-engine",
        interval_s: float = 0.2,
        heartbeat_ttl_s: float = 3.0,
    ) -> None:
        self.control = control
        self.gateway = gateway
        self.checks = list(checks)
        self.name = name
        self.interval_s = interval_s
        self.heartbeat_ttl_s = heartbeat_ttl_s
        self.last: ControlSnapshot | None = None
        self.stopping = False

    async def run(self) -> None:
        while not self.stopping:
            try:
                await self.tick()
            except Exception as exc:  # the guard never dies; a failing tick means halted
                log.exception("halt guard tick failed; halting", error=str(exc))
                self.gateway.enter_halt(f"halt guard failed: {exc}")
            await asyncio.sleep(self.interval_s)

    async def tick(self) -> ControlSnapshot:
        await asyncio.to_thread(self._heartbeat)
        if self.gateway.outage_latched and await asyncio.to_thread(self._store_answers):
            await asyncio.to_thread(self._reassert_halt)
        snap = await asyncio.to_thread(self.control.observe)
        self.last = snap
        if not snap.store_ok:
            self._on_store_down(snap)
            return snap
        if snap.state is TradingState.HALTED:
            latch = snap.latch
            if latch is not None and latch.status == "release_requested":
                return await self._verify_and_release(snap)
            if not self.gateway.halted:
                self.gateway.enter_halt(snap.reason)
            return snap
        self.gateway.reducing = snap.state is TradingState.REDUCING
        if self.gateway.halted:  # released elsewhere (another engine verified): verify our own side
            problems = await self._run_checks()
            if not any(problems.values()):
                self.gateway.leave_halt()
                log.warning("trading resumed: latch released and this engine's verification passed")
        return snap

    def _heartbeat(self) -> None:
        with contextlib.suppress(ControlStoreUnavailable):  # observe() reports it
            self.control.kv.set(HEARTBEAT_KEY, self.name, ttl_s=self.heartbeat_ttl_s)

    def _store_answers(self) -> bool:
        try:
            self.control.kv.ping()
        except ControlStoreUnavailable:
            return False
        return True

    def _on_store_down(self, snap: ControlSnapshot) -> None:
        self.gateway.store_outage(snap.reason)

    def _reassert_halt(self) -> None:
        """The store answers again: put the halt key back (it was lost with the store's data or never
        written) unless a person has asked for a release meanwhile."""
        latch = self.control.journal.read_latch()
        automatic = {None, f"{self.control.kv.name}:DEL"}
        if self.gateway.outage_latch_pending:
            # the database was down with the store: the halt never reached it, and nothing but an
            # operator's release may end it. Raises while a store still does not answer: retried
            self.control.halt(reason=self.gateway.outage_reason, actor=self.name, source="fail-closed")
            self.gateway.outage_latch_pending = False
            log.warning(
                "control store and database answer again; the outage's halt is latched now and trading "
                "stays halted until released",
                reason=self.gateway.outage_reason,
            )
        elif (
            latch is not None
            and latch.source == "fail-closed"
            and latch.status in ("halted", "release_requested", "key_expired")
            and latch.release_actor in automatic
        ):
            self.control.halt(reason=latch.reason, actor=self.name, source="fail-closed")
            log.warning(
                "control store answers again; trading stays halted until released", reason=latch.reason
            )
        self.gateway.outage_latched = False

    async def _run_checks(self) -> dict[str, str | None]:
        results: dict[str, str | None] = {}
        for name, check in self.checks:
            try:
                results[name] = await check()
            except Exception as exc:
                results[name] = f"{type(exc).__name__}: {exc}"
        return results

    async def _verify_and_release(self, snap: ControlSnapshot) -> ControlSnapshot:
        log.warning("release requested: running resume verification", checks=[n for n, _ in self.checks])
        results = await self._run_checks()
        checks = [(name, _constant(problem)) for name, problem in results.items()]
        after = await asyncio.to_thread(self.control.complete_release, checks, actor=self.name)
        self.last = after
        if after.state is TradingState.HALTED:
            failed = {k: v for k, v in results.items() if v}
            log.error("resume verification failed; trading stays halted", failures=failed)
            self.gateway.enter_halt(after.reason)
        else:
            self.gateway.leave_halt()
            log.warning("trading resumed", by=snap.latch.release_actor if snap.latch else None)
        return after


def _constant(problem: str | None) -> Callable[[], str | None]:
    return lambda: problem
