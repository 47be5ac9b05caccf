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
    streaming: bool = False,
) -> Any:
    """A ccxt async exchange for ``venue``; with ``base_url`` every API URL (REST and WebSocket)
    points there. ``streaming`` builds the ccxt.pro class, which adds ``watch_*`` to the REST methods."""
    quirks = QUIRKS.get(venue)
    if quirks is None:
        raise ValueError(f"unknown venue {venue!r}: expected one of {sorted(QUIRKS)}")
    if streaming:
        import ccxt.pro as ccxt_pro  # imported on demand: loading every ccxt.pro exchange takes seconds

        klass = getattr(ccxt_pro, quirks.ccxt_id)
    else:
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
            scheme, rest = url.split("://", 1)
            path = rest.split("/", 1)[1] if "/" in rest else ""
            host = base.split("://", 1)[1]
            local_scheme = "ws" if scheme in ("ws", "wss") else "http"  # loopback: no TLS
            out[name] = f"{local_scheme}://{host}/{path}" if path else f"{local_scheme}://{host}"
        else:
            out[name] = url
    return out
