"""Order routing follows the active venue of the :class:`~smc_agent.control.failover.FailoverManager`.

The active venue lives in the control store, so ``activate_failover('binance', 'bybit')`` run in any
process moves NEW orders to Bybit: every new order reads the active venue (one GET, like the
per-order halt check), so no order sent after the failover is written goes to the old venue (the
data pipeline may switch first; a cached venue would send its first candle's order to the dead
venue). The execution service also refreshes it every ``refresh_s`` in the background, so stranded
positions are flagged and the switch is logged within a second even when no order arrives. On a switch, positions left on the old venue are flagged stranded in the database
(``positions.stranded``) and stay listed in ``FailoverManager.status()['stranded_positions']`` until
they are closed; the old venue stays configured, so reconciliation, polling and reduce-only exits
there go on. Reduce-only orders go to the venue that holds the position they reduce: the command's own
venue when it holds enough, else the one configured venue that does (a position opened on the backup
after a failover is closed there, and its protective stop and target are placed there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide
from smc_agent.core.ids import InstrumentId
from smc_agent.core.money import ZERO
from smc_agent.execution.ids import parent_order_id
from smc_agent.logs import get_logger
from smc_agent.store.trading_repo import TradingRepo, bot_id_of

log = get_logger("smc_agent.live.routing")


class VenueRouter:
    def __init__(
        self,
        *,
        active_venue: Callable[[], str],
        repo: TradingRepo,
        configured: Callable[[], set[str]],
        refresh_s: float = 0.5,
    ) -> None:
        self._read = active_venue
        self.repo = repo
        self._configured = configured
        self.refresh_s = refresh_s
        self.active: str | None = None
        self.switches = 0
        self._flag_pending = False
        self._stranded: int | None = None  # positions left on other venues, as of the last flagging

    def refresh(self) -> str | None:
        """Read the active venue now; on a change, flag stranded positions and log the failover.
        A control store (or database) that does not answer keeps the last known venue: routing never
        fails an order by itself (the halt check fails closed), and flagging is retried."""
        try:
            venue = self._read()
        except Exception as exc:  # ControlStoreUnavailable, or the embedded store's database
            log.warning("active venue unknown; keeping the last one", error=f"{type(exc).__name__}: {exc}")
            return self.active
        if venue != self.active:
            previous, self.active = self.active, venue
            self._flag_pending = True
            if previous is not None:
                self.switches += 1
                log.warning(
                    f"failover: order routing switched {previous} -> {venue}; positions on other venues "
                    "are stranded until reconciled",
                    previous_venue=previous,
                    active_venue=venue,
                )
                if venue not in self._configured():
                    log.error(
                        "ALERT failover target venue is not configured in this execution engine", venue=venue
                    )
        if self._flag_pending:
            try:
                stranded = self.repo.mark_stranded(active_venue=venue)
            except Exception as exc:
                log.error("could not flag stranded positions; retrying", error=f"{type(exc).__name__}: {exc}")
            else:
                self._flag_pending = False
                self._stranded = stranded
                log.info("order routing to the active venue", active_venue=venue, stranded_positions=stranded)
        return venue

    def _parent_venue(self, cmd: SubmitOrder) -> str | None:
        """The venue the entry of a protective child order (``-sl`` / ``-tp``) was sent to, if known."""
        cid = cmd.client_order_id
        entry = parent_order_id(cid)
        if entry is None:
            return None
        try:
            parent = self.repo.get(entry)
        except Exception as exc:
            log.warning("entry of an exit unknown", cid=cid, error=f"{type(exc).__name__}: {exc}")
            return None
        return None if parent is None or parent.filled_quantity <= 0 else parent.exchange

    def route(self, cmd: SubmitOrder) -> SubmitOrder:
        """The command to send: a new (not reduce-only) order moves to the active venue (read now); a
        reduce-only one goes where the position it reduces is held."""
        if cmd.reduce_only:
            return self._route_exit(cmd)
        venue = self.refresh()
        if venue is None or venue == cmd.instrument_id.venue or venue not in self._configured():
            return cmd
        return dataclasses.replace(cmd, instrument_id=InstrumentId(venue, cmd.instrument_id.symbol))

    def _route_exit(self, cmd: SubmitOrder) -> SubmitOrder:
        own, symbol = cmd.instrument_id.venue, cmd.instrument_id.symbol
        if self.active == own and self._stranded == 0:  # no failover in sight: nothing held elsewhere
            return cmd
        parent = self._parent_venue(cmd)
        if parent is not None:  # a stop or target: where its entry filled, which its coins are on
            if parent == own or parent not in self._configured():
                return cmd
            log.info("exit routed to the venue of its entry", cid=cmd.client_order_id, venue=parent)
            return dataclasses.replace(cmd, instrument_id=InstrumentId(parent, symbol))
        try:
            held = self.repo.holdings(symbol, bot_id=bot_id_of(cmd.strategy_id))
        except Exception as exc:  # the database: the exit stays on its venue, as before a failover
            log.warning("positions unknown; exit sent to its own venue", error=f"{type(exc).__name__}: {exc}")
            return cmd
        sign = 1 if cmd.side is OrderSide.SELL else -1  # a sell reduces a long, a buy a short

        def covers(venue: str) -> bool:
            return held.get(venue, ZERO) * sign >= cmd.qty

        if covers(own):
            return cmd
        others = [v for v in held if v != own and v in self._configured() and covers(v)]
        if len(others) == 1:
            log.info(
                "exit routed to the venue holding the position", cid=cmd.client_order_id, venue=others[0]
            )
            return dataclasses.replace(cmd, instrument_id=InstrumentId(others[0], symbol))
        if any(q * sign > 0 for v, q in held.items() if v != own):
            log.warning(
                "exit spans venues: sent to its own venue, which fills what it holds; the rest stays open there",
                cid=cmd.client_order_id,
                holdings={v: str(q) for v, q in held.items()},
            )
        return cmd
