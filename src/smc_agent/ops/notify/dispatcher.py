"""Send the outbox: in order per channel, at most one message per channel per interval, retried with
exponential backoff that honours ``Retry-After``; nothing is lost while a provider is down.

A row goes ``pending`` -> ``sending`` (claimed with a lease, committed) -> ``sent`` | ``pending``
(retry) | ``dead`` (refused permanently, kept for ``smc-agent incident outbox --requeue``). A process
that dies while sending leaves a ``sending`` row whose lease expires, and the row is sent again:
delivery is at-least-once; the webhook carries an ``Idempotency-Key`` and emails a Message-ID.
Every accepted message appends a ``notified`` event to its incident's timeline.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.core.clock import Clock
from smc_agent.logs import get_logger
from smc_agent.ops.incidents.priority import EventKind
from smc_agent.ops.incidents.service import IncidentService, ms_to_dt
from smc_agent.ops.notify.provider import Delivery, DeliveryError, OutboundMessage, Provider
from smc_agent.store.db import transaction
from smc_agent.store.models import IncidentEvent, NotificationOutbox

log = get_logger("smc_agent.ops.notify")

LEASE = timedelta(seconds=60)
MAX_BACKOFF_S = 300.0


def _rowcount(result: Result[Any]) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def backoff_s(attempts: int) -> float:
    """1, 2, 4, ... seconds after the 1st, 2nd, 3rd failed attempt, capped at 5 minutes."""
    return min(MAX_BACKOFF_S, 2.0 ** max(0, attempts - 1))


@dataclass
class DispatchReport:
    sent: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return len(self.sent) + len(self.retried) + len(self.dead)


class OutboxDispatcher:
    def __init__(
        self,
        factory: sessionmaker[Session],
        providers: dict[str, Provider],
        *,
        clock: Clock,
        min_interval_s: float = 1.0,
    ) -> None:
        self._factory = factory
        self._providers = providers
        self._clock = clock
        self._interval = timedelta(seconds=min_interval_s)
        self._last_attempt: dict[str, datetime] = {}

    def _now(self) -> datetime:
        return ms_to_dt(self._clock.timestamp_ms())

    def dispatch_once(self) -> DispatchReport:
        """Try the head message of every configured channel that is due; returns what happened."""
        report = DispatchReport()
        for channel in sorted(self._providers):
            claimed = self._claim_head(channel)
            if claimed is not None:
                self._deliver(channel, claimed, report)
        return report

    def _claim_head(self, channel: str) -> OutboundMessage | None:
        now = self._now()
        with transaction(self._factory) as session:
            head = session.scalars(
                select(NotificationOutbox)
                .where(
                    NotificationOutbox.channel == channel,
                    NotificationOutbox.status.in_(("pending", "sending")),
                )
                .order_by(NotificationOutbox.created_at, NotificationOutbox.id)
                .limit(1)
            ).first()
            if head is None or head.next_attempt_at > now or not self._rate_ok(session, channel, now):
                return None
            claimed = _rowcount(
                session.execute(
                    update(NotificationOutbox)
                    .where(
                        NotificationOutbox.id == head.id,
                        or_(
                            NotificationOutbox.status == "pending",
                            and_(
                                NotificationOutbox.status == "sending",
                                NotificationOutbox.next_attempt_at <= now,
                            ),
                        ),
                        NotificationOutbox.next_attempt_at == head.next_attempt_at,
                    )
                    .values(status="sending", next_attempt_at=now + LEASE)
                )
            )
            if claimed != 1:  # another dispatcher took it
                return None
            self._last_attempt[channel] = now
            return OutboundMessage(
                head.id,
                channel,
                head.incident_id,
                dict(head.payload),
                refs=self._refs(session, head.incident_id),
            )

    def _rate_ok(self, session: Session, channel: str, now: datetime) -> bool:
        """This process's last attempt, and any process's last accepted message (``sent_at`` is the
        claim time), must both be at least the interval ago: the limit holds across dispatchers."""
        stamps = [
            self._last_attempt.get(channel),
            session.scalar(
                select(NotificationOutbox.sent_at)
                .where(NotificationOutbox.channel == channel, NotificationOutbox.sent_at.is_not(None))
                .order_by(NotificationOutbox.sent_at.desc())
                .limit(1)
            ),
        ]
        return all(last is None or now - last >= self._interval for last in stamps)

    @staticmethod
    def _refs(session: Session, incident_id: str | None) -> dict[str, str]:
        if incident_id is None:
            return {}
        refs: dict[str, str] = {}
        for payload in session.scalars(
            select(IncidentEvent.payload)
            .where(IncidentEvent.incident_id == incident_id, IncidentEvent.kind == EventKind.NOTIFIED.value)
            .order_by(IncidentEvent.created_at)
        ):
            if payload.get("ref"):
                refs[str(payload["channel"])] = str(payload["ref"])
        return refs

    def _deliver(self, channel: str, message: OutboundMessage, report: DispatchReport) -> None:
        try:
            delivery = self._providers[channel].send(message)
        except DeliveryError as exc:
            self._failed(message, exc, report)
            return
        except Exception as exc:  # a provider bug must not kill the dispatcher; retry later
            self._failed(message, DeliveryError(f"{exc.__class__.__name__}: {exc}"), report)
            return
        self._sent(message, delivery, report)

    def _sent(self, message: OutboundMessage, delivery: Delivery, report: DispatchReport) -> None:
        sent_at = self._last_attempt.get(message.channel, self._now())
        with transaction(self._factory) as session:
            row = session.get(NotificationOutbox, message.id)
            assert row is not None
            row.status, row.sent_at, row.attempts, row.last_error = "sent", sent_at, row.attempts + 1, None
            if message.incident_id is not None:
                IncidentService(session, clock=self._clock).add_event(
                    message.incident_id,
                    kind=EventKind.NOTIFIED,
                    actor="notifier",
                    source=message.channel,
                    message=f"{message.payload.get('kind', 'message')} delivered to {message.channel}",
                    payload={
                        "channel": message.channel,
                        "outbox_id": message.id,
                        "ref": delivery.ref,
                        "kind": message.payload.get("kind"),
                    },
                )
        report.sent.append(message.id)
        log.info(
            "notification sent",
            channel=message.channel,
            outbox_id=message.id,
            kind=message.payload.get("kind"),
        )

    def _failed(self, message: OutboundMessage, exc: DeliveryError, report: DispatchReport) -> None:
        now = self._now()
        with transaction(self._factory) as session:
            row = session.get(NotificationOutbox, message.id)
            assert row is not None
            row.attempts += 1
            row.last_error = str(exc)[:500]
            if exc.permanent:
                row.status = "dead"
                report.dead.append(message.id)
                log.error(
                    "notification refused permanently (dead letter)",
                    channel=message.channel,
                    outbox_id=message.id,
                    error=str(exc),
                )
                return
            delay = max(backoff_s(row.attempts), exc.retry_after_s or 0.0, self._interval.total_seconds())
            row.status, row.next_attempt_at = "pending", now + timedelta(seconds=delay)
        report.retried.append(message.id)
        log.warning(
            "notification failed; will retry",
            channel=message.channel,
            outbox_id=message.id,
            error=str(exc),
            retry_in_s=delay,
        )

    def drain(self, *, timeout_s: float, horizon_s: float = 2.0) -> DispatchReport:
        """Dispatch until no first-attempt message is due within ``horizon_s`` (the rate limit's wait),
        or ``timeout_s`` passes. For commands that want their messages out before they exit."""
        total = DispatchReport()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            step = self.dispatch_once()
            total.sent += step.sent
            total.retried += step.retried
            total.dead += step.dead
            if not self._due_within(timedelta(seconds=horizon_s)):
                break
            time.sleep(0.05)
        return total

    def _due_within(self, horizon: timedelta) -> bool:
        with transaction(self._factory) as session:
            first = session.scalars(
                select(NotificationOutbox.id)
                .where(
                    NotificationOutbox.status == "pending",
                    NotificationOutbox.attempts == 0,
                    NotificationOutbox.next_attempt_at <= self._now() + horizon,
                    NotificationOutbox.channel.in_(list(self._providers)),
                )
                .limit(1)
            ).first()
        return first is not None

    def run(self, stop: threading.Event, *, poll_s: float = 0.25) -> None:
        """Loop until ``stop`` is set (a thread of the live runtime, or ``incident notify --watch``)."""
        while not stop.is_set():
            try:
                self.dispatch_once()
            except Exception as exc:  # database blip: keep going
                log.error("outbox dispatch failed", error=f"{exc.__class__.__name__}: {exc}")
            stop.wait(poll_s)

    def close(self) -> None:
        for provider in self._providers.values():
            provider.close()


def requeue_dead(factory: sessionmaker[Session], *, now: datetime, channel: str | None = None) -> int:
    with transaction(factory) as session:
        query = update(NotificationOutbox).where(NotificationOutbox.status == "dead")
        if channel:
            query = query.where(NotificationOutbox.channel == channel)
        return _rowcount(session.execute(query.values(status="pending", next_attempt_at=now)))
