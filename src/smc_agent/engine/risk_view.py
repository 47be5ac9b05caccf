"""The engine's lazy :class:`~smc_agent.risk.context.RiskView`: each figure is computed from the
portfolio and the order book only when a check reads it (most checks never need most figures)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import TYPE_CHECKING

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import TradingState
from smc_agent.core.ids import ClientOrderId
from smc_agent.core.money import ZERO, to_decimal
from smc_agent.execution.ids import child_role
from smc_agent.risk.context import OpenOrderView

if TYPE_CHECKING:
    from smc_agent.engine.engine import TradingEngine

_NO_IDS: frozenset[ClientOrderId] = frozenset()


class LazyRiskView:
    __slots__ = (
        "_cmd",
        "_e",
        "_equity",
        "_notional",
        "_open",
        "_others",
        "_position",
        "now_ms",
        "reference_ts",
        "replaying",
        "state",
    )

    def __init__(self, engine: TradingEngine, cmd: SubmitOrder, now_ms: int) -> None:
        self._e = engine
        self._cmd = cmd
        self.now_ms = now_ms
        self.state: TradingState = engine.state
        self.reference_ts: int | None = engine._ref_ts.get(cmd.instrument_id)
        self.replaying: str | None = engine.replaying
        self._position: Decimal | None = None
        self._others: Decimal | None = None
        self._notional: dict[str, Decimal] | None = None
        self._open: list[OpenOrderView] | None = None
        self._equity: Decimal | None = None

    @property
    def position_qty(self) -> Decimal:
        """Signed quantity of the order's symbol summed over every venue."""
        if self._position is None:
            symbol = self._cmd.instrument_id.symbol
            total = ZERO
            for iid, pos in self._e.portfolio.positions.items():
                if iid.symbol == symbol:
                    total += pos.qty
            self._position = total
        return self._position

    @property
    def others_position_qty(self) -> Decimal:
        """What bots other than the order's hold of its symbol, summed over every venue: running or
        not (a stopped bot's position, restored, is in the account all the same). Nothing to add up
        when the books hold the order's bot alone."""
        if self._others is None:
            e, cmd = self._e, self._cmd
            total = ZERO
            books = e.portfolio.bot_positions
            if len(books) > 1 or (cmd.strategy_id, cmd.instrument_id) not in books:
                symbol, sid = cmd.instrument_id.symbol, cmd.strategy_id
                for (owner, iid), pos in books.items():
                    if owner != sid and iid.symbol == symbol:
                        total += pos.qty
            self._others = total
        return self._others

    @property
    def positions_notional(self) -> Mapping[str, Decimal]:
        if self._notional is None:
            pf = self._e.portfolio
            notional: dict[str, Decimal] = {}
            for iid, pos in pf.positions.items():
                if pos.qty and iid in pf.marks:
                    value = abs(pos.qty) * to_decimal(pf.marks[iid])
                    notional[iid.symbol] = notional.get(iid.symbol, ZERO) + value
            self._notional = notional
        return self._notional

    @property
    def open_orders(self) -> Sequence[OpenOrderView]:
        if self._open is None:
            self._open = [
                OpenOrderView(
                    o.side,
                    o.order_type,
                    o.qty,
                    o.price,
                    o.trigger_price,
                    o.reduce_only,
                    o.filled_qty,
                    child_role(o.client_order_id) is not None,
                )
                for o in self._e.orders.open_orders(self._cmd.instrument_id)
                if o.client_order_id not in self._cmd.cancel_first  # a close cancels them first
            ]
        return self._open

    @property
    def open_orders_total(self) -> int:
        return self._e.orders.open_count

    @property
    def recent_order_times(self) -> Sequence[int]:
        return self._e.orders.recent_times

    @property
    def recent_client_ids(self) -> AbstractSet[ClientOrderId]:
        return _NO_IDS  # the engine answers a known client order id itself (idempotent submit)

    @property
    def equity(self) -> Decimal:
        if self._equity is None:
            pf = self._e.portfolio
            self._equity = pf.equity() if pf.marks else pf.cash
        return self._equity
