"""An app over a real database (SQLite file or PostgreSQL) and, where asked, real Redis."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smc_agent.api.app import create_app
from smc_agent.api.ratelimit import RateLimits
from smc_agent.bootstrap import Container
from smc_agent.settings import Settings
from smc_agent.store import migrate
from smc_agent.store.db import transaction
from smc_agent.store.models import User
from smc_agent.store.users import hash_password

PASSWORD = "correct horse battery"
USERS = {"admin": "admin", "alice": "trader", "bob": "trader", "vera": "viewer"}


@functools.cache
def password_hash() -> str:
    """One argon2 hash for every test user (hashing costs ~0.4 s on the CI machine)."""
    return hash_password(PASSWORD)


@dataclass
class Api:
    client: TestClient
    container: Container
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        if who not in self.tokens:  # log in on first use: each login is a real argon2 verification
            self.tokens[who] = self.login(who)
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def login(self, who: str) -> str:
        response = self.client.post("/v1/auth/login", json={"username": who, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return str(response.json()["token"])


def build_container(
    database_url: str, tmp_path: Path, redis_url: str | None = None, session_db: int = 1
) -> Container:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        redis_url=redis_url,
        session_redis_db=session_db,
        master_key="test-master-key-0123456789",
    )
    container = Container(settings)
    with transaction(container.session_factory) as session:
        if session.query(User).count() == 0:
            for name, role in USERS.items():
                session.add(User(id=f"usr_{name}", username=name, password_hash=password_hash(), role=role))
    return container


def open_api(container: Container, **kwargs: object) -> Iterator[Api]:
    app = create_app(container, **kwargs)  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield Api(client=client, container=container, user_ids={n: f"usr_{n}" for n in USERS})
    container.close()


@pytest.fixture(scope="session")
def template_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the test users, copied for each test (migrating costs ~1.5 s)."""
    path = tmp_path_factory.mktemp("template") / "smc_trading.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    build_container(url, path.parent).close()
    return path


@pytest.fixture
def api_sqlite_url(template_sqlite: Path, tmp_path: Path) -> str:
    target = tmp_path / "smc_trading.db"
    shutil.copyfile(template_sqlite, target)
    return f"sqlite:///{target}"


@pytest.fixture
def api(api_sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    """Embedded default: SQLite, sessions in the database, in-process bus."""
    yield from open_api(build_container(api_sqlite_url, tmp_path))


@pytest.fixture
def redis_api(migrated_pg_url: str, redis_pair: tuple[str, str], tmp_path: Path) -> Iterator[Api]:
    """PostgreSQL + Redis: control store on the pair's first db, sessions on its second."""
    control_url, session_url = redis_pair
    session_db = int(session_url.rsplit("/", 1)[1])
    yield from open_api(build_container(migrated_pg_url, tmp_path, control_url, session_db))


def tight_limits(per_minute: int = 60, burst: int = 3, login_burst: int = 30) -> RateLimits:
    from smc_agent.api.ratelimit import Limit

    return RateLimits(
        per_principal=Limit(per_minute, burst), per_ip=Limit(6000, 1000), login_per_ip=Limit(6, login_burst)
    )
