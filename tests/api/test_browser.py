"""The dashboard in Debian's Chromium (never a downloaded browser): log in, see the chart with its
SMC overlays, halt trading with a reason, see the halted state, resume. Screenshots go to out/."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smc_agent.api.app import create_app
from smc_agent.api.static import dashboard_built
from smc_agent.bootstrap import Container
from smc_agent.store.db import transaction
from tests.api.candles import store_candles
from tests.api.conftest import PASSWORD, build_container
from tests.api.server import running

CHROMIUM = Path("/usr/bin/chromium")
OUT = Path(__file__).resolve().parents[2] / "out" / "browser"
REQUIRE = os.environ.get("SMC_REQUIRE_SERVICES") == "1"

pytestmark = pytest.mark.browser


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason}; SMC_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(reason)


@pytest.fixture
def served(api_sqlite_url: str, tmp_path: Path) -> Iterator[tuple[str, Container]]:
    """The dashboard's address and the container behind it (to seed records, play the engine)."""
    if not dashboard_built():
        _unavailable("dashboard not built: run scripts/build-web (npm ci && npm run build in web/)")
    if not CHROMIUM.exists():
        _unavailable("Debian Chromium missing: apt-get install -y chromium")
    container = build_container(api_sqlite_url, tmp_path)
    with transaction(container.session_factory) as session:
        store_candles(session, n=300)
    app = create_app(container)
    with running(app) as address:
        yield f"http://{address}", container
    container.close()


@pytest.fixture
def dashboard(served: tuple[str, Container]) -> str:
    return served[0]


def _browser(playwright: Any) -> Any:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )


@pytest.mark.timeout(120)
def test_login_chart_halt_resume(dashboard: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    foreign: list[str] = []
    with sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.on(
            "request",
            lambda r: (
                foreign.append(r.url)
                if not r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "blob:", "data:"))
                else None
            ),
        )
        page.goto(dashboard)
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "wrong password")
        page.click("#login-button")
        expect(page.locator("#login-error")).to_contain_text("invalid username or password")
        page.screenshot(path=str(OUT / "01-login-refused.png"))
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-button")

        chart = page.locator("#chart")
        expect(chart).to_have_attribute(
            "data-overlays", __import__("re").compile(r"^[1-9]\d*$"), timeout=60_000
        )
        expect(page.locator("#overlay-counts")).to_contain_text("order blocks")
        expect(page.locator("#chart canvas").first).to_be_visible()
        expect(page.locator("#stream-badge")).to_have_text("stream live", timeout=10_000)
        expect(page.locator("#trading-state")).to_have_attribute("data-state", "active")
        page.screenshot(path=str(OUT / "02-desk-chart.png"))

        page.click("#halt-button")
        page.fill("#reason-input", "browser drill: suspicious fills")
        page.screenshot(path=str(OUT / "03-halt-dialog.png"))
        page.click("#reason-confirm")
        expect(page.locator("#trading-state")).to_have_attribute("data-state", "halted")
        expect(page.locator("#trading-reason")).to_contain_text("browser drill: suspicious fills")
        expect(page.locator("#trading-badge")).to_have_text("trading halted")
        page.screenshot(path=str(OUT / "04-halted.png"))

        page.click("#resume-button")
        page.fill("#reason-input", "drill over")
        page.click("#reason-confirm")
        expect(page.locator("#trading-state")).to_have_attribute("data-state", "active")
        expect(page.locator(".toast", has_text="Trading active")).to_be_visible()
        expect(page.locator(".toast.error")).to_have_count(0)
        page.screenshot(path=str(OUT / "05-resumed.png"))

        page.click("button[data-tab=backtests]")
        expect(page.locator("#backtest-form")).to_be_visible()
        page.select_option("#backtest-form select[name=strategy]", "sma_cross")
        page.click("#backtest-form button[type=submit]")
        expect(page.locator(".report-open")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(OUT / "06-backtests.png"))
        with page.expect_popup() as popup:
            page.click(".report-open")
        report = popup.value
        report.wait_for_load_state()
        expect(report.locator(".plotly-graph-div").first).to_be_visible(timeout=30_000)
        report.screenshot(path=str(OUT / "07-backtest-report.png"))
        assert "sma_cross" in report.content()
        browser.close()
    assert foreign == []  # offline: nothing but the local server was asked for


