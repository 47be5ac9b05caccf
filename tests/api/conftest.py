"""An app over a real database (SQLite file or PostgreSQL) and, where asked, real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smc_agent.api.app import create_app
from smc_agent.api.ratelimit import RateLimits
from smc_agent.bootstrap import Container
from smc_agent.settings import Settings
from smc_agent.store.db import transaction
from smc_agent.store.users import create_user

PASSWORD = "correct horse battery"
USERS = {"admin": "admin", "alice": "trader", "bob": "trader", "vera": "viewer"}


@dataclass
class Api:
    client: TestClient
    container: Container
    tokens: dict[str, str]
    user_ids: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def login(self, who: str) -> str:
        response = self.client.post("/v1/auth/login", json={"username": who, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return str(response.json()["token"])


def build_container(database_url: str, tmp_path: Path, redis_url: str | None = None,
                    session_db: int = 1) -> Container:
    settings = Settings(database_url=database_url, data_dir=tmp_path, redis_url=redis_url,
                        session_redis_db=session_db, master_key="test-master-key-0123456789")
    container = Container(settings)
    with transaction(container.session_factory) as session:
        for name, role in USERS.items():
            create_user(session, username=name, password=PASSWORD, role=role)
    return container


def open_api(container: Container, **kwargs: object) -> Iterator[Api]:
    app = create_app(container, **kwargs)  # type: ignore[arg-type]
    with TestClient(app) as client:
        api = Api(client=client, container=container, tokens={}, user_ids={})
        for name in USERS:
            api.tokens[name] = api.login(name)
            api.user_ids[name] = client.get("/v1/me", headers=api.headers(name)).json()["id"]
        yield api
    container.close()


@pytest.fixture
def api(migrated_sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    """Embedded default: SQLite, sessions in the database, in-process bus."""
    yield from open_api(build_container(migrated_sqlite_url, tmp_path))


@pytest.fixture
def redis_api(migrated_pg_url: str, redis_pair: tuple[str, str], tmp_path: Path) -> Iterator[Api]:
    """PostgreSQL + Redis: control store on the pair's first db, sessions on its second."""
    control_url, session_url = redis_pair
    session_db = int(session_url.rsplit("/", 1)[1])
    yield from open_api(build_container(migrated_pg_url, tmp_path, control_url, session_db))


def tight_limits(per_minute: int = 60, burst: int = 3) -> RateLimits:
    from smc_agent.api.ratelimit import Limit

    return RateLimits(per_principal=Limit(per_minute, burst), per_ip=Limit(6000, 1000), login_per_ip=Limit(60, 30))
