"""Build an unmodified ccxt async client for a venue, optionally pointed at a local base URL."""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt_async

from smc_agent.venues.quirks import QUIRKS


def make_client(
    venue: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    secret: str | None = None,
    timeout_ms: int = 10_000,
    enable_rate_limit: bool = True,
) -> Any:
    """A ccxt async exchange for ``venue``; with ``base_url`` every API URL points there."""
    quirks = QUIRKS.get(venue)
    if quirks is None:
        raise ValueError(f"unknown venue {venue!r}: expected one of {sorted(QUIRKS)}")
    klass = getattr(ccxt_async, quirks.ccxt_id)
    config: dict[str, Any] = {
        "enableRateLimit": enable_rate_limit,
        "timeout": timeout_ms,
        "options": dict(quirks.ccxt_options),
    }
    if api_key:
        config["apiKey"] = api_key
        config["secret"] = secret or ""
    exchange = klass(config)
    if base_url is not None:
        exchange.urls["api"] = _point_at(exchange.urls["api"], base_url.rstrip("/"))
    return exchange


def _point_at(api_urls: dict[str, Any], base: str) -> dict[str, Any]:
    """Replace the scheme and host of every API URL with ``base``, keeping each path."""
    out: dict[str, Any] = {}
    for name, url in api_urls.items():
        if isinstance(url, dict):
            out[name] = _point_at(url, base)
        elif isinstance(url, str) and "://" in url:
            rest = url.split("://", 1)[1]
            path = rest.split("/", 1)[1] if "/" in rest else ""
            out[name] = f"{base}/{path}" if path else base
        else:
            out[name] = url
    return out
