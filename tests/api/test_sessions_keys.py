"""Sessions in Redis db 1 (FLUSHDB logs out, nothing else touched), user_sessions forensics,
disabling users and revoking / rotating keys at the next request, brute-force lockout."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from sqlalchemy import select, text, update

from smc_agent.store.models import User, UserSession
from tests.api.conftest import PASSWORD, Api, build_container, open_api


def _disable(api: Api, username: str) -> None:
    # exactly the playbook's statement
    with api.container.engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = false WHERE username = :u"), {"u": username})


def test_login_writes_the_forensic_session_row(api: Api) -> None:
    response = api.client.post(
        "/v1/auth/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"User-Agent": "forensics-test/1.0"},
    )
    assert response.status_code == 200
    token = response.json()["token"]
    with api.container.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT username, login_time, ip_address, user_agent FROM user_sessions "
                "WHERE username = 'alice' ORDER BY login_time DESC"
            )
        ).all()
    assert rows[0].username == "alice" and rows[0].user_agent == "forensics-test/1.0"
    assert rows[0].ip_address == "testclient" and rows[0].login_time is not None
    with api.container.session_factory() as session:
        hashes = session.scalars(select(UserSession.token_hash)).all()
    assert token not in hashes  # only the hash is stored


def test_wrong_password_and_lockout(api: Api) -> None:
    bad = {"username": "bob", "password": "wrong-password"}
    for _ in range(5):
        assert api.client.post("/v1/auth/login", json=bad).status_code == 401
    locked = api.client.post("/v1/auth/login", json={"username": "bob", "password": PASSWORD})
    assert locked.status_code == 401 and "locked for 15 minutes" in locked.json()["detail"]
    with api.container.session_factory() as session:
        bob = session.scalars(select(User).where(User.username == "bob")).one()
    assert bob.locked_until is not None  # the right password did not get in: the account is locked
    # a locked account answers as a name nobody has (never locked): 429 and Retry-After for the one,
    # 401 for the other told anyone which names are real
    unknown = api.client.post("/v1/auth/login", json={"username": "nobody", "password": "whatever1"})
    assert (unknown.status_code, unknown.json()) == (locked.status_code, locked.json())
    assert "retry-after" not in locked.headers and "retry-after" not in unknown.headers


def test_disabled_user_is_refused_at_the_next_request(api: Api) -> None:
    key = api.client.post("/v1/api-keys", json={"scopes": ["read"]}, headers=api.headers("alice")).json()[
        "key"
    ]
    assert api.client.get("/v1/me", headers=api.headers("alice")).status_code == 200
    assert api.client.get("/v1/me", headers={"X-API-Key": key}).status_code == 200
    _disable(api, "alice")
    assert api.client.get("/v1/me", headers=api.headers("alice")).status_code == 401
    assert api.client.get("/v1/me", headers={"X-API-Key": key}).status_code == 401
    assert (
        api.client.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 401
    )
    assert api.client.get("/v1/me", headers=api.headers("bob")).status_code == 200  # others unaffected


def test_revoke_and_rotate_keys_at_the_next_request(api: Api) -> None:
    h = api.headers("alice")
    issued = api.client.post(
        "/v1/api-keys", json={"name": "ci", "scopes": ["read", "trade"]}, headers=h
    ).json()
    old = issued["key"]
    assert api.client.get("/v1/bots", headers={"X-API-Key": old}).status_code == 200
    rotated = api.client.post(f"/v1/api-keys/{issued['api_key']['id']}/rotate", headers=h)
    assert rotated.status_code == 200
    new = rotated.json()["key"]
    assert rotated.json()["api_key"]["scopes"] == ["read", "trade"]
    assert rotated.json()["api_key"]["rotated_from"] == issued["api_key"]["id"]
    assert api.client.get("/v1/bots", headers={"X-API-Key": old}).status_code == 401
    assert api.client.get("/v1/bots", headers={"X-API-Key": new}).status_code == 200
    new_id = rotated.json()["api_key"]["id"]
    assert api.client.delete(f"/v1/api-keys/{new_id}", headers=h).status_code == 200
    assert api.client.get("/v1/bots", headers={"X-API-Key": new}).status_code == 401
    assert api.client.post(f"/v1/api-keys/{new_id}/rotate", headers=h).status_code == 409


def test_expired_key_is_refused(api: Api) -> None:
    from datetime import timedelta

    from smc_agent.store.models import ApiKey
    from smc_agent.store.types import utcnow

    issued = api.client.post("/v1/api-keys", json={"scopes": ["read"]}, headers=api.headers("alice")).json()
    with api.container.session_factory() as session, session.begin():
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == issued["api_key"]["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert api.client.get("/v1/me", headers={"X-API-Key": issued["key"]}).status_code == 401


def test_logout_and_session_revocation(api: Api) -> None:
    first = api.login("alice")
    second = api.login("alice")
    h1, h2 = {"Authorization": f"Bearer {first}"}, {"Authorization": f"Bearer {second}"}
    sessions = api.client.get("/v1/sessions", headers=h1).json()["items"]
    assert len(sessions) == 2 and sum(s["current"] for s in sessions) == 1
    other = next(s["id"] for s in sessions if not s["current"])
    assert api.client.delete(f"/v1/sessions/{other}", headers=h1).status_code == 204
    assert api.client.get("/v1/me", headers=h2).status_code == 401
    assert api.client.post("/v1/auth/logout", headers=h1).status_code == 204
    assert api.client.get("/v1/me", headers=h1).status_code == 401


@pytest.mark.postgres
@pytest.mark.redis
def test_flushdb_of_the_session_db_logs_everyone_out(redis_api: Api, redis_pair: tuple[str, str]) -> None:
    api = redis_api
    control_url, session_url = redis_pair
    key = api.client.post("/v1/api-keys", json={"scopes": ["read"]}, headers=api.headers("alice")).json()[
        "key"
    ]
    api.client.post("/v1/control/halt", json={"reason": "keep me"}, headers=api.headers("admin"))
    sessions = redis.Redis.from_url(session_url)
    assert sessions.dbsize() >= 2  # alice's and admin's tokens live in the session database
    for who in ("alice", "admin"):
        assert api.client.get("/v1/me", headers=api.headers(who)).status_code == 200
    sessions.flushdb()
    for who in ("alice", "admin"):
        assert api.client.get("/v1/me", headers=api.headers(who)).status_code == 401
    assert api.client.get("/v1/me", headers={"X-API-Key": key}).status_code == 200  # keys are not sessions
    # nothing else was touched: the halt in the control db survives
    assert redis.Redis.from_url(control_url).get("emergency_halt") == b"true"
    assert api.client.get("/v1/status").json()["trading"]["state"] == "halted"
    # logging in again works
    assert (
        api.client.get("/v1/me", headers={"Authorization": f"Bearer {api.login('alice')}"}).status_code == 200
    )
    with api.container.session_factory() as session:
        assert session.scalar(select(User.is_active).where(User.username == "alice")) is True


@pytest.mark.postgres
@pytest.mark.redis
def test_playbook_redis_db_1_flush(
    migrated_pg_url: str, playbook_redis: tuple[str, str], tmp_path: Path
) -> None:
    """With exactly the playbook's layout: control store db 0, sessions db 1."""
    control_url, session_url = playbook_redis
    assert control_url.endswith("/0") and session_url.endswith("/1")
    container = build_container(migrated_pg_url, tmp_path, control_url, 1)
    for api in open_api(container):
        h = api.headers("alice")
        assert redis.Redis(db=1).dbsize() == 1
        redis.Redis(db=0).set("emergency_halt", "true")
        redis.Redis(db=1).flushdb()  # redis-cli -n 1 FLUSHDB
        assert api.client.get("/v1/me", headers=h).status_code == 401
        assert redis.Redis(db=0).get("emergency_halt") == b"true"
        assert api.client.get("/v1/status").json()["trading"]["state"] == "halted"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://redis:6379/0", "redis://redis:6379/1"),
        ("redis://redis:6379", "redis://redis:6379/1"),
        ("redis://redis:6379?db=0", "redis://redis:6379/1"),  # accepted by the settings
        (
            "redis://:pw@redis:6379/0?health_check_interval=5",
            "redis://:pw@redis:6379/1?health_check_interval=5",
        ),
        ("unix:///var/run/redis/redis.sock?db=0", "unix:///var/run/redis/redis.sock?db=1"),
    ],
)
def test_session_redis_url_replaces_the_db_and_keeps_a_valid_url(url: str, expected: str) -> None:
    import redis as redis_py

    from smc_agent.settings import Settings

    # the api-gateway's sessions and the revoke-sessions runbook's FLUSHDB both use this URL
    session_url = Settings(redis_url=url, session_redis_db=1).session_redis_url
    assert session_url == expected
    assert redis_py.Redis.from_url(session_url).connection_pool.connection_kwargs["db"] == 1