@pytest.mark.timeout(120)
def test_admin_sees_open_incidents_with_timeline(dashboard: str) -> None:
    import httpx
    from playwright.sync_api import expect, sync_playwright

    token = httpx.post(f"{dashboard}/v1/auth/login", json={"username": "admin", "password": PASSWORD}).json()[
        "token"
    ]
    opened = httpx.post(
        f"{dashboard}/v1/incidents",
        headers={"Authorization": f"Bearer {token}"},
        json={"priority": "P0", "title": "Binance order endpoint down", "impact": "no new orders"},
    )
    assert opened.status_code == 201, opened.text
    incident_id = opened.json()["incident"]["id"]
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(dashboard)
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-button")
        row = page.locator(f"tr.incident-row[data-id='{incident_id}']")
        expect(row).to_contain_text("Binance order endpoint down", timeout=30_000)
        expect(row).to_contain_text("P0")
        expect(row).to_contain_text("investigating")
        row.locator(".timeline-toggle").click()
        expect(page.locator(".timeline")).to_contain_text("P0 incident opened: Binance order endpoint down")
        page.locator("#incidents-card").screenshot(path=str(OUT / "08-incidents.png"))
        page.screenshot(path=str(OUT / "09-desk-incidents.png"), full_page=True)
        browser.close()


def _log_in(page: Any, dashboard: str) -> None:
    from playwright.sync_api import expect

    page.goto(dashboard)
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-button")
    expect(page.locator("#trading-state")).to_have_attribute("data-state", "active", timeout=30_000)


@pytest.mark.timeout(120)
def test_a_resume_is_requested_then_verified_and_a_blank_reason_keeps_the_dialog_open(
    served: tuple[str, Container],
) -> None:
    """With an engine running, POST /resume only requests the release (the engine verifies): the page
    said "Trading halted" in red. And a reason of spaces passed the browser's minlength, closed the
    dialog and showed the API's raw 422."""
    from playwright.sync_api import expect, sync_playwright

    from smc_agent.control.trading import HEARTBEAT_KEY

    dashboard, container = served
    container.kv.set(HEARTBEAT_KEY, "execution-engine-0", ttl_s=120)
    with sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        _log_in(page, dashboard)
        page.click("#halt-button")
        page.fill("#reason-input", "   ")
        page.click("#reason-confirm")
        expect(page.locator("#reason-error")).to_contain_text("at least 3 characters")
        expect(page.locator("#reason-dialog")).to_have_attribute("open", "")
        page.fill("#reason-input", "  ok  ")  # 2 characters once trimmed
        page.click("#reason-confirm")
        expect(page.locator("#reason-dialog")).to_have_attribute("open", "")
        page.fill("#reason-input", "drill")
        expect(page.locator("#reason-error")).to_have_text("")
        page.click("#reason-confirm")
        expect(page.locator("#trading-state")).to_have_attribute("data-state", "halted")

        page.click("#resume-button")
        page.fill("#reason-input", "drill over")
        page.click("#reason-confirm")
        expect(page.locator(".toast", has_text="Resume requested: verifying")).to_be_visible()
        expect(page.locator(".toast.error")).to_have_count(0)
        container.trading_control.complete_release([], actor="engine-test")  # the engine's verification
        expect(page.locator("#trading-state")).to_have_attribute("data-state", "active", timeout=15_000)
        expect(page.locator(".toast", has_text="Trading active")).to_be_visible()
        expect(page.locator(".toast.error")).to_have_count(0)
        browser.close()


def _seed_trades(container: Container, n: int = 12) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from smc_agent.store.models import Trade

    with transaction(container.session_factory) as session:
        for i in range(n):
            buy = i % 2 == 0
            session.add(
                Trade(
                    user_id="usr_admin",
                    exchange="binance",
                    venue_trade_id=f"phone-{i}",
                    symbol="BTC/USDT",
                    side="buy" if buy else "sell",
                    quantity=Decimal("0.012345"),
                    price=Decimal("60123.45"),
                    market_price=Decimal("60123.45"),
                    fee=Decimal("0.000012") if buy else Decimal("0.7422"),
                    fee_currency="BTC" if buy else "USDT",
                    timestamp=datetime(2026, 1, 1, i, tzinfo=UTC),
                )
            )


@pytest.mark.timeout(120)
def test_phone_layout_fits_the_screen_and_fees_carry_their_currency(served: tuple[str, Container]) -> None:
    """At 390 px the page was 1028 px wide (a 1fr column as wide as the trades table): Log out was
    off-screen. The trades' fees mixed BTC and USDT without a unit."""
    from playwright.sync_api import expect, sync_playwright

    dashboard, container = served
    _seed_trades(container)
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        _log_in(page, dashboard)
        expect(page.locator("#chart")).to_have_attribute(
            "data-overlays", re.compile(r"^[1-9]\d*$"), timeout=60_000
        )
        page.screenshot(path=str(OUT / "10-phone.png"))
        page.click("button[data-tab=trades]")
        expect(page.locator("#tab-body tbody tr")).to_have_count(12)
        expect(page.locator("#tab-body tbody tr").first).to_contain_text("0.7422 USDT")
        expect(page.locator("#tab-body tbody tr").nth(1)).to_contain_text("0.000012 BTC")
        page.screenshot(path=str(OUT / "11-phone-trades.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        logout = page.locator("#logout").bounding_box()
        assert logout is not None and logout["x"] >= 0 and logout["x"] + logout["width"] <= 390
        browser.close()
