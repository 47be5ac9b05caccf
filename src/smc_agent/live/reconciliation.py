"""The order gateway's reconciliation with the venues: at start-up and before a resume, every open order
is brought to the venue's state, orders open at the venue that the database does not hold as open are
found, and so are the venue's fills of orders the database does not know (a restore from an older
backup); an unexplained mismatch halts trading (latched). Polling keeps working orders in step."""

# mypy: disable-error-code="misc"
# (each method is typed with the OrderGateway it is part of: mypy wants a self type that is a
# supertype of the mixin, which the composed class is not)
from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from smc_agent.core.enums import OrderStatus
from smc_agent.core.errors import ConfigError, OrderNotFound, SmcAgentError
from smc_agent.core.fill import Fill
from smc_agent.core.ids import ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from smc_agent.core.ports import OrderReport, VenuePort
from smc_agent.execution.ids import OUR_PREFIX
from smc_agent.live.fill_history import fills_between
from smc_agent.live.incidents import raise_incident
from smc_agent.logs import get_logger
from smc_agent.store.trading_repo import StoredOrder

if TYPE_CHECKING:
    from smc_agent.live.gateway import OrderGateway

log = get_logger("smc_agent.live.gateway")

# the venue's fills compared with the database's orders at each reconciliation: from the newest
# order's creation less this (our clock against the venue's), in at most this many requests (at
# 1000 fills a page and 24 h a request, 60 days of history or 200,000 fills)
HISTORY_MARGIN_MS = 60_000
HISTORY_REQUESTS = 200
HISTORY_MAX_AGE_MS = 3 * 86_400_000  # symbols whose newest order is older: compared only after a restore


def _since_sent_s(stored: StoredOrder) -> float:
    """Seconds since ``stored`` was last sent (never sent: as long ago as can be)."""
    if stored.submitted_at is None:
        return float("inf")
    return (datetime.now(UTC) - stored.submitted_at).total_seconds()  # UTCDateTime: always aware


