"""Login-session token stores.

With Redis (``SMC_REDIS_URL``) tokens live in Redis database ``session_redis_db`` (1): the
playbook's ``redis-cli -n 1 FLUSHDB`` logs everyone out and touches nothing else (halt and failover
state live in db 0). Without Redis the embedded store checks ``user_sessions.token_hash``.

Only sha256 hashes of tokens are stored anywhere; the token itself is shown once, at login.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.store.models import UserSession
from smc_agent.store.types import utcnow
from smc_agent.store.users import SESSION_KEY_PREFIX

TOKEN_PREFIX = "sess_"  # noqa: S105 - public prefix of session tokens


def new_session_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionRef:
    session_id: str
    user_id: str


class SessionStore(Protocol):
    name: str

    def put(self, digest: str, ref: SessionRef, ttl_s: int) -> None: ...

    def get(self, digest: str) -> SessionRef | None: ...

    def delete(self, digest: str) -> None: ...

    def ping(self) -> None: ...


class RedisSessionStore:
    name = "redis"

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def put(self, digest: str, ref: SessionRef, ttl_s: int) -> None:
        payload = json.dumps({"sid": ref.session_id, "uid": ref.user_id})
        self._redis.set(SESSION_KEY_PREFIX + digest, payload, ex=ttl_s)

    def get(self, digest: str) -> SessionRef | None:
        raw = self._redis.get(SESSION_KEY_PREFIX + digest)
        if raw is None:
            return None
        data = json.loads(raw)
        return SessionRef(session_id=str(data["sid"]), user_id=str(data["uid"]))

    def delete(self, digest: str) -> None:
        self._redis.delete(SESSION_KEY_PREFIX + digest)

    def ping(self) -> None:
        self._redis.ping()

    def close(self) -> None:
        self._redis.close()


class DbSessionStore:
    """Embedded default: the ``user_sessions`` row is the token record (revoked_at, login_time+ttl)."""

    name = "database"

    def __init__(self, factory: sessionmaker[Session], ttl_s: int) -> None:
        self._factory = factory
        self._ttl = timedelta(seconds=ttl_s)

    def put(self, digest: str, ref: SessionRef, ttl_s: int) -> None:
        """The login already wrote ``token_hash`` on the row; nothing more to keep."""

    def get(self, digest: str) -> SessionRef | None:
        with self._factory() as session:
            row = session.execute(
                select(
                    UserSession.id, UserSession.user_id, UserSession.login_time, UserSession.revoked_at
                ).where(UserSession.token_hash == digest)
            ).first()
        if row is None or row.revoked_at is not None or _expired(row.login_time, self._ttl):
            return None
        return SessionRef(session_id=row.id, user_id=row.user_id)

    def delete(self, digest: str) -> None:
        """Revocation is ``user_sessions.revoked_at``, written by the caller."""

    def ping(self) -> None:
        with self._factory() as session:
            session.execute(select(1))


def _expired(login_time: datetime, ttl: timedelta) -> bool:
    return login_time + ttl < utcnow()
