"""Which channels get which message, rendered from the playbook's templates, written to the outbox.

The router is the incident service's :class:`~smc_agent.ops.incidents.service.MessageSink`: it adds
``notification_outbox`` rows inside the caller's transaction; the dispatcher sends them later.
Only configured channels get rows (an unconfigured channel would hold messages forever).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smc_agent.core.clock import Clock
from smc_agent.ops.incidents import templates
from smc_agent.ops.incidents.record import IncidentRecord
from smc_agent.ops.notify.email_provider import SmtpEmail
from smc_agent.ops.notify.http_providers import IMPACT_OVERRIDE, GenericWebhook, SlackWebhook, Statuspage
from smc_agent.ops.notify.provider import Provider
from smc_agent.ops.settings import OpsSettings
from smc_agent.store.models import NotificationOutbox

SLACK_CRITICAL = "slack-critical"
SLACK_SECURITY = "slack-security"
STATUSPAGE = "statuspage"
EMAIL = "email"
EMAIL_SECURITY = "email-security"
WEBHOOK = "webhook"

_SUBJECT = {"initial": "INCIDENT ALERT", "update": "INCIDENT UPDATE", "resolution": "INCIDENT RESOLVED"}


def configured_channels(settings: OpsSettings) -> set[str]:
    channels = set()
    if settings.slack_critical_webhook:
        channels.add(SLACK_CRITICAL)
    if settings.slack_security_webhook:
        channels.add(SLACK_SECURITY)
    if settings.statuspage_page_id and settings.statuspage_token:
        channels.add(STATUSPAGE)
    if settings.smtp_host and settings.smtp_to:
        channels.add(EMAIL)
    if settings.smtp_host and settings.smtp_security_to:
        channels.add(EMAIL_SECURITY)
    if settings.webhook_url:
        channels.add(WEBHOOK)
    return channels


def build_providers(settings: OpsSettings, *, clock: Clock) -> dict[str, Provider]:
    timeout = settings.notify_timeout_s
    providers: dict[str, Provider] = {}
    if settings.slack_critical_webhook:
        providers[SLACK_CRITICAL] = SlackWebhook(
            SLACK_CRITICAL, settings.slack_critical_webhook.get_secret_value(), clock=clock, timeout_s=timeout
        )
    if settings.slack_security_webhook:
        providers[SLACK_SECURITY] = SlackWebhook(
            SLACK_SECURITY, settings.slack_security_webhook.get_secret_value(), clock=clock, timeout_s=timeout
        )
    if settings.statuspage_page_id and settings.statuspage_token:
        providers[STATUSPAGE] = Statuspage(
            api_url=settings.statuspage_api_url,
            page_id=settings.statuspage_page_id,
            token=settings.statuspage_token.get_secret_value(),
            clock=clock,
            timeout_s=timeout,
        )
    if settings.smtp_host:
        password = None if settings.smtp_password is None else settings.smtp_password.get_secret_value()
        for channel, recipients in ((EMAIL, settings.smtp_to), (EMAIL_SECURITY, settings.smtp_security_to)):
            if recipients:
                providers[channel] = SmtpEmail(
                    channel=channel,
                    host=settings.smtp_host,
                    port=settings.smtp_port,
                    sender=settings.smtp_from,
                    recipients=list(recipients),
                    username=settings.smtp_username,
                    password=password,
                    starttls=settings.smtp_starttls,
                    timeout_s=timeout,
                )
    if settings.webhook_url:
        providers[WEBHOOK] = GenericWebhook(
            settings.webhook_url.get_secret_value(), clock=clock, timeout_s=timeout
        )
    return providers


class NotificationRouter:
    def __init__(self, settings: OpsSettings, *, channels: set[str] | None = None) -> None:
        self.settings = settings
        self.channels = configured_channels(settings) if channels is None else channels

    # --------------------------------------------------------------- rendering
    def render(self, record: IncidentRecord, kind: str, *, at: datetime, extra: dict[str, Any]) -> str:
        ic = (
            self.settings.oncall["incident_commander"].primary
            if "incident_commander" in self.settings.oncall
            else "@oncall-ic"
        )
        if kind == "initial":
            return templates.initial_alert(record, now=at, war_room=self.settings.war_room, on_call_ic=ic)
        if kind == "update":
            return templates.status_update(
                record, now=at, progress=str(extra.get("progress", "")), eta=extra.get("eta")
            )
        if kind == "resolution":
            return templates.resolution(record, now=at, postmortem_base_url=self.settings.postmortem_base_url)
        raise ValueError(f"unknown incident message kind {kind!r}")

    def targets(self, record: IncidentRecord) -> list[str]:
        security = record.category == "security"
        wanted = [
            SLACK_SECURITY if security else SLACK_CRITICAL,
            EMAIL_SECURITY if security else EMAIL,
            WEBHOOK,
        ]
        if not security and record.priority.number <= 2:  # security incidents are not posted publicly
            wanted.append(STATUSPAGE)
        if security and SLACK_SECURITY not in self.channels:
            wanted.append(SLACK_CRITICAL)
        return [c for c in wanted if c in self.channels]

    # --------------------------------------------------------------- MessageSink
    def incident_message(
        self, session: Session, record: IncidentRecord, *, kind: str, at: datetime, extra: dict[str, Any]
    ) -> None:
        text = self.render(record, kind, at=at, extra=extra)
        body = {
            "initial": f"{record.impact}. {record.description}",
            "update": str(extra.get("progress", "")),
            "resolution": record.resolution or "Resolved.",
        }[kind]
        data_lost = {True: " Data was lost.", False: " No data was lost.", None: ""}[record.data_lost]
        payload = {
            "kind": kind,
            "incident_id": record.id,
            "priority": record.priority.value,
            "status": record.status.value,
            "title": record.title,
            "text": text,
            "subject": f"[{record.priority.value}] {_SUBJECT[kind]} {record.id}: {record.title}",
            "statuspage": {
                "name": record.title,
                "status": record.status.value,
                "impact_override": IMPACT_OVERRIDE[record.priority.value],
                "body": body + (data_lost if kind == "resolution" else ""),
            },
        }
        for channel in self.targets(record):
            enqueue(session, channel=channel, payload=payload, incident_id=record.id, at=at)

    def page(
        self,
        session: Session,
        record: IncidentRecord,
        *,
        role: str,
        level: str,
        handle: str,
        reason: str,
        at: datetime,
    ) -> list[str]:
        """A page to one on-call person; returns the channels it went to."""
        text = (
            f"📟 PAGE {handle} ({role.replace('_', ' ')}, {level}): {record.priority.value} {record.id} "
            f"{record.title}. {reason}. Acknowledge: smc-agent incident ack {record.id}"
        )
        payload = {
            "kind": "page",
            "incident_id": record.id,
            "priority": record.priority.value,
            "text": text,
            "subject": f"[{record.priority.value}] PAGE {handle}: {record.id} {record.title}",
            "role": role,
            "level": level,
            "handle": handle,
        }
        slack = SLACK_SECURITY if role == "security" and SLACK_SECURITY in self.channels else SLACK_CRITICAL
        sent = [c for c in (slack, WEBHOOK) if c in self.channels]
        for channel in sent:
            enqueue(session, channel=channel, payload=payload, incident_id=record.id, at=at)
        return sent


def enqueue(
    session: Session, *, channel: str, payload: dict[str, Any], incident_id: str | None, at: datetime
) -> NotificationOutbox:
    """Add one outbox row; ``created_at`` strictly increases per channel so the send order is exact."""
    last = session.scalar(
        select(func.max(NotificationOutbox.created_at)).where(NotificationOutbox.channel == channel)
    )
    if last is not None:
        last = last if last.tzinfo else last.replace(tzinfo=at.tzinfo)
        if at <= last:
            at = last + timedelta(microseconds=1)
    row = NotificationOutbox(
        channel=channel,
        incident_id=incident_id,
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=at,
        created_at=at,
    )
    session.add(row)
    session.flush()
    return row
