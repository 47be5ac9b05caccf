"""/v1/incidents: admin only; open -> acknowledge -> update -> resolve -> post-mortem through the API,
with the stakeholder messages queued in the outbox (SQLite, and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from smc_agent.store.db import transaction
from smc_agent.store.models import NotificationOutbox
from tests.api.conftest import Api, build_container, open_api

OPEN = {
    "priority": "P1",
    "title": "Binance API errors",
    "impact": "No new orders on Binance",
    "description": "5xx from the order endpoint",
}
ROUTES = [
    ("GET", "/v1/incidents", None),
    ("POST", "/v1/incidents", OPEN),
    ("GET", "/v1/incidents/INC-1", None),
    ("POST", "/v1/incidents/INC-1/acknowledge", None),
    ("POST", "/v1/incidents/INC-1/update", {"status": "identified", "note": "found it"}),
    ("POST", "/v1/incidents/INC-1/resolve", {"root_cause": "x", "resolution": "y"}),
    ("GET", "/v1/incidents/INC-1/postmortem", None),
]


@pytest.fixture(autouse=True)
def _slack(monkeypatch: pytest.MonkeyPatch) -> None:
    """One configured channel, so opening queues a message (nothing is sent: no dispatcher runs)."""
    monkeypatch.setenv("SMC_SLACK_CRITICAL_WEBHOOK", "http://127.0.0.1:9/hook")


def test_incidents_are_admin_only(api: Api) -> None:
    """Anonymous 401, trader and viewer 403, admin through (404 for the unknown id INC-1)."""
    for method, path, body in ROUTES:
        assert api.client.request(method, path, json=body).status_code == 401, (method, path)
        for who in ("alice", "vera"):
            response = api.client.request(method, path, json=body, headers=api.headers(who))
            assert response.status_code == 403, (method, path, who, response.text)
        admin = api.client.request(method, path, json=body, headers=api.headers("admin"))
        expected = 201 if body is OPEN else 200 if path == "/v1/incidents" else 404
        assert admin.status_code == expected, (method, path, admin.text)


def _outbox_kinds(api: Api, incident_id: str) -> list[str]:
    with transaction(api.container.session_factory) as s:
        rows = s.scalars(select(NotificationOutbox).order_by(NotificationOutbox.created_at)).all()
        return [str(r.payload.get("kind")) for r in rows if r.incident_id == incident_id]


def round_trip(api: Api) -> None:
    h = api.headers("admin")
    opened = api.client.post("/v1/incidents", json={**OPEN, "commander": "carol"}, headers=h)
    assert opened.status_code == 201, opened.text
    incident = opened.json()["incident"]
    iid = incident["id"]
    assert iid.startswith("INC-") and incident["priority"] == "P1" and incident["status"] == "investigating"
    assert incident["commander"] == "carol"
    assert iid in opened.json()["alert"] and "No new orders on Binance" in opened.json()["alert"]
    assert [e["kind"] for e in incident["events"]] == ["opened"]
    assert incident["events"][0]["actor"] == "admin@api" and incident["events"][0]["source"] == "api"

    listed = api.client.get("/v1/incidents", params={"open_only": True, "priority": "P1"}, headers=h).json()
    assert [i["id"] for i in listed["items"]] == [iid]
    assert api.client.get("/v1/incidents", params={"priority": "P0"}, headers=h).json()["items"] == []

    r = api.client.post(f"/v1/incidents/{iid}/acknowledge", headers=h)
    assert r.status_code == 200 and r.json()["acknowledged_at"] is not None
    r = api.client.post(
        f"/v1/incidents/{iid}/update",
        headers=h,
        json={"status": "monitoring", "note": "failed over to Bybit", "eta": "30 min"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "monitoring" and r.json()["mitigated_at"] is not None
    r = api.client.post(
        f"/v1/incidents/{iid}/resolve",
        headers=h,
        json={"root_cause": "venue outage", "resolution": "back on Binance", "data_lost": False},
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert (
        done["status"] == "resolved" and done["root_cause"] == "venue outage" and done["data_lost"] is False
    )
    assert [e["kind"] for e in done["events"]] == ["opened", "acknowledged", "status_changed", "resolved"]

    shown = api.client.get(f"/v1/incidents/{iid}", headers=h).json()
    assert shown["events"] == done["events"]
    assert api.client.get("/v1/incidents", params={"open_only": True}, headers=h).json()["items"] == []
    # the same outbox path as the CLI: one message per change, in order
    assert _outbox_kinds(api, iid) == ["initial", "update", "resolution"]

    pm = api.client.get(f"/v1/incidents/{iid}/postmortem", headers=h)
    assert pm.status_code == 200 and pm.headers["content-type"].startswith("text/markdown")
    assert pm.text.startswith(f"# Post-mortem {iid}: Binance API errors")
    assert "venue outage" in pm.text and "failed over to Bybit" in pm.text

    # a resolved incident takes no more updates
    again = api.client.post(f"/v1/incidents/{iid}/update", json={"note": "more"}, headers=h)
    assert again.status_code == 409 and "resolved" in again.json()["detail"]


def test_round_trip_sqlite(api: Api) -> None:
    round_trip(api)


@pytest.fixture
def pg_api(migrated_pg_url: str, tmp_path: Path) -> Iterator[Api]:
    yield from open_api(build_container(migrated_pg_url, tmp_path))


def test_round_trip_postgresql(pg_api: Api) -> None:
    round_trip(pg_api)


def test_bad_input_and_unknown_ids(api: Api) -> None:
    h = api.headers("admin")
    for body in (
        {**OPEN, "priority": "P9"},
        {**OPEN, "title": "  "},
        {k: v for k, v in OPEN.items() if k != "impact"},
    ):
        assert api.client.post("/v1/incidents", json=body, headers=h).status_code == 422, body
    assert api.client.get("/v1/incidents", params={"priority": "P7"}, headers=h).status_code == 422
    missing = api.client.get("/v1/incidents/INC-20000101-000000", headers=h)
    assert missing.status_code == 404 and "INC-20000101-000000" in missing.json()["detail"]
    iid = api.client.post("/v1/incidents", json=OPEN, headers=h).json()["incident"]["id"]
    for status in ("resolved", "bogus"):
        r = api.client.post(f"/v1/incidents/{iid}/update", json={"status": status, "note": "n"}, headers=h)
        assert r.status_code == 422, status
    assert api.client.get(f"/v1/incidents/{iid}", headers=h).json()["status"] == "investigating"


def test_pagination(api: Api) -> None:
    h = api.headers("admin")
    ids = [
        api.client.post("/v1/incidents", json={**OPEN, "priority": p}, headers=h).json()["incident"]["id"]
        for p in ("P0", "P2", "P3")
    ]
    assert len(set(ids)) == 3
    first = api.client.get("/v1/incidents", params={"limit": 2}, headers=h).json()
    second = api.client.get(
        "/v1/incidents", params={"limit": 2, "offset": first["next_offset"]}, headers=h
    ).json()
    assert first["next_offset"] == 2 and second["next_offset"] is None
    assert [i["id"] for i in first["items"] + second["items"]] == list(reversed(ids))