@pytest.mark.parametrize("backend", ["redis_api", "api"])  # PostgreSQL (row lock), SQLite (none)
def test_concurrent_guesses_cannot_outrun_the_lockout(request: pytest.FixtureRequest, backend: str) -> None:
    # the failure count was read without a lock: nine guesses at once all saw 0, all were checked
    # (a right one among them got in) and the account never locked
    from concurrent.futures import ThreadPoolExecutor

    from smc_agent.api.auth import Authenticator
    from smc_agent.api.errors import ApiError
    from smc_agent.api.sessions import DbSessionStore

    factory = request.getfixturevalue(backend).container.session_factory
    auth = Authenticator(factory=factory, sessions=DbSessionStore(factory, 60), session_ttl_s=60)

    def guess(password: str) -> int:
        try:
            auth.login(username="bob", password=password, ip="198.51.100.7", user_agent=None)
        except ApiError as exc:
            return exc.status
        return 200

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(guess, [f"wrong-{i}" for i in range(9)]))
    assert codes == [401] * 9, codes
    assert guess(PASSWORD) == 401  # locked: the right password does not get in now
    with factory() as session:
        bob = session.scalars(select(User).where(User.username == "bob")).one()
    # the fifth failure locked it and reset the count; the four after it were refused unchecked
    assert bob.locked_until is not None and bob.failed_logins == 0


