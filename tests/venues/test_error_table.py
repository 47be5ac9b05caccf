"""The one ccxt -> core error table."""

from __future__ import annotations

import ccxt
import pytest

from smc_agent.core import errors
from smc_agent.venues.errors import ERROR_TABLE, http_status, translate


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ccxt.InsufficientFunds("x"), errors.InsufficientFunds),
        (ccxt.OrderNotFound("x"), errors.OrderNotFound),
        (ccxt.InvalidOrder("x"), errors.InvalidOrder),
        (
            ccxt.OrderImmediatelyFillable("Stop price would trigger immediately."),
            errors.WouldTriggerImmediately,
        ),
        (ccxt.AuthenticationError("x"), errors.AuthenticationError),
        (ccxt.PermissionDenied("x"), errors.AuthenticationError),
        (ccxt.BadSymbol("x"), errors.ConfigError),
        (ccxt.BadRequest("x"), errors.RejectedError),
        (ccxt.InvalidNonce("x"), errors.RetryableError),
        (ccxt.RequestTimeout("x"), errors.VenueUnavailable),
        (ccxt.ExchangeNotAvailable("x"), errors.VenueUnavailable),
        (ccxt.NetworkError("x"), errors.VenueUnavailable),
        (
            ccxt.RateLimitExceeded("bybit GET http://h/v5/x?limit=500 429 Too Many Requests"),
            errors.RateLimited,
        ),
        (ccxt.DDoSProtection('binance 429 Too Many Requests {"code":-1003}'), errors.RateLimited),
        (ccxt.DDoSProtection("binance 418 I'm a teapot {}"), errors.BannedError),
        (ccxt.ExchangeError("x"), errors.RejectedError),
        (ValueError("not ccxt"), errors.VenueUnavailable),
    ],
)
def test_translation(exc: Exception, expected: type[Exception]) -> None:
    assert type(translate(exc, venue="binance")) is expected


def test_subclasses_come_before_their_bases() -> None:
    for i, (earlier, _) in enumerate(ERROR_TABLE):
        for later, _ in ERROR_TABLE[i + 1 :]:
            assert not issubclass(later, earlier) or later is earlier, f"{later} is shadowed by {earlier}"


def test_ban_carries_until_from_retry_after() -> None:
    err = translate(
        ccxt.DDoSProtection("binance 418 I'm a teapot"),
        venue="binance",
        headers={"Retry-After": "7"},
        now_ms=1_000,
    )
    assert isinstance(err, errors.BannedError) and err.until == 8_000
    limited = translate(ccxt.RateLimitExceeded("bybit 429 x"), venue="bybit", headers={"retry-after": "2"})
    assert isinstance(limited, errors.RateLimited) and limited.retry_after == 2


def test_http_status_ignores_numbers_in_urls() -> None:
    assert (
        http_status(ccxt.NetworkError("bybit GET http://127.0.0.1:45001/v5/k?limit=500 503 Service")) == 503
    )
    assert http_status(ccxt.NetworkError("no status here")) is None
