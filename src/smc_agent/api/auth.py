"""Authentication: password login (argon2) with lockout, session tokens, API keys.

Every authenticated request re-reads the user row (one primary-key query), so
``UPDATE users SET is_active = false`` and key revocation or expiry take effect at the next request.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from smc_agent.api.errors import ApiError
from smc_agent.api.keys import key_usable, looks_like_api_key, split_prefix, verify_key
from smc_agent.api.principal import SCOPES, Principal
from smc_agent.api.sessions import SessionRef, SessionStore, new_session_token, token_hash
from smc_agent.logs import get_logger
from smc_agent.store.models import ApiKey, User, UserSession
from smc_agent.store.types import utcnow
from smc_agent.store.users import hash_password, verify_password

log = get_logger("smc_agent.api.auth")

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
KEY_TOUCH_INTERVAL = timedelta(minutes=1)
LOGIN_LOCKS = 64  # logins of names that hash alike wait for each other; the memory stays bounded
# every refused login says the same (status, words and time): a locked account answered 429 with
# Retry-After and a name nobody has never did, which told anyone which names are real
LOGIN_REFUSED = (
    f"invalid username or password (after {MAX_FAILED_LOGINS} failed attempts an account is locked for "
    f"{LOCKOUT.seconds // 60} minutes)"
)


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    session_id: str
    user: User
    expires_in: int


class Authenticator:
    def __init__(self, *, factory: sessionmaker[Session], sessions: SessionStore, session_ttl_s: int) -> None:
        self._factory = factory
        self._sessions = sessions
        self.session_ttl_s = session_ttl_s
        self._dummy: str | None = None
        self._login_locks = tuple(threading.Lock() for _ in range(LOGIN_LOCKS))

    @property
    def _dummy_hash(self) -> str:
        """Unknown usernames cost one argon2 verification too: no timing oracle for valid names."""
        if self._dummy is None:
            self._dummy = hash_password(secrets.token_hex(16))
        return self._dummy

    # ------------------------------------------------------------ per request
    def authenticate(self, credential: str | None) -> Principal:
        if not credential:
            raise ApiError(401, "authentication required: send 'Authorization: Bearer <token>' or X-API-Key")
        if looks_like_api_key(credential):
            return self._from_api_key(credential)
        return self._from_session(credential)

    def _from_session(self, token: str) -> Principal:
        ref = self._sessions.get(token_hash(token))
        if ref is None:
            raise ApiError(401, "session expired or revoked: log in again")
        with self._factory() as session:
            user = session.get(User, ref.user_id)
            if user is None or not user.is_active:
                raise ApiError(401, "account disabled")
            # the row is the record: a session revoked there (an account disabled while the session
            # store could not be reached, or before its tokens were deleted) stays revoked
            revoked = session.scalar(select(UserSession.revoked_at).where(UserSession.id == ref.session_id))
            if revoked is not None:
                raise ApiError(401, "session expired or revoked: log in again")
            return Principal(
                user_id=user.id, username=user.username, role=user.role, session_id=ref.session_id
            )

    def _from_api_key(self, full_key: str) -> Principal:
        now = utcnow()
        with self._factory() as session:
            row = session.execute(
                select(ApiKey, User)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.prefix == split_prefix(full_key))
            ).first()
            if row is None or not verify_key(row.ApiKey.key_hash, full_key):
                raise ApiError(401, "invalid API key")
            key, user = row.ApiKey, row.User
            if not key_usable(key, now):
                raise ApiError(401, "API key revoked or expired")
            if not user.is_active:
                raise ApiError(401, "account disabled")
            if key.last_used_at is None or now - key.last_used_at > KEY_TOUCH_INTERVAL:
                session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
                session.commit()
            scopes = tuple(s for s in SCOPES if s in key.scopes)
            return Principal(
                user_id=user.id, username=user.username, role=user.role, key_id=key.id, scopes=scopes
            )

    # ------------------------------------------------------------ login / logout
    def login(self, *, username: str, password: str, ip: str | None, user_agent: str | None) -> LoginResult:
        # one login per user at a time in this process (SQLite has no row lock; PostgreSQL's
        # FOR UPDATE below serialises the api-gateway's replicas)
        stripe = int.from_bytes(hashlib.blake2b(username.lower().encode(), digest_size=4).digest())
        with self._login_locks[stripe % LOGIN_LOCKS]:
            return self._login(username=username, password=password, ip=ip, user_agent=user_agent)

    def _login(self, *, username: str, password: str, ip: str | None, user_agent: str | None) -> LoginResult:
        now = utcnow()
        with self._factory() as session:
            # the user's row stays locked through the password check: concurrent guesses wait their
            # turn and each sees the failures before it (read unlocked, ten at once were all checked
            # against a count of 0, and the lockout never came)
            user = session.scalar(select(User).where(User.username == username).with_for_update())
            locked = user is not None and user.locked_until is not None and user.locked_until > now
            if user is None or locked:  # the same argon2 work as a real check: no timing oracle
                verify_password(self._dummy_hash, password)
                if locked:
                    log.warning("login refused: account locked", user=username, client_ip=ip)
                raise ApiError(401, LOGIN_REFUSED)
            if not verify_password(user.password_hash, password):
                self._record_failure(user, now)
                session.commit()
                raise ApiError(401, LOGIN_REFUSED)
            if not user.is_active:
                raise ApiError(401, "account disabled")
            user.failed_logins = 0
            user.locked_until = None
            token = new_session_token()
            digest = token_hash(token)
            row = UserSession(
                user_id=user.id,
                username=user.username,
                login_time=now,
                ip_address=(ip or "")[:64] or None,
                user_agent=user_agent,
                last_seen=now,
                token_hash=digest,
            )
            session.add(row)
            session.flush()
            self._sessions.put(digest, SessionRef(session_id=row.id, user_id=user.id), self.session_ttl_s)
            session.commit()
            log.info("login", user=user.username, session_id=row.id, client_ip=ip)
            return LoginResult(token=token, session_id=row.id, user=user, expires_in=self.session_ttl_s)

    @staticmethod
    def _record_failure(user: User, now: datetime) -> None:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            log.warning(
                "account locked after failed logins", user=user.username, minutes=LOCKOUT.seconds // 60
            )

    def revoke_session(self, session: Session, *, row: UserSession) -> None:
        """Caller owns the transaction; the token leaves the store at once."""
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        if row.token_hash:
            self._sessions.delete(row.token_hash)
