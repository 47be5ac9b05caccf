"""Repositories of the trading runtime: orders (write-ahead), trades (fills), positions, signals, bots.

Every method runs in its own short transaction (the execution engine's unit of durability is one
order step), so a ``kill -9`` between two calls leaves the database consistent: an order row exists
before the venue hears of it, and a fill is stored together with the order's new filled quantity.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.enums import OrderSide, OrderStatus
from smc_agent.core.errors import RetryableError
from smc_agent.core.ids import ClientOrderId
from smc_agent.core.ports import OrderReport
from smc_agent.core.position import booked_terms, leaves_dust, symbol_assets
from smc_agent.execution.ids import child_order_id
from smc_agent.store.models import AuditLog, Bot, ControlState, Order, Position, Signal, Trade, User

T = TypeVar("T")
ZERO = Decimal(0)
OPEN_STATUSES = (*tuple(s.value for s in OrderStatus if s.is_open), OrderStatus.INITIALIZED.value)
DONE_STATUSES = tuple(
    s.value for s in OrderStatus if s.is_terminal
)  # (with a fill: filled, canceled, expired)


@dataclass(frozen=True, slots=True)
class StoredOrder:
    client_order_id: str
    venue_order_id: str | None
    exchange: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None
    status: str
    filled_quantity: Decimal
    average_price: Decimal | None
    reduce_only: bool
    tag: str | None
    bot_id: str | None
    user_id: str | None
    stop_price: Decimal | None = None  # a stop order's trigger price
    stop_loss: Decimal | None = None  # an entry's exits, attached when it fills
    take_profit: Decimal | None = None
    submitted_at: datetime | None = None  # when it was last sent (UTC); None: never sent
    cancel_requested: bool = False  # a cancel was asked for it

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class Denial:
    """An order the risk gate refused: what the order was and why it was refused."""

    client_order_id: str
    bot_id: str | None
    exchange: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None
    reason: str
    check: str
    figures: Mapping[str, str]
    stop_price: Decimal | None = None
    time_in_force: str | None = None
    reduce_only: bool = False
    tag: str | None = None
    ts: int = 0
    stop_loss: Decimal | None = None  # the exits the order asked for (an exit_prices denial's subject)
    take_profit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """What applying a venue report changed: the status move and the newly filled quantity."""

    previous: str
    status: str
    fill_qty: Decimal
    fill_price: Decimal | None
    trade_id: str | None
    fee: Decimal = ZERO  # of the newly filled part, in ``fee_currency``
    fee_currency: str = ""
    written_off: Decimal | None = None  # dust the fill left, written off (signed), and its cost
    written_off_cost: Decimal | None = None

    @property
    def changed(self) -> bool:
        return self.previous != self.status or self.fill_qty > 0


def _stored(row: Order) -> StoredOrder:
    return StoredOrder(
        client_order_id=row.client_order_id,
        venue_order_id=row.venue_order_id,
        exchange=row.exchange,
        symbol=row.symbol,
        side=row.side,
        type=row.type,
        quantity=row.quantity,
        price=row.price,
        status=row.status,
        filled_quantity=row.filled_quantity,
        average_price=row.average_price,
        reduce_only=row.reduce_only,
        tag=row.tag,
        bot_id=row.bot_id,
        user_id=row.user_id,
        stop_price=row.stop_price,
        stop_loss=row.stop_loss,
        take_profit=row.take_profit,
        submitted_at=row.submitted_at,
        cancel_requested=row.cancel_requested_at is not None,
    )


RESTORED_KEY = "venue_history_unverified_since"


def _verified_key(exchange: str) -> str:
    return f"venue_history_verified:{exchange}"


def _accepted_key(exchange: str) -> str:
    return f"venue_history_accepted:{exchange}"


def _dt_to_ms(when: datetime) -> int:
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000)


def _ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


ACTIVE_BOT_STATES = ("starting", "running")  # the bots a trading engine runs


class TradingRepo:
    """Orders, fills and positions of the execution engine (synchronous, one transaction per call)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    @property
    def session_factory(self) -> sessionmaker[Session]:
        """The sessions of this repository's database (for the stores beside it, e.g. candles)."""
        return self._factory

    def _tx(self, func: Callable[[Session], T]) -> T:
        with self._factory() as session, session.begin():
            return func(session)

    def ping(self) -> None:
        self._tx(lambda s: s.execute(text("SELECT 1")))

    # ----------------------------------------------------------------- orders
    def record_intent(
        self, cmd: SubmitOrder, *, user_id: str | None = None, bot_id: str | None = None
    ) -> bool:
        """Write-ahead: persist the order intent before it is sent. False if the id is already known.

        The order of a bot belongs to the bot's owner (``user_id`` is only used for orders of no bot)."""
        return self.record_intents((cmd,), user_id=user_id, bot_id=bot_id)

    def record_intents(
        self, cmds: Sequence[SubmitOrder], *, user_id: str | None = None, bot_id: str | None = None
    ) -> bool:
        """:meth:`record_intent` for orders sent together (an OCO list), in one transaction: all are
        written, or none (False if any id is already known)."""

        def op(session: Session) -> None:
            owner = _owner(session, bot_id, user_id)
            now = datetime.now(UTC)
            for cmd in cmds:
                session.add(
                    Order(
                        client_order_id=cmd.client_order_id,
                        user_id=owner,
                        bot_id=bot_id,
                        exchange=cmd.instrument_id.venue,
                        symbol=cmd.instrument_id.symbol,
                        side=cmd.side.value,
                        type=cmd.order_type.value,
                        time_in_force=cmd.time_in_force.value,
                        reduce_only=cmd.reduce_only,
                        quantity=cmd.qty,
                        price=cmd.price,
                        stop_price=cmd.trigger_price,
                        stop_loss=cmd.stop_loss,
                        take_profit=cmd.take_profit,
                        status=OrderStatus.INITIALIZED.value,
                        tag=(cmd.tag or None) and cmd.tag[:64],
                        reason=None if cmd.reference_price is None else f"ref={cmd.reference_price}",
                        submitted_at=now,  # the gateway writes the intent as it sends the order
                    )
                )

        try:
            self._tx(op)
        except IntegrityError:
            if all(self.get(cmd.client_order_id) is None for cmd in cmds):
                raise  # not a duplicate id: another constraint (e.g. an unknown bot) failed
            return False
        return True

    def record_denial(self, denial: Denial) -> bool:
        """Persist an order the risk gate denied (status ``denied``, never sent), with the check that
        denied it and the figures compared. False if the client order id is already stored. Raises
        :class:`RetryableError` when the database cannot be reached (the caller keeps the denial)."""

        def op(session: Session) -> bool:
            if session.scalar(select(Order.id).where(Order.client_order_id == denial.client_order_id)):
                return False
            session.add(
                Order(
                    client_order_id=denial.client_order_id,
                    user_id=_owner(session, denial.bot_id, None),
                    bot_id=denial.bot_id,
                    exchange=denial.exchange,
                    symbol=denial.symbol,
                    side=denial.side,
                    type=denial.type,
                    time_in_force=denial.time_in_force,
                    reduce_only=denial.reduce_only,
                    quantity=denial.quantity,
                    price=denial.price,
                    stop_price=denial.stop_price,
                    stop_loss=denial.stop_loss,
                    take_profit=denial.take_profit,
                    status=OrderStatus.DENIED.value,
                    reason=denial.reason[:2000],
                    risk_check=denial.check[:64] or None,
                    risk_figures={str(k): str(v) for k, v in denial.figures.items()},
                    tag=(denial.tag or None) and denial.tag[:64],
                    closed_at=_ms_to_dt(denial.ts) if denial.ts else datetime.now(UTC),
                )
            )
            return True

        try:
            return self._tx(op)
        except IntegrityError:
            if self.get(denial.client_order_id) is None:
                raise  # not a duplicate id (e.g. the bot row is gone)
            return False  # written concurrently
        except (OperationalError, InterfaceError) as exc:  # unreachable, or not the schema it should be
            raise RetryableError(f"database unavailable: {type(exc.orig).__name__}: {exc.orig}") from exc

    def get(self, client_order_id: str) -> StoredOrder | None:
        def op(session: Session) -> StoredOrder | None:
            row = session.scalar(select(Order).where(Order.client_order_id == client_order_id))
            return None if row is None else _stored(row)

        return self._tx(op)

    def get_many(self, client_order_ids: Collection[str]) -> dict[str, StoredOrder]:
        """The stored orders among ``client_order_ids``, by client order id (one query per 500 ids)."""
        ids = list(dict.fromkeys(client_order_ids))

        def op(session: Session) -> dict[str, StoredOrder]:
            found: dict[str, StoredOrder] = {}
            for start in range(0, len(ids), 500):  # stays under every backend's bound-parameter limit
                chunk = ids[start : start + 500]
                for row in session.scalars(select(Order).where(Order.client_order_id.in_(chunk))):
                    found[row.client_order_id] = _stored(row)
            return found

        return self._tx(op) if ids else {}

    def open_orders(self, exchange: str | None = None) -> list[StoredOrder]:
        def op(session: Session) -> list[StoredOrder]:
            query = select(Order).where(Order.status.in_(OPEN_STATUSES)).order_by(Order.created_at)
            if exchange is not None:
                query = query.where(Order.exchange == exchange)
            return [_stored(r) for r in session.scalars(query)]

        return self._tx(op)

    def request_cancel(self, client_order_id: str) -> None:
        """Remember that a cancel was asked for the order (before it is sent: it is sent again at every
        poll while the order is open, across restarts)."""

        def op(session: Session) -> None:
            session.execute(
                update(Order)
                .where(Order.client_order_id == client_order_id, Order.cancel_requested_at.is_(None))
                .values(cancel_requested_at=datetime.now(UTC))
            )

        self._tx(op)

    def cancels_pending(self) -> list[StoredOrder]:
        """Open orders a cancel was asked for."""

        def op(session: Session) -> list[StoredOrder]:
            query = select(Order).where(
                Order.status.in_(OPEN_STATUSES), Order.cancel_requested_at.is_not(None)
            )
            return [_stored(r) for r in session.scalars(query.order_by(Order.created_at))]

        return self._tx(op)

    def history_starts(
        self, exchange: str, *, margin_ms: int, max_age_ms: int, symbols: Collection[str] = ()
    ) -> dict[str, int]:
        """Per symbol of ``exchange``: from when (epoch ms) the venue's fills must all be of orders
        stored here. A symbol whose newest order that reached the venue is at most ``max_age_ms`` old:
        from that order's creation less ``margin_ms``. After a restore (:meth:`mark_history_unverified`),
        every symbol with orders, a bot, or in ``symbols``: from the backup's time at the latest. Never
        before the operator's acceptance of the venue's history (:meth:`accept_venue_history`)."""

        def op(session: Session) -> dict[str, int]:
            newest = dict(
                session.execute(
                    select(Order.symbol, func.max(Order.created_at))
                    .where(Order.exchange == exchange, Order.venue_order_id.is_not(None))
                    .group_by(Order.symbol)
                ).all()
            )
            accepted = session.get(ControlState, _accepted_key(exchange))
            floor = int(accepted.value) if accepted is not None else 0
            restored = session.get(ControlState, RESTORED_KEY)
            verified = session.get(ControlState, _verified_key(exchange))
            if restored is not None and (verified is None or verified.value != restored.value):
                since_restore: int | None = int(restored.value.split(":")[0]) - margin_ms
            else:
                since_restore = None
            candidates = {*newest, *symbols}
            if since_restore is not None:
                for bot_symbols in session.scalars(select(Bot.symbols).where(Bot.venue == exchange)):
                    candidates.update(bot_symbols)
            now = datetime.now(UTC)
            starts: dict[str, int] = {}
            for symbol in candidates:
                start = None
                if symbol in newest and (now - newest[symbol]).total_seconds() * 1000 <= max_age_ms:
                    start = _dt_to_ms(newest[symbol]) - margin_ms
                if since_restore is not None:
                    start = since_restore if start is None else min(start, since_restore)
                if start is not None:
                    starts[symbol] = max(start, floor)
            return starts

        return self._tx(op)

    def mark_history_unverified(self, since_ms: int) -> None:
        """The database was restored from a backup taken at ``since_ms``: each venue's fills since then
        are compared with its orders, for every symbol, until a reconciliation of that venue finds them
        all known (:meth:`history_verified`). A later restore replaces the mark (the database is that
        backup's now: what an earlier one lost, it holds or lost again since ``since_ms``)."""

        def op(session: Session) -> None:
            mark = f"{since_ms}:{_dt_to_ms(datetime.now(UTC))}"  # the restore's own time: verify anew
            row = session.get(ControlState, RESTORED_KEY)
            if row is not None:
                row.value = mark
            else:
                session.add(ControlState(key=RESTORED_KEY, value=mark))

        self._tx(op)

    def history_verified(self, exchange: str) -> None:
        """``exchange``'s fills since the restore are all of known orders (or accepted)."""

        def op(session: Session) -> None:
            restored = session.get(ControlState, RESTORED_KEY)
            if restored is None:
                return
            row = session.get(ControlState, _verified_key(exchange))
            if row is None:
                session.add(ControlState(key=_verified_key(exchange), value=restored.value))
            else:
                row.value = restored.value

        self._tx(op)

    def accept_venue_history(
        self, exchange: str, through_ms: int, *, actor: str = "system", reason: str = ""
    ) -> None:
        """The operator reconciled ``exchange``'s account by hand up to ``through_ms``: its fills
        before then are no longer compared with the database's orders (audited, in one transaction)."""

        def op(session: Session) -> None:
            row = session.get(ControlState, _accepted_key(exchange))
            if row is None:
                session.add(ControlState(key=_accepted_key(exchange), value=str(through_ms)))
            else:
                row.value = str(max(int(row.value), through_ms))
            details = {"through_ms": through_ms, "reason": reason}
            session.add(
                AuditLog(actor=actor, action="venue_history_accepted", target=exchange, details=details)
            )

        self._tx(op)

    def known_venue_order_ids(self, exchange: str, venue_order_ids: Collection[str]) -> set[str]:
        def op(session: Session) -> set[str]:
            rows = session.scalars(
                select(Order.venue_order_id).where(
                    Order.exchange == exchange, Order.venue_order_id.in_(list(venue_order_ids))
                )
            )
            return {str(r) for r in rows}

        return self._tx(op) if venue_order_ids else set()

    def trade_ids_since(self, since_ms: int) -> set[tuple[str, str]]:
        """(client order id, venue trade id) of the fills stored since ``since_ms``: after a restart,
        the fills the restored books already hold (an unread events backlog carries them again). Keyed
        by the order's client id, which is the same in the event whichever venue the order went to."""

        def op(session: Session) -> set[tuple[str, str]]:
            rows = session.execute(
                select(Order.client_order_id, Trade.venue_trade_id)
                .join(Order, Trade.order_id == Order.id)
                .where(Trade.timestamp >= _ms_to_dt(since_ms))
            )
            return {(cid, trade_id) for cid, trade_id in rows}

        return self._tx(op)

    def entries_without_exits(self, since_ms: int) -> list[StoredOrder]:
        """Entries that ended since ``since_ms`` (however long they rested), filled at least in part,
        asked for a stop-loss or take-profit and have neither, and after which their bot placed no
        order on the symbol: they filled while the trading engine was down (or between its write and
        its exits), so their exits were never sent. One followed by a later order was handled by a
        running engine, which may have sent no exits on purpose (an entry that only closed an opposite
        position)."""

        def op(session: Session) -> list[StoredOrder]:
            candidates = list(
                session.scalars(
                    select(Order)
                    .where(
                        Order.closed_at >= _ms_to_dt(since_ms),
                        Order.filled_quantity > 0,
                        Order.status.in_(DONE_STATUSES),
                        (Order.stop_loss.is_not(None)) | (Order.take_profit.is_not(None)),
                    )
                    .order_by(Order.created_at)
                )
            )
            if not candidates:
                return []
            children = {
                child_order_id(ClientOrderId(o.client_order_id), role)
                for o in candidates
                for role in ("sl", "tp")
            }
            known = set(
                session.scalars(select(Order.client_order_id).where(Order.client_order_id.in_(children)))
            )
            latest = {  # the newest order of each bot and symbol placed since (all later ones are)
                (bot, symbol): last
                for bot, symbol, last in session.execute(
                    select(Order.bot_id, Order.symbol, func.max(Order.created_at))
                    .where(Order.created_at >= _ms_to_dt(since_ms))
                    .group_by(Order.bot_id, Order.symbol)
                )
            }
            return [
                _stored(o)
                for o in candidates
                if child_order_id(ClientOrderId(o.client_order_id), "sl") not in known
                and child_order_id(ClientOrderId(o.client_order_id), "tp") not in known
                and o.closed_at is not None
                and latest.get((o.bot_id, o.symbol), o.closed_at) <= o.closed_at
            ]

        return self._tx(op)

    def all_orders(self) -> list[StoredOrder]:
        return self._tx(lambda s: [_stored(r) for r in s.scalars(select(Order).order_by(Order.created_at))])

    def mark_sending(self, client_order_id: str) -> None:
        """Stamp the order as sent now (an order whose send came later than its intent: a close after
        its cancels): after a restart, how long a request whose answer was lost may still reach the
        venue is counted from this."""

        def op(session: Session) -> None:
            row = session.scalar(select(Order).where(Order.client_order_id == client_order_id))
            if row is not None:
                row.submitted_at = datetime.now(UTC)

        self._tx(op)

    def mark(self, client_order_id: str, status: OrderStatus, reason: str) -> None:
        def op(session: Session) -> None:
            row = session.scalar(select(Order).where(Order.client_order_id == client_order_id))
            if row is None:
                return
            row.status = status.value
            row.reason = reason[:2000]
            if status.is_terminal:
                row.closed_at = datetime.now(UTC)

        self._tx(op)

    def apply_report(
        self, report: OrderReport, *, market_price: Decimal | None = None, lot: Decimal | None = None
    ) -> ReportOutcome:
        """Bring the order row up to the venue's report; store the newly filled part as a trade and
        update the position, all in one transaction (idempotent: the same report changes nothing).
        ``lot``: the instrument's lot step, below which what a reducing fill leaves is dust (see
        :func:`_apply_fill`)."""

        def op(session: Session) -> ReportOutcome:
            row = session.scalar(
                select(Order).where(Order.client_order_id == report.client_order_id).with_for_update()
            )
            if row is None:
                raise LookupError(f"order {report.client_order_id} is not in the database")
            previous = row.status
            row.venue_order_id = report.venue_order_id or row.venue_order_id
            if row.submitted_at is None:
                row.submitted_at = datetime.now(UTC)
            delta = report.filled_qty - row.filled_quantity
            fill_price: Decimal | None = None
            trade_id: str | None = None
            fee, fee_currency = ZERO, report.fee_currency
            dust: tuple[Decimal, Decimal] | None = None
            if delta > 0:
                fill_price = _delta_price(row, report, delta)
                trade_id = f"{report.venue_order_id}-{report.filled_qty.normalize()}"
                if report.fee is not None:  # the order's fees so far, less those its earlier fills paid
                    paid = sum(  # added here: SQLite's SUM of a numeric column is a float
                        session.scalars(
                            select(Trade.fee).where(
                                Trade.order_id == row.id, Trade.fee_currency == fee_currency
                            )
                        ),
                        ZERO,
                    )
                    fee = max(report.fee - paid, ZERO)
                reference = market_price or _reference(row) or fill_price
                session.add(
                    Trade(
                        order_id=row.id,
                        user_id=row.user_id,
                        bot_id=row.bot_id,
                        exchange=row.exchange,
                        venue_trade_id=trade_id,
                        symbol=row.symbol,
                        side=row.side,
                        quantity=delta,
                        price=fill_price,
                        market_price=reference,
                        fee=fee,
                        fee_currency=fee_currency or None,
                        timestamp=_ms_to_dt(report.ts_event) if report.ts_event else datetime.now(UTC),
                    )
                )
                dust = _apply_fill(
                    session, row, delta, fill_price, fee=fee, fee_currency=fee_currency, lot=lot
                )
                row.filled_quantity = report.filled_qty
                row.average_price = report.avg_fill_price or fill_price
            if _rank(report.status) >= _rank_str(row.status) or report.status.is_terminal:
                row.status = report.status.value
            if report.status.is_terminal and row.closed_at is None:
                row.closed_at = datetime.now(UTC)
            return ReportOutcome(
                previous,
                row.status,
                max(delta, ZERO),
                fill_price,
                trade_id,
                fee,
                fee_currency if fee else "",
                *(dust or (None, None)),
            )

        return self._tx(op)

    # ----------------------------------------------------------------- positions and trades
    def positions(self) -> list[dict[str, Any]]:
        def op(session: Session) -> list[dict[str, Any]]:
            return [
                {
                    "exchange": p.exchange,
                    "symbol": p.symbol,
                    "bot_id": p.bot_id,
                    "quantity": p.quantity,
                    "average_price": p.average_price,
                    "realized_pnl": p.realized_pnl,
                    "fees": p.fees or ZERO,
                    "stranded": p.stranded,
                }
                for p in session.scalars(select(Position))
            ]

        return self._tx(op)

    def mark_stranded(self, *, active_venue: str) -> int:
        """Flag open positions on venues other than ``active_venue`` stranded (after a failover) and
        clear the flag on the active venue and on closed positions. Returns how many are stranded."""

        def op(session: Session) -> int:
            count = 0
            for p in session.scalars(select(Position).with_for_update()):
                p.stranded = p.exchange != active_venue and p.quantity != ZERO
                count += p.stranded
            return count

        return self._tx(op)

    def holdings(self, symbol: str, *, bot_id: str | None) -> dict[str, Decimal]:
        """Signed open quantity of ``symbol`` per venue for one bot (``None``: orders sent without one)."""

        def op(session: Session) -> dict[str, Decimal]:
            owner = Position.bot_id.is_(None) if bot_id is None else Position.bot_id == bot_id
            out: dict[str, Decimal] = {}
            for exchange, qty in session.execute(
                select(Position.exchange, Position.quantity).where(Position.symbol == symbol, owner)
            ):
                out[exchange] = out.get(exchange, ZERO) + qty
            return out

        return self._tx(op)

    def net_position(self, exchange: str, symbol: str) -> Decimal:
        return sum(
            (p["quantity"] for p in self.positions() if p["exchange"] == exchange and p["symbol"] == symbol),
            ZERO,
        )

    def trades(self) -> list[dict[str, Any]]:
        def op(session: Session) -> list[dict[str, Any]]:
            return [
                {
                    "venue_trade_id": t.venue_trade_id,
                    "exchange": t.exchange,
                    "symbol": t.symbol,
                    "side": t.side,
                    "quantity": t.quantity,
                    "price": t.price,
                    "fee": t.fee,
                    "fee_currency": t.fee_currency,
                }
                for t in session.scalars(select(Trade).order_by(Trade.timestamp))
            ]

        return self._tx(op)

    # ----------------------------------------------------------------- signals and bots
    def record_signal(
        self,
        *,
        exchange: str,
        symbol: str,
        timeframe: str,
        kind: str,
        direction: int,
        price: Decimal | None,
        payload: dict[str, Any],
        bot_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        self._tx(
            lambda s: s.add(
                Signal(
                    exchange=exchange,
                    symbol=symbol,
                    timeframe=timeframe,
                    kind=kind,
                    direction=direction,
                    price=price,
                    payload=payload,
                    bot_id=bot_id,
                    user_id=user_id,
                )
            )
        )

    def create_bot(
        self,
        *,
        user_id: str,
        name: str,
        strategy: str,
        venue: str,
        symbols: Sequence[str],
        timeframes: Sequence[str],
        parameters: dict[str, Any] | None = None,
        state: str = "running",
    ) -> str:
        def op(session: Session) -> str:
            bot = Bot(
                user_id=user_id,
                name=name,
                strategy=strategy,
                venue=venue,
                symbols=list(symbols),
                timeframes=list(timeframes),
                parameters=parameters or {},
                mode="paper",
                state=state,
            )
            session.add(bot)
            session.flush()
            return bot.id

        return self._tx(op)

    def bots(self, *, state: str | None = None) -> list[dict[str, Any]]:
        def op(session: Session) -> list[dict[str, Any]]:
            query = (
                select(Bot, User.role, User.is_active)
                .join(User, User.id == Bot.user_id, isouter=True)
                .order_by(Bot.created_at)
            )
            if state is not None:
                query = query.where(Bot.state == state)
            return [
                {
                    "id": b.id,
                    "user_id": b.user_id,
                    "name": b.name,
                    "strategy": b.strategy,
                    "venue": b.venue,
                    "symbols": list(b.symbols),
                    "timeframes": list(b.timeframes),
                    "parameters": dict(b.parameters),
                    "state": b.state,
                    "mode": b.mode,
                    "owner_role": role,
                    "owner_active": bool(active),
                }
                for b, role, active in session.execute(query)
            ]

        return self._tx(op)

    def bot_feeds(self, venues: Collection[str]) -> set[tuple[str, str]]:
        """The (symbol, timeframe) of each bot that runs or is starting on one of ``venues``: the
        candles the data pipeline must publish (a bot trades its first symbol on its first timeframe
        and builds its higher timeframes from those candles)."""

        def op(session: Session) -> set[tuple[str, str]]:
            rows = session.execute(
                select(Bot.symbols, Bot.timeframes).where(
                    Bot.venue.in_(list(venues)), Bot.state.in_(ACTIVE_BOT_STATES)
                )
            )
            return {(symbols[0], timeframes[0]) for symbols, timeframes in rows if symbols and timeframes}

        return self._tx(op)

    def transition_bot(self, bot_id: str, expected: str, state: str, reason: str = "") -> bool:
        """Move a bot from ``expected`` to ``state`` (compare and set: False, and nothing changed, if
        the bot is gone or its state is no longer ``expected``, e.g. a stop was requested meanwhile)."""

        def op(session: Session) -> bool:
            bot = session.scalar(select(Bot).where(Bot.id == bot_id).with_for_update())
            if bot is None or bot.state != expected:
                return False
            bot.state = state
            bot.state_reason = reason[:2000] or None
            return True

        return self._tx(op)

    def set_bot_state(self, bot_id: str, state: str, reason: str = "") -> None:
        def op(session: Session) -> None:
            bot = session.get(Bot, bot_id)
            if bot is None:
                raise LookupError(f"no bot {bot_id}")
            bot.state = state
            bot.state_reason = reason or None

        self._tx(op)


_ORDER = [
    OrderStatus.INITIALIZED,
    OrderStatus.SUBMITTED,
    OrderStatus.ACCEPTED,
    OrderStatus.TRIGGERED,
    OrderStatus.PENDING_CANCEL,
    OrderStatus.PARTIALLY_FILLED,
]


def bot_id_of(strategy_id: str) -> str | None:
    """Bots run as strategy ids ``bot_...``; other strategies' orders belong to no bot row."""
    return strategy_id if strategy_id.startswith("bot_") else None


def _owner(session: Session, bot_id: str | None, default: str | None) -> str | None:
    """The user an order belongs to: its bot's owner, else ``default``."""
    if bot_id is None:
        return default
    owner = session.scalar(select(Bot.user_id).where(Bot.id == bot_id))
    return owner if owner is not None else default


def _rank(status: OrderStatus) -> int:
    return 99 if status.is_terminal else _ORDER.index(status)


def _rank_str(status: str) -> int:
    return _rank(OrderStatus(status))


def _reference(row: Order) -> Decimal | None:
    if row.reason and row.reason.startswith("ref="):
        return Decimal(row.reason[4:])
    return row.price


def _delta_price(row: Order, report: OrderReport, delta: Decimal) -> Decimal:
    avg = report.avg_fill_price
    if avg is None:
        return report.price or row.price or ZERO
    if row.filled_quantity > 0 and row.average_price is not None:
        return (avg * report.filled_qty - row.average_price * row.filled_quantity) / delta
    return avg


def _apply_fill(
    session: Session,
    order: Order,
    qty: Decimal,
    price: Decimal,
    *,
    fee: Decimal,
    fee_currency: str,
    lot: Decimal | None = None,
) -> tuple[Decimal, Decimal] | None:
    """Book a fill into its position: held quantity (less a fee paid in the coin bought), average
    price, realised PnL (gross) and fees (in the quote currency; one in a third asset is not counted).
    What a fill that reduced the position leaves of it below ``lot`` (dust a base-coin fee left, which
    no order can sell) is written off, its cost a realised loss: it stays in the account, not in the
    bot's books (there it would add up over trades into a position no exit covers). Not while an entry
    of the bot on the symbol works with a part filled: that part is the entry's. Returns the dust and
    its cost, which the fill's event carries to the trading engine's books."""
    pos = session.scalar(
        select(Position)
        .where(
            Position.exchange == order.exchange,
            Position.symbol == order.symbol,
            Position.bot_id.is_(None) if order.bot_id is None else Position.bot_id == order.bot_id,
        )
        .with_for_update()
    )
    if pos is None:
        pos = Position(
            user_id=order.user_id,
            bot_id=order.bot_id,
            exchange=order.exchange,
            symbol=order.symbol,
            quantity=ZERO,
            average_price=ZERO,
            realized_pnl=ZERO,
            fees=ZERO,
        )
        session.add(pos)
    elif pos.user_id is None and order.user_id is not None:
        pos.user_id = order.user_id  # a position opened before its orders had an owner
    old = pos.quantity or ZERO
    side = OrderSide.BUY if order.side == "buy" else OrderSide.SELL
    quote = (symbol_assets(order.symbol) or ("", ""))[1]
    terms = booked_terms(
        order.symbol, side, qty, price, fee=fee, fee_currency=fee_currency, quote=quote, position=old
    )
    qty, fee = terms or (qty, ZERO)
    signed = qty if side is OrderSide.BUY else -qty
    new = old + signed
    if old == 0 or (old > 0) == (signed > 0):  # opening or adding
        pos.average_price = ((pos.average_price or ZERO) * abs(old) + price * qty) / abs(new)
    else:  # reducing, closing or flipping
        closed = min(abs(signed), abs(old))
        direction = 1 if old > 0 else -1
        pos.realized_pnl = (pos.realized_pnl or ZERO) + (
            price - (pos.average_price or ZERO)
        ) * closed * direction
        if new == 0:
            pos.average_price = ZERO
            pos.stranded = False  # a stranded position closed on its venue is reconciled
        elif (new > 0) != (old > 0):
            pos.average_price = price
    dust = None
    if lot is not None and leaves_dust(old, new, lot) and not _entry_working(session, order):
        dust = (new, abs(new) * (pos.average_price or ZERO))
        pos.realized_pnl = (pos.realized_pnl or ZERO) - dust[1]
        new, pos.average_price, pos.stranded = ZERO, ZERO, False
    pos.quantity = new
    pos.fees = (pos.fees or ZERO) + fee
    return dust


def _entry_working(session: Session, order: Order) -> bool:
    """An entry of ``order``'s bot on its symbol and venue is working with a part filled (other than
    ``order``): what is left of the position may be that part. One not filled yet owns none of it."""
    bot = Order.bot_id.is_(None) if order.bot_id is None else Order.bot_id == order.bot_id
    return (
        session.scalar(
            select(Order.id)
            .where(
                bot,
                Order.symbol == order.symbol,
                Order.exchange == order.exchange,
                Order.reduce_only.is_(False),
                Order.status.in_(OPEN_STATUSES),
                Order.filled_quantity > 0,
                Order.id != order.id,
            )
            .limit(1)
        )
        is not None
    )
