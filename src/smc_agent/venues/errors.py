"""The ONE table translating ccxt exceptions into the project's error tree (core/errors.py).

Order matters: the first row whose ccxt class matches wins, so subclasses come before their bases.
``DDoSProtection`` is split by HTTP status: Binance raises it for both 429 and 418, and only the
status tells a throttle (back off) from a ban (stop all traffic until it lifts).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

import ccxt

from smc_agent.core import errors as core

ERROR_TABLE: tuple[tuple[type[Exception], type[core.SmcAgentError]], ...] = (
    (ccxt.InsufficientFunds, core.InsufficientFunds),
    (ccxt.OrderNotFound, core.OrderNotFound),
    (ccxt.OrderImmediatelyFillable, core.WouldTriggerImmediately),
    (ccxt.InvalidOrder, core.InvalidOrder),
    (ccxt.AuthenticationError, core.AuthenticationError),
    (ccxt.BadSymbol, core.ConfigError),
    (ccxt.ArgumentsRequired, core.ConfigError),
    (ccxt.NotSupported, core.ConfigError),
    (ccxt.BadRequest, core.RejectedError),
    (ccxt.OperationRejected, core.RejectedError),
    (ccxt.RateLimitExceeded, core.RateLimited),
    (ccxt.DDoSProtection, core.RateLimited),  # 418 is told apart below
    (ccxt.InvalidNonce, core.RetryableError),  # clock skew: resync time, then retry
    (ccxt.RequestTimeout, core.VenueUnavailable),
    (ccxt.ExchangeNotAvailable, core.VenueUnavailable),
    (ccxt.NetworkError, core.VenueUnavailable),
    (ccxt.BadResponse, core.VenueUnavailable),
    (ccxt.ExchangeError, core.RejectedError),
    (ccxt.BaseError, core.VenueUnavailable),
)

_STATUS_RE = re.compile(r"(?:^|\s)([45]\d\d)(?=\s|$)")


def http_status(exc: Exception) -> int | None:
    """The HTTP status ccxt put in the message (``binance 418 ...``, ``bybit GET url 429 ...``)."""
    match = _STATUS_RE.search(str(exc))
    return int(match.group(1)) if match else None


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def translate(
    exc: Exception, *, venue: str, headers: Mapping[str, str] | None = None, now_ms: int | None = None
) -> core.SmcAgentError:
    """Map a ccxt exception (anything else passes through as ``VenueUnavailable``) onto core errors."""
    if isinstance(exc, core.SmcAgentError):
        return exc
    target: type[core.SmcAgentError] = core.VenueUnavailable
    for ccxt_class, core_class in ERROR_TABLE:
        if isinstance(exc, ccxt_class):
            target = core_class
            break
    message = f"{venue}: {exc}"
    if target is core.RateLimited:
        retry_after = retry_after_seconds(headers)
        if http_status(exc) == 418:
            wall = now_ms if now_ms is not None else int(time.time() * 1000)
            until = wall + int((retry_after if retry_after is not None else 120) * 1000)
            return core.BannedError(message, until=until)
        return core.RateLimited(message, retry_after=retry_after)
    return target(message)
