"""HTTP providers: Slack incoming webhooks, Atlassian Statuspage, a generic JSON webhook.

URLs and tokens are secrets: they are never put in error messages or logs.
"""

from __future__ import annotations

from typing import Any

import httpx

from smc_agent.core.clock import Clock
from smc_agent.ops.notify.provider import Delivery, DeliveryError, OutboundMessage, http_call

IMPACT_OVERRIDE = {"P0": "critical", "P1": "major", "P2": "minor", "P3": "none"}
"""Statuspage ``impact_override`` per priority."""


class SlackWebhook:
    """``POST {"text": ...}`` to an incoming webhook (the playbook's curl)."""

    def __init__(self, channel: str, url: str, *, clock: Clock, timeout_s: float = 10.0) -> None:
        self.channel = channel
        self._url = url
        self._clock = clock
        self._client = httpx.Client(timeout=timeout_s)

    def send(self, message: OutboundMessage) -> Delivery:
        http_call(
            self._client,
            "POST",
            self._url,
            what=f"slack {self.channel}",
            clock=self._clock,
            json={"text": message.payload["text"]},
        )
        return Delivery(detail="accepted")

    def close(self) -> None:
        self._client.close()


class GenericWebhook:
    """``POST`` the whole message as JSON, with an idempotency header (receivers may de-duplicate)."""

    def __init__(self, url: str, *, clock: Clock, timeout_s: float = 10.0, channel: str = "webhook") -> None:
        self.channel = channel
        self._url = url
        self._clock = clock
        self._client = httpx.Client(timeout=timeout_s)

    def send(self, message: OutboundMessage) -> Delivery:
        body = {"id": message.id, "incident_id": message.incident_id, **message.payload}
        http_call(
            self._client,
            "POST",
            self._url,
            what="webhook",
            clock=self._clock,
            json=body,
            headers={"Idempotency-Key": message.id},
        )
        return Delivery(detail="accepted")

    def close(self) -> None:
        self._client.close()


class Statuspage:
    """Create (``POST /pages/{page}/incidents``) then update (``PATCH .../incidents/{id}``) an incident.

    Request shape as in the playbook: ``{"incident": {"name", "status", "impact_override", "body"}}``
    with ``Authorization: OAuth <token>``.
    """

    channel = "statuspage"

    def __init__(
        self, *, api_url: str, page_id: str, token: str, clock: Clock, timeout_s: float = 10.0
    ) -> None:
        self._base = f"{api_url.rstrip('/')}/pages/{page_id}/incidents"
        self._clock = clock
        self._client = httpx.Client(timeout=timeout_s, headers={"Authorization": f"OAuth {token}"})

    def send(self, message: OutboundMessage) -> Delivery:
        page = message.payload["statuspage"]
        existing = message.refs.get(self.channel)
        incident: dict[str, Any] = {
            "status": page["status"],
            "body": page["body"],
            "impact_override": page["impact_override"],
        }
        if existing is None:
            incident["name"] = page["name"]
            response = http_call(
                self._client,
                "POST",
                self._base,
                what="statuspage create",
                clock=self._clock,
                json={"incident": incident},
            )
            try:
                ref = str(response.json()["id"])
            except (ValueError, KeyError, TypeError):
                raise DeliveryError(
                    "statuspage create: response carries no incident id", permanent=True
                ) from None
            return Delivery(ref=ref, detail="created")
        http_call(
            self._client,
            "PATCH",
            f"{self._base}/{existing}",
            what="statuspage update",
            clock=self._clock,
            json={"incident": incident},
        )
        return Delivery(ref=existing, detail="updated")

    def close(self) -> None:
        self._client.close()
