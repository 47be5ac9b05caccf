"""Order events of the events stream as ``/ws`` messages of their owner: ``orders`` (every order
event), ``trades`` (a fill) and, after a fill, ``positions`` (the position as ``/v1/positions`` shows it).

The owner is who the REST API shows the order to: the ``user_id`` of its row in ``orders`` (the
execution engine writes the row before it sends the order, so before any event of it), else (an
order refused before it was written) the owner of its bot. An event whose owner is unknown is not
sent at all: a message without a user id goes to every client.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.api.schemas import PositionOut
from smc_agent.live.streams import Entry
from smc_agent.store.models import Bot, Order, Position
from smc_agent.store.trading_repo import bot_id_of

Message = tuple[str, str, dict[str, Any]]  # channel, user id, data
CACHE_SIZE = 10_000


class OrderKey(NamedTuple):
    user_id: str | None
    bot_id: str | None
    exchange: str
    symbol: str


class OrderFeed:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self._orders: OrderedDict[str, OrderKey] = OrderedDict()  # an order's owner never changes

    def messages(self, entries: Iterable[Entry]) -> list[Message]:
        """Blocking (database reads): run it off the event loop."""
        out: list[Message] = []
        with self._factory() as session:
            for _entry_id, fields in entries:
                out.extend(self._messages(session, fields))
        return out

    def _messages(self, session: Session, fields: dict[str, str]) -> list[Message]:
        kind = fields.get("kind", "")
        try:
            body = json.loads(fields.get("body") or "{}")
        except ValueError:
            return []
        cid = body.get("client_order_id") if isinstance(body, dict) else None
        sid = body.get("strategy_id") if isinstance(body, dict) else None
        if not kind.startswith("Order") or not isinstance(cid, str) or not isinstance(sid, str):
            return []  # not an order event: nobody's to show
        key = self._order(session, cid)
        owner = key.user_id if key is not None else self._bot_owner(session, sid)
        if owner is None:
            return []
        data = {"type": kind, "bot_id": bot_id_of(sid), **body}
        if kind != "OrderFilled":
            return [("orders", owner, data)]
        out: list[Message] = [("trades", owner, data)]
        if key is not None:
            position = session.scalar(
                select(Position).where(
                    Position.user_id == owner,
                    Position.exchange == key.exchange,
                    Position.symbol == key.symbol,
                    Position.bot_id.is_(None) if key.bot_id is None else Position.bot_id == key.bot_id,
                )
            )
            if position is not None:
                out.append(("positions", owner, PositionOut.model_validate(position).model_dump(mode="json")))
        return out

    def _order(self, session: Session, cid: str) -> OrderKey | None:
        key = self._orders.get(cid)
        if key is None:
            row = session.execute(
                select(Order.user_id, Order.bot_id, Order.exchange, Order.symbol).where(
                    Order.client_order_id == cid
                )
            ).first()
            if row is None:
                return None
            key = self._orders[cid] = OrderKey(*row)
            if len(self._orders) > CACHE_SIZE:
                self._orders.popitem(last=False)
        return key

    def _bot_owner(self, session: Session, strategy_id: str) -> str | None:
        bot_id = bot_id_of(strategy_id)
        if bot_id is None:
            return None
        return session.scalar(select(Bot.user_id).where(Bot.id == bot_id))
