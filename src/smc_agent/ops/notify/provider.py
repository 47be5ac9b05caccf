"""The provider interface and the errors that tell the dispatcher what to do next."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from smc_agent.core.clock import Clock


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    id: str
    channel: str
    incident_id: str | None
    payload: dict[str, Any]
    refs: dict[str, str] = field(default_factory=dict)
    """Provider references of earlier messages for the same incident (e.g. the Statuspage incident id)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    ref: str | None = None
    detail: str = ""


class DeliveryError(Exception):
    """Sending failed. ``permanent``: retrying the same message cannot succeed (dead letter)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after_s = retry_after_s


class Provider(Protocol):
    channel: str

    def send(self, message: OutboundMessage) -> Delivery: ...

    def close(self) -> None: ...


def parse_retry_after(value: str | None, *, now_ms: int) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_ms / 1000)


def check_http(response: httpx.Response, *, clock: Clock, what: str) -> None:
    """Raise the right :class:`DeliveryError` for a non-2xx response (body never logged: may echo secrets)."""
    if response.is_success:
        return
    status = response.status_code
    if status in {429, 408} or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now_ms=clock.timestamp_ms())
        raise DeliveryError(f"{what}: HTTP {status}", retry_after_s=retry_after)
    raise DeliveryError(f"{what}: HTTP {status} (request refused; fix configuration)", permanent=True)


def http_call(
    client: httpx.Client, method: str, url: str, *, what: str, clock: Clock, **kwargs: Any
) -> httpx.Response:
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:  # connection refused, timeout, protocol error: transient
        raise DeliveryError(f"{what}: {exc.__class__.__name__}") from None
    check_http(response, clock=clock, what=what)
    return response