@pytest.mark.parametrize(
    "how", [["users", "disable", "alice"], ["runbook", "run", "disable-accounts", "--user", "alice", "--yes"]]
)
def test_a_disabled_accounts_stolen_token_stays_dead_when_it_is_enabled_again(
    redis_api: Api, how: list[str]
) -> None:
    # disabling revoked the database rows only; the Redis session store, which is what a request
    # checks, kept the token: enabled again, the attacker's copy worked and minted an API key
    from typer.testing import CliRunner

    from smc_agent.cli.main import app

    settings = redis_api.container.settings
    env = {
        "SMC_DATABASE_URL": settings.effective_database_url,
        "SMC_REDIS_URL": settings.redis_url or "",
        "SMC_SESSION_REDIS_DB": str(settings.session_redis_db),
        "SMC_DATA_DIR": str(settings.data_dir),
    }
    stolen = {"Authorization": f"Bearer {redis_api.login('alice')}"}
    assert redis_api.client.get("/v1/me", headers=stolen).status_code == 200
    result = CliRunner().invoke(app, how, env=env)
    assert result.exit_code == 0, result.output
    assert redis_api.client.get("/v1/me", headers=stolen).status_code == 401
    assert CliRunner().invoke(app, ["users", "enable", "alice"], env=env).exit_code == 0
    assert redis_api.client.get("/v1/me", headers=stolen).status_code == 401
    assert redis_api.client.post("/v1/api-keys", json={"scopes": ["read"]}, headers=stolen).status_code == 401
    fresh = {"Authorization": f"Bearer {redis_api.login('alice')}"}  # the owner logs in anew
    assert redis_api.client.get("/v1/me", headers=fresh).status_code == 200


def test_disabling_works_with_the_session_store_down_and_the_row_decides(redis_api: Api) -> None:
    # the token deletion ran inside the disabling transaction: Redis down rolled the disable back
    # (the account stayed active); and a token whose row was revoked stayed valid in Redis
    from typer.testing import CliRunner

    from smc_agent.cli.main import app

    settings = redis_api.container.settings
    dead = "redis://127.0.0.1:9/0"  # nothing listens there
    env = {
        "SMC_DATABASE_URL": settings.effective_database_url,
        "SMC_REDIS_URL": dead,
        "SMC_SESSION_REDIS_DB": str(settings.session_redis_db),
        "SMC_DATA_DIR": str(settings.data_dir),
    }
    stolen = {"Authorization": f"Bearer {redis_api.login('alice')}"}
    result = CliRunner().invoke(app, ["users", "disable", "alice"], env=env)
    assert result.exit_code == 0, result.output
    assert "session tokens not deleted" in " ".join(result.output.split())
    with redis_api.container.session_factory() as session:
        assert session.scalar(select(User.is_active).where(User.username == "alice")) is False
    assert CliRunner().invoke(app, ["users", "enable", "alice"], env=env).exit_code == 0
    assert redis_api.client.get("/v1/me", headers=stolen).status_code == 401  # its row is revoked
