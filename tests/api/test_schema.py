"""schemathesis over the whole OpenAPI schema, authenticated as an admin, against a real uvicorn
server: no 5xx, and every response conforms to the schema (status codes, content types, bodies,
headers). Bounded: a few examples per operation."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy  # noqa: F401 - see below
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from smc_agent.api.app import create_app
from smc_agent.api.ratelimit import Limit, RateLimits
from smc_agent.bootstrap import Container
from smc_agent.settings import Settings
from tests.api.conftest import PASSWORD, build_container
from tests.api.server import free_port, running

# numpy is imported here, before any test runs: otherwise the server's backtest worker thread may be
# importing it for the first time while hypothesis (in this thread) sees the half-initialised module in
# sys.modules and fails with "partially initialized module 'numpy' has no attribute 'ndarray'".


def _openapi() -> dict[str, Any]:
    """The schema needs no database: build the app over a container that is never connected."""
    with tempfile.TemporaryDirectory() as tmp:
        container = Container(Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/unused.db"))
        document = create_app(container, roles={"api"}).openapi()
        container.close()
    return document


schema = schemathesis.openapi.from_dict(_openapi()).exclude(path="/v1/auth/logout")  # keep the session alive
# The coverage phase enumerates every boundary of every parameter (hundreds of cases per operation):
# kept for a nightly run (SMC_SCHEMA_COVERAGE=1); CI runs the examples and bounded fuzzing phases.
schema.config.phases.coverage.enabled = os.environ.get("SMC_SCHEMA_COVERAGE") == "1"
PORT = free_port()
STATE: dict[str, str] = {}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, template_sqlite: Path) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    shutil.copyfile(template_sqlite, tmp / "smc_trading.db")
    container = build_container(f"sqlite:///{tmp / 'smc_trading.db'}", tmp)
    roomy = Limit(per_minute=1_000_000, burst=1_000_000)
    app = create_app(
        container, roles={"api"}, rate_limits=RateLimits(roomy, roomy, roomy), watch_control=False
    )
    with running(app, port=PORT) as address:
        base = f"http://{address}"
        STATE["token"] = httpx.post(
            f"{base}/v1/auth/login", json={"username": "admin", "password": PASSWORD}
        ).json()["token"]
        yield base
    container.close()


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_conforms_to_its_schema(case: Any, server: str) -> None:
    case.call_and_validate(
        base_url=server, headers={"Authorization": f"Bearer {STATE['token']}"}, checks=CHECKS
    )
