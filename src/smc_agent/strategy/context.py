"""What a strategy may ask of the engine running it (the engine implements this Protocol)."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from smc_agent.core.enums import OrderSide, OrderType
from smc_agent.core.ids import ClientOrderId, InstrumentId
from smc_agent.core.instrument import Instrument
from smc_agent.core.position import Position


class StrategyContext(Protocol):
    def now_ms(self) -> int: ...

    def instrument(self, instrument_id: InstrumentId) -> Instrument: ...

    def position(self, strategy: object, instrument_id: InstrumentId) -> Position:
        """``strategy``'s own position (several bots may trade one instrument of one account)."""
        ...

    def position_size(self, strategy: object, instrument_id: InstrumentId) -> float:
        """``strategy``'s signed position quantity as a float (cheap; for decisions, not accounting)."""
        ...

    def equity(self) -> float: ...

    def last_price(self, instrument_id: InstrumentId) -> float: ...

    def submit(
        self,
        strategy: object,
        *,
        instrument_id: InstrumentId,
        side: OrderSide,
        order_type: OrderType,
        qty: Decimal | None,
        price: Decimal | None,
        trigger_price: Decimal | None,
        stop_loss: Decimal | None,
        take_profit: Decimal | None,
        reduce_only: bool,
        tag: str,
        cancel_others: bool = False,
    ) -> ClientOrderId | None:
        """Risk-check and send an order; ``cancel_others``: once admitted, cancel this strategy's other
        open orders on the instrument before sending it (a close: a spot venue holds a stop's coins)."""
        ...

    def cancel(self, strategy: object, client_order_id: ClientOrderId) -> None: ...

    def cancel_all(self, strategy: object, instrument_id: InstrumentId | None) -> None: ...

    def annotate(self, strategy: object, annotation: dict[str, object]) -> None: ...
