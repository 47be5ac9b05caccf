"""User accounts: creation with argon2 password hashes, listing, disabling.

Services take keyword-only arguments and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from smc_agent.store.models import User, UserSession

SESSION_KEY_PREFIX = "session:"  # the Redis session store's keys: session:<sha256 of the token>

ROLES = ("admin", "trader", "viewer")
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
_hasher = PasswordHasher()


class UserError(ValueError):
    """A user request that cannot be carried out (bad name, weak password, duplicate...)."""


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise UserError("password must have at least 8 characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    session: Session, *, username: str, password: str, role: str = "trader", email: str | None = None
) -> User:
    if not _USERNAME.match(username):
        raise UserError("username must be 3-64 characters of letters, digits, '_', '.', '-'")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} already exists")
    user = User(username=username, email=email, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username_or_id: str) -> User | None:
    return session.scalar(select(User).where((User.username == username_or_id) | (User.id == username_or_id)))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.created_at)))


def set_active(session: Session, *, username_or_id: str, active: bool) -> tuple[User, list[str]]:
    """Enable or disable a user; disabled, its sessions are revoked: returns the user and the session
    tokens to drop from the session store once committed (:func:`drop_session_tokens`)."""
    user = get_user(session, username_or_id)
    if user is None:
        raise UserError(f"no user {username_or_id!r}")
    user.is_active = active
    tokens = [] if active else revoke_sessions(session, user_ids=[user.id])
    return user, tokens


def revoke_sessions(session: Session, *, user_ids: Collection[str]) -> list[str]:
    """End every session of ``user_ids`` in the database (the record the API checks on every
    request): open rows are revoked. Returns the session-store keys of all their tokens, to delete
    once this transaction has committed (:func:`drop_session_tokens`). The caller owns the transaction."""
    rows = list(session.scalars(select(UserSession).where(UserSession.user_id.in_(list(user_ids)))))
    now = datetime.now(UTC)
    for row in rows:
        if row.revoked_at is None:
            row.revoked_at = now
    return [SESSION_KEY_PREFIX + r.token_hash for r in rows if r.token_hash]


def drop_session_tokens(redis_url: str | None, keys: Collection[str]) -> str | None:
    """Delete session tokens from the Redis session store at ``redis_url``; the reason it could not,
    or None. Best effort: the revoked rows already end the sessions."""
    if redis_url is None or not keys:
        return None
    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.delete(*keys)
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None
