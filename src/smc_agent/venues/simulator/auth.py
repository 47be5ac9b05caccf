"""Request signing checks as the real venues do them (HMAC-SHA256, hex)."""

from __future__ import annotations

import hashlib
import hmac


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signature_ok(secret: str, payload: str, signature: str) -> bool:
    return hmac.compare_digest(hmac_hex(secret, payload), signature.lower())


def split_binance_signature(total_params: str) -> tuple[str, str | None]:
    """Split Binance's ``totalParams`` into the signed payload and the ``signature`` value."""
    parts = total_params.split("&")
    kept = [p for p in parts if not p.startswith("signature=")]
    sig = next((p.partition("=")[2] for p in parts if p.startswith("signature=")), None)
    return "&".join(kept), sig


def timestamp_window_ok(timestamp_ms: int, server_ms: int, recv_window_ms: int) -> bool:
    """Binance's rule, also used for Bybit: not more than 1 s ahead, not older than the window."""
    return timestamp_ms < server_ms + 1000 and server_ms - timestamp_ms <= recv_window_ms