class Reconciliation:
    """Part of :class:`~smc_agent.live.gateway.OrderGateway` (its state lives there)."""

    async def reconcile(self: OrderGateway) -> list[str]:
        """Bring every open database order up to the venue's state and look for orders the database
        does not know. An unexplained mismatch halts trading (latched) and raises an alert."""
        problems: list[str] = []
        unreachable: dict[str, str] = {}
        histories: dict[str, tuple[list[str], list[OrderReport], bool]] = {}
        for name, venue in self.venues.items():  # read only: outside the lock, sends go on meanwhile
            try:
                histories[name] = await self._venue_history(name, venue)
            except (SmcAgentError, TimeoutError, OSError) as exc:
                unreachable[name] = f"venue {name} unreachable: {exc}"
        async with self.send_lock:
            for stored in self.repo.open_orders():
                if stored.exchange not in self.venues:
                    problems.append(f"order {stored.client_order_id} on unconfigured venue {stored.exchange}")
            for name, venue in self.venues.items():
                try:
                    if name in unreachable:
                        raise TimeoutError(unreachable[name])
                    found = await self._reconcile_venue(name, venue)
                    strangers, known, complete = histories[name]
                    for report in known:  # e.g. an intent whose acknowledgement was lost: applied
                        await self._apply(report)
                    problems += found + strangers
                    if complete and not found and not strangers:  # a restore's fills: all known here
                        self.repo.history_verified(name)
                except (SmcAgentError, TimeoutError, OSError) as exc:
                    unreachable[name] = unreachable.get(name) or f"venue {name} unreachable: {exc}"
                    problems.append(unreachable[name])
        self.last_reconcile_problems, self._unreachable = problems, unreachable
        unexplained = [p for p in problems if p not in unreachable.values()]
        if unexplained:
            reason = "reconciliation mismatch: " + "; ".join(unexplained)[:500]
            log.error(
                "ALERT reconciliation found an unexplained mismatch: halting trading", problems=unexplained
            )
            self.control.halt(reason=reason, actor="execution-engine", source="reconciliation")
            self.enter_halt(reason)
            raise_incident(
                self.on_incident,
                cause_key="reconciliation.mismatch",
                priority="P1",
                title="Reconciliation mismatch with the venue: trading halted",
                impact=reason,
                source="execution-engine",
            )
        elif not self.blocking(problems):
            self.reconciled = True
        return problems

    def blocking(self: OrderGateway, problems: list[str]) -> list[str]:
        """The problems that keep orders from going out: all but an unreachable venue that a failover
        moved away from (it is reconciled when it answers again; new orders go elsewhere)."""
        active = self.router.refresh() if self.router is not None else None
        if active is None or active not in self.venues:
            return problems
        ignored = {p for venue, p in self._unreachable.items() if venue != active}
        return [p for p in problems if p not in ignored]

    async def _reconcile_venue(self: OrderGateway, name: str, venue: VenuePort) -> list[str]:
        problems: list[str] = []
        reports = await asyncio.wait_for(venue.fetch_open_orders(), self.venue_timeout_s)
        by_cid = {r.client_order_id: r for r in reports}
        for stored in self.repo.open_orders(name):
            if stored.client_order_id in self._unconfirmed:  # settled by poll() within its window
                continue
            if stored.bot_id:  # after a restart: events of orders sent before it still name their bot
                self._strategies.setdefault(stored.client_order_id, StrategyId(stored.bot_id))
            report = by_cid.get(ClientOrderId(stored.client_order_id))
            if report is not None:  # still working at the venue: one listing covers it
                await self._apply(report)
            elif await self._refresh_one(stored) is None and stored.status != OrderStatus.INITIALIZED:
                problems.append(
                    f"order {stored.client_order_id} is {stored.status} in the database but unknown at {name}"
                )
        for r in reports:
            if not r.client_order_id.startswith(OUR_PREFIX):
                continue
            stored_row = self.repo.get(r.client_order_id)
            if stored_row is None:
                problems.append(f"open order {r.client_order_id} at {name} is not in the database")
            elif not stored_row.is_open:  # e.g. rejected here, placed by a request that arrived late
                problems.append(
                    f"open order {r.client_order_id} at {name} is {stored_row.status} in the database"
                )
        return problems

    async def _venue_history(
        self: OrderGateway, name: str, venue: VenuePort
    ) -> tuple[list[str], list[OrderReport], bool]:
        """The venue's fills since the newest order the database holds for each symbol (after a
        restore: since the backup) must all be of orders it knows. A database restored from a backup
        older than some fills, or an account traded outside the engine, holds positions that are not
        the venue's: each such order is a problem until the operator accepts the venue's history
        (``smc-agent reconcile accept``). Returns the problems, and the reports of orders the database
        knows by client id only (an intent whose acknowledgement was lost), to apply, and whether every
        symbol was compared. A symbol the venue does not know (delisted) is skipped and said (the
        comparison is then not complete); any other refusal or a venue that does not answer raises."""
        problems: list[str] = []
        known: list[OrderReport] = []
        complete = True
        starts = self.repo.history_starts(
            name, margin_ms=HISTORY_MARGIN_MS, max_age_ms=HISTORY_MAX_AGE_MS, symbols=self.traded_symbols
        )
        for symbol, since in sorted(starts.items()):
            iid = InstrumentId(name, symbol)
            try:
                fills = await self._fills_since(venue, iid, since)
            except ConfigError as exc:  # ccxt's BadSymbol: a pair the venue no longer lists
                complete = False
                log.warning(
                    "venue fills not compared: the venue refused the symbol",
                    venue=name,
                    symbol=symbol,
                    error=str(exc),
                )
                continue
            if fills is None:
                problems.append(
                    f"the fills at {name} {symbol} since {datetime.fromtimestamp(since / 1000, UTC):%Y-%m-%d %H:%M} UTC need more than {HISTORY_REQUESTS} "
                    "requests of the venue's history to compare"
                )
                continue
            ids = {str(f.venue_order_id) for f in fills if f.venue_order_id}
            for vid in sorted(ids - self.repo.known_venue_order_ids(name, ids)):
                report = await self._find_by_venue_id(venue, iid, VenueOrderId(vid))
                if report is not None and self.repo.get(report.client_order_id) is not None:
                    known.append(report)
                    continue
                cid = "" if report is None else f" ({report.client_order_id})"
                problems.append(
                    f"order {vid}{cid} filled at {name} {symbol} is not in the database (restored from "
                    "an older backup, or traded outside the engine): `smc-agent reconcile accept` "
                    "once the account is reconciled by hand"
                )
        return problems, known, complete

    async def _fills_since(
        self: OrderGateway, venue: VenuePort, iid: InstrumentId, since: int
    ) -> list[Fill] | None:
        """The venue's fills of ``iid`` since ``since`` up to now (and the margin of our clock against
        the venue's); None beyond the requests allowed."""
        until = int(time.time() * 1000) + HISTORY_MARGIN_MS
        return await fills_between(
            venue,
            iid,
            since_ms=since,
            until_ms=until,
            max_requests=HISTORY_REQUESTS,
            timeout_s=self.venue_timeout_s,
        )

    async def _find_by_venue_id(
        self: OrderGateway, venue: VenuePort, iid: InstrumentId, vid: VenueOrderId
    ) -> OrderReport | None:
        try:
            return await asyncio.wait_for(venue.fetch_order(iid, venue_order_id=vid), self.venue_timeout_s)
        except OrderNotFound:
            return None

    async def _refresh_one(self: OrderGateway, stored: StoredOrder) -> OrderReport | None:
        """Ask the venue about one stored order and apply the answer. A write-ahead intent the venue
        does not know never reached it (crash before the send): it is closed, not resent."""
        if stored.client_order_id in self._unconfirmed:  # asked by poll() until its window has passed
            return None
        venue = self.venues[stored.exchange]
        iid = InstrumentId(stored.exchange, stored.symbol)
        cid = ClientOrderId(stored.client_order_id)
        report = await self._find(venue, iid, cid)
        if report is None:
            # sent just before a restart: its request (every retry within venue_timeout_s of the
            # send) may still reach the venue within the receive window
            left = self.late_ack_window_s + self.venue_timeout_s - _since_sent_s(stored)
            if stored.status == OrderStatus.INITIALIZED and left > 0:
                self._unconfirm(cid, iid, None, left)
            elif stored.status == OrderStatus.INITIALIZED:
                reason = (
                    "write-ahead intent never reached the venue (process stopped before the send); not resent"
                )
                self.repo.mark(cid, OrderStatus.REJECTED, reason)
                await self._event_rejected(iid, cid, reason)
            return None
        await self._apply(report)
        return report

    async def poll(self: OrderGateway) -> None:
        """Pick up fills and cancels of working orders (one open-orders listing per venue). A venue
        that does not answer (e.g. the one just failed over from) never stops the others' polling.
        While halted, a venue whose entries the cancel-all could not verify cancelled is tried again."""
        if self.halted_reason is not None and self.cancel_unverified:
            self.enter_halt(self.halted_reason)  # a new cancel-all, unless one is running
        self._check_passed_stops()
        found = await self._look_up_unconfirmed() if self._unconfirmed else {}
        async with self.send_lock:
            if found:
                await self._settle_unconfirmed(found)
            for name, venue in self.venues.items():
                try:
                    await self._poll_venue(name, venue)
                except (SmcAgentError, TimeoutError, OSError) as exc:
                    log.warning("polling working orders failed", venue=name, error=str(exc))

    async def _poll_venue(self: OrderGateway, name: str, venue: VenuePort) -> None:
        stored_open = [o for o in self.repo.open_orders(name) if o.status != OrderStatus.INITIALIZED]
        if not stored_open:
            return
        reports: dict[str, OrderReport] = {
            r.client_order_id: r
            for r in await asyncio.wait_for(venue.fetch_open_orders(), self.venue_timeout_s)
        }
        for stored in stored_open:
            report = reports.get(stored.client_order_id)
            if report is None:
                await self._refresh_one(stored)
            elif report.filled_qty != stored.filled_quantity or report.status.value != stored.status:
                await self._apply(report)
