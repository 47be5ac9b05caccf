"""A bot the trading engine could not start is refused when it is created or changed (it used to be
stored, and the engine only logged an error and skipped it)."""

from __future__ import annotations

from tests.api.conftest import Api

BOT = {"name": "b1", "strategy": "smc", "symbols": ["BTC/USDT"], "timeframes": ["1h"]}


def _messages(response: object) -> str:
    return " ".join(e["msg"] for e in response.json()["detail"])  # type: ignore[attr-defined]


def test_unknown_strategies_and_refused_parameters_are_422_at_create_and_update(api: Api) -> None:
    h = api.headers("alice")
    unknown = api.client.post("/v1/bots", json={**BOT, "strategy": "smc_order_block"}, headers=h)
    assert unknown.status_code == 422
    assert (
        "unknown strategy 'smc_order_block'; available: ['drill', 'sma_cross', 'smc', 'smc_fast']"
        in _messages(unknown)
    )
    for parameters, words in [
        ({"risk_per_trade": "0.01"}, "unknown parameter(s) ['risk_per_trade']"),
        ({"rr": 50}, "rr"),
        ({"swing_length": "many"}, "swing_length"),
    ]:
        refused = api.client.post("/v1/bots", json={**BOT, "parameters": parameters}, headers=h)
        assert refused.status_code == 422 and words in _messages(refused), refused.text
    created = api.client.post("/v1/bots", json={**BOT, "parameters": {"rr": 2.5}}, headers=h)
    assert created.status_code == 201, created.text
    bot = created.json()["id"]
    patched = api.client.patch(f"/v1/bots/{bot}", json={"parameters": {"rr": 100}}, headers=h)
    assert patched.status_code == 422 and patched.json()["detail"][0]["loc"] == ["body", "parameters"]
    assert api.client.get(f"/v1/bots/{bot}", headers=h).json()["parameters"] == {"rr": 2.5}  # unchanged
    ok = api.client.patch(f"/v1/bots/{bot}", json={"parameters": {"rr": 3}}, headers=h)
    assert ok.status_code == 200 and ok.json()["parameters"] == {"rr": 3}
