"""API keys: ``smc_<prefix>_<secret>``; the prefix is visible and unique, only a hash is stored.

Services take keyword-only arguments and never commit: the caller owns the transaction. Used by the
``/v1/api-keys`` routes and by ``smc-agent keys`` (the api-key-rotation CronJob runs
``smc-agent keys rotate --all``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from smc_agent.api.principal import SCOPES
from smc_agent.store.models import ApiKey, User
from smc_agent.store.types import utcnow

KEY_PREFIX = "smc_"
_ALPHABET = string.ascii_letters + string.digits
PREFIX_LEN = len(KEY_PREFIX) + 6  # "smc_" + 6 characters


class ApiKeyError(ValueError):
    """A key request that cannot be carried out (unknown key, bad scope...)."""


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: ``secret`` is the full key, shown once and never stored."""

    key: ApiKey
    secret: str


def hash_key(full_key: str) -> str:
    return hashlib.sha256(full_key.encode()).hexdigest()


def looks_like_api_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX) and len(value) > PREFIX_LEN + 1 and value[PREFIX_LEN] == "_"


def split_prefix(full_key: str) -> str:
    return full_key[:PREFIX_LEN]


def check_scopes(scopes: Sequence[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ApiKeyError(f"unknown scope(s) {', '.join(unknown)}: expected some of {', '.join(SCOPES)}")
    if not scopes:
        raise ApiKeyError(f"a key needs at least one scope of {', '.join(SCOPES)}")
    return sorted(set(scopes), key=SCOPES.index)


def create_key(
    session: Session,
    *,
    user_id: str,
    name: str = "default",
    scopes: Sequence[str] = ("read",),
    expires_in_days: int | None = None,
    rotated_from: str | None = None,
) -> IssuedKey:
    clean = check_scopes(scopes)
    if session.get(User, user_id) is None:
        raise ApiKeyError(f"no user {user_id!r}")
    while True:
        prefix = KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(6))
        if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            break
    full = f"{prefix}_{secrets.token_urlsafe(32)}"
    expires = None if expires_in_days is None else utcnow() + timedelta(days=expires_in_days)
    key = ApiKey(
        user_id=user_id,
        name=name,
        prefix=prefix,
        key_hash=hash_key(full),
        scopes=clean,
        expires_at=expires,
        rotated_from=rotated_from,
    )
    session.add(key)
    session.flush()
    return IssuedKey(key=key, secret=full)


def find_key(session: Session, key_id_or_prefix: str, *, user_id: str | None = None) -> ApiKey:
    query = select(ApiKey).where((ApiKey.id == key_id_or_prefix) | (ApiKey.prefix == key_id_or_prefix))
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    key = session.scalar(query)
    if key is None:
        raise ApiKeyError(f"no API key {key_id_or_prefix!r}")
    return key


def list_keys(session: Session, *, user_id: str | None = None, include_revoked: bool = False) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at.desc())
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_key(session: Session, *, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def rotate_key(session: Session, *, key: ApiKey) -> IssuedKey:
    """Issue a replacement with the same name, scopes and lifetime; the old key stops at once."""
    if key.revoked_at is not None:
        raise ApiKeyError(f"API key {key.prefix} is revoked: create a new one instead")
    if key.expires_at is not None and key.expires_at <= utcnow():  # a replacement would revive it
        raise ApiKeyError(f"API key {key.prefix} has expired: create a new one instead")
    lifetime_days = None
    if key.expires_at is not None:
        lifetime_days = max(1, (key.expires_at - key.created_at).days)
    revoke_key(session, key=key)
    return create_key(
        session,
        user_id=key.user_id,
        name=key.name,
        scopes=list(key.scopes),
        expires_in_days=lifetime_days,
        rotated_from=key.id,
    )


def keys_due_for_rotation(session: Session, *, older_than_days: int | None = None) -> list[ApiKey]:
    """The keys in use: not revoked and not expired (an expired key is not rotated into a live one)."""
    now = utcnow()
    query = (
        select(ApiKey)
        .where(ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now))
        .order_by(ApiKey.created_at)
    )
    if older_than_days is not None:
        query = query.where(ApiKey.created_at <= utcnow() - timedelta(days=older_than_days))
    return list(session.scalars(query))


def verify_key(stored_hash: str, full_key: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_key(full_key))


def key_usable(key: ApiKey, now: datetime) -> bool:
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)
