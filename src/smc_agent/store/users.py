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


def set_active(
    session: Session, *, username_or_id: str, active: bool, session_redis_url: str | None = None
) -> User:
    user = get_user(session, username_or_id)
    if user is None:
        raise UserError(f"no user {username_or_id!r}")
    user.is_active = active
    if not active:  # its sessions end now, and stay ended if the account is enabled again
        revoke_sessions(session, user_ids=[user.id], redis_url=session_redis_url)
    return user


def revoke_sessions(session: Session, *, user_ids: Collection[str], redis_url: str | None) -> int:
    """End every open session of ``user_ids``: their rows revoked (the forensic record) and their
    tokens deleted from the Redis session store at ``redis_url`` when there is one (a disabled account
    re-enabled later must not bring an attacker's token back). The caller owns the transaction."""
    rows = list(
        session.scalars(
            select(UserSession).where(
                UserSession.user_id.in_(list(user_ids)), UserSession.revoked_at.is_(None)
            )
        )
    )
    now = datetime.now(UTC)
    for row in rows:
        row.revoked_at = now
    digests = [SESSION_KEY_PREFIX + r.token_hash for r in rows if r.token_hash]
    if redis_url is not None and digests:
        client = redis.Redis.from_url(redis_url, socket_timeout=5)
        try:
            client.delete(*digests)
        finally:
            client.close()
    return len(rows)
