"""The ONE exception tree of the project, grouped by how the caller must react.

::

    SmcAgentError
    ├── RetryableError            retry with backoff (transient)
    │   ├── VenueUnavailable      venue down / network / timeout / 5xx
    │   └── RateLimited           back off for ``retry_after`` seconds
    ├── BannedError               stop talking to the venue until ``until`` (ms UTC)
    ├── RejectedError             do not retry the same request; skip or fix it
    │   ├── InsufficientFunds
    │   ├── InvalidOrder          precision, limits, bad parameters
    │   │   └── WouldTriggerImmediately  a stop the market has passed; a post-only that would take
    │   ├── OrderNotFound
    │   └── IllegalTransition     an order state machine was asked for a transition it forbids
    ├── HaltError                 stop trading this bot / engine (trading state HALTED)
    │   └── StrategyError         user strategy code raised; the bot is halted, never the engine
    ├── AuthenticationError       credentials missing / invalid / revoked: fix config, do not retry
    ├── ConfigError               configuration is wrong: fix it, do not retry
    └── DataError                 market data is missing / invalid / inconsistent

Refusals by the risk gate are *events* (``OrderDenied``), not exceptions.
Third-party errors are translated into this tree once, at the adapter edge.
"""

from __future__ import annotations


class SmcAgentError(Exception):
    """Root of every error raised by smc_agent."""


class RetryableError(SmcAgentError):
    """Transient: retrying later may succeed."""


class VenueUnavailable(RetryableError):
    """The venue cannot be reached or answered with a server error / timeout."""


class RateLimited(RetryableError):
    """The venue throttled us. ``retry_after`` is in seconds (``None`` when not given)."""

    def __init__(self, message: str = "rate limited", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BannedError(SmcAgentError):
    """The venue banned our IP/key. ``until`` is ms UTC when known."""

    def __init__(self, message: str = "banned by venue", *, until: int | None = None) -> None:
        super().__init__(message)
        self.until = until


class RejectedError(SmcAgentError):
    """The request was refused; retrying it unchanged will fail again."""


class InsufficientFunds(RejectedError):
    """Not enough balance or margin."""


class InvalidOrder(RejectedError):
    """Order parameters violate the venue's rules (precision, limits, type)."""


class WouldTriggerImmediately(InvalidOrder):
    """The order would execute at once where it must wait: a stop whose trigger the market has already
    passed (Binance -2010 "Stop price would trigger immediately."), or a post-only order that would
    take (ccxt ``OrderImmediatelyFillable``)."""


class OrderNotFound(RejectedError):
    """No such order at the venue or in the store."""


class IllegalTransition(RejectedError):
    """An order state machine transition that is not allowed."""


class HaltError(SmcAgentError):
    """Trading must stop for the affected scope."""


class StrategyError(HaltError):
    """User strategy code raised; the bot running it is halted."""


class AuthenticationError(SmcAgentError):
    """Credentials are missing, invalid or revoked."""


class ConfigError(SmcAgentError):
    """Configuration is wrong; fix it."""


class DataError(SmcAgentError):
    """Market data is missing, invalid or inconsistent."""
