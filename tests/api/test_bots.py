"""A bot the trading engine could not start is refused when it is created or changed (it used to be
stored, and the engine only logged an error and skipped it)."""

from __future__ import annotations

from tests.api.conftest import Api

BOT = {"name": "b1", "strategy": "smc", "symbols": ["BTC/USDT"], "timeframes": ["15m"]}


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


def test_patch_merges_the_parameters(api: Api) -> None:
    # the parameters given replaced all of them: {"fast": 5} on {"fast": 10, "slow": 50} silently
    # dropped slow, and the bot restarted on its default
    h = api.headers("alice")
    bot = api.client.post("/v1/bots", json={**SMA, "parameters": {"fast": 10, "slow": 50}}, headers=h).json()
    merged = api.client.patch(f"/v1/bots/{bot['id']}", json={"parameters": {"fast": 5}}, headers=h)
    assert merged.status_code == 200 and merged.json()["parameters"] == {"fast": 5, "slow": 50}, merged.text
    same = api.client.patch(f"/v1/bots/{bot['id']}", json={"parameters": {}}, headers=h)
    assert same.json()["parameters"] == {"fast": 5, "slow": 50}
    default = api.client.patch(f"/v1/bots/{bot['id']}", json={"parameters": {"slow": None}}, headers=h)
    assert default.status_code == 200 and default.json()["parameters"] == {"fast": 5}, default.text
    # the merged set is what is checked: fast above the default slow is refused
    refused = api.client.patch(f"/v1/bots/{bot['id']}", json={"parameters": {"fast": 500}}, headers=h)
    assert refused.status_code == 422, refused.text
    assert api.client.get(f"/v1/bots/{bot['id']}", headers=h).json()["parameters"] == {"fast": 5}


def test_a_422_echoing_a_non_finite_number_is_still_json(api: Api) -> None:
    """Python's json reads NaN and Infinity: the body was refused, then answering it failed with a 500
    ("Out of range float values are not JSON compliant") since the 422 echoes the input."""
    h = {**api.headers("alice"), "content-type": "application/json"}
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = '{"name":"x","strategy":"sma_cross","symbols":["BTC/USDT"],"timeframes":["1m"],"parameters":{"qty":%s}}'
        refused = api.client.post("/v1/bots", content=body % literal, headers=h)
        assert refused.status_code == 422, refused.text
        detail = refused.json()["detail"]
        assert detail[0]["loc"] == ["body", "parameters"] and literal in refused.text
    # any endpoint: a number field given NaN echoes it too
    refused = api.client.post(
        "/v1/backtests", content='{"symbol":"BTC/USDT","timeframe":"1h","start_ms":NaN}', headers=h
    )
    assert refused.status_code == 422 and refused.json()["detail"][0]["input"] == "NaN", refused.text
    bot = api.client.post("/v1/bots", json=BOT, headers=h).json()["id"]
    patched = api.client.patch(f"/v1/bots/{bot}", content='{"parameters":{"rr":NaN}}', headers=h)
    assert patched.status_code == 422 and patched.json()["detail"][0]["loc"] == ["body", "parameters"]


SMA = {
    "name": "s1",
    "strategy": "sma_cross",
    "venue": "binance",
    "symbols": ["BTC/USDT"],
    "timeframes": ["1m"],
}


def test_nonsense_bots_are_refused_naming_the_field(api: Api) -> None:
    """They were stored with 201: a quantity of 1e300 or 0, a bool for an int and a list for a bool
    (silently made 1 and True), a venue the runtime does not trade on, a timeframe no feed serves."""
    h = api.headers("alice")
    for body, loc, words in [
        ({**SMA, "parameters": {"qty": 1e300}}, ["body", "parameters"], "'qty': 1e+300 above maximum 10000"),
        ({**SMA, "parameters": {"qty": 10**400}}, ["body", "parameters"], "'qty'"),
        ({**SMA, "strategy": "drill", "parameters": {"qty": 1e300}}, ["body", "parameters"], "above maximum"),
        (
            {**SMA, "strategy": "drill", "parameters": {"qty": 0}},
            ["body", "parameters"],
            "qty (0.0) must be more",
        ),
        (
            {**SMA, "parameters": {"fast": True}},
            ["body", "parameters"],
            "'fast': True is a boolean, expected int",
        ),
        ({**SMA, "parameters": {"allow_short": [1]}}, ["body", "parameters"], "is a list, expected bool"),
        ({**SMA, "parameters": {"allow_short": "yes"}}, ["body", "parameters"], "is a string, expected bool"),
        ({**SMA, "parameters": {"fast": "12"}}, ["body", "parameters"], "is a string, expected int"),
        ({**SMA, "parameters": {"fast": 12.5}}, ["body", "parameters"], "not a valid int"),
        ({**SMA, "strategy": "nope"}, ["body", "strategy"], "unknown strategy 'nope'"),
        ({**SMA, "venue": "paper"}, ["body", "venue"], "'binance' or 'bybit'"),
        ({**SMA, "venue": "sim"}, ["body", "venue"], "'binance' or 'bybit'"),
        ({**SMA, "symbols": ["BTCUSDT"]}, ["body", "symbols", 0], "pattern"),
        ({**SMA, "symbols": ["btc/usdt"]}, ["body", "symbols", 0], "pattern"),
        ({**SMA, "symbols": ["FOO/"]}, ["body", "symbols", 0], "pattern"),
        ({**SMA, "timeframes": ["999M"]}, ["body", "timeframes", 0], "not served by the data pipeline"),
        ({**SMA, "timeframes": ["7m"]}, ["body", "timeframes", 0], "not served by the data pipeline"),
        ({**SMA, "timeframes": ["1x"]}, ["body", "timeframes", 0], "bad timeframe '1x'"),
        # the engine traded the first of several and ignored the rest without a word
        ({**SMA, "symbols": ["ETH/USDT:USDT", "BTC/USDT"]}, ["body", "symbols"], "create one bot per symbol"),
        ({**SMA, "timeframes": ["4h", "1d"]}, ["body", "timeframes"], "higher timeframes are the strategy's"),
        ({**SMA, "symbols": []}, ["body", "symbols"], "a bot trades one symbol (it was given 0)"),
    ]:
        refused = api.client.post("/v1/bots", json=body, headers=h)
        assert refused.status_code == 422, (body, refused.text)
        detail = refused.json()["detail"]
        assert [e["loc"] for e in detail] == [loc] and words in detail[0]["msg"], (body, detail)
    assert api.client.get("/v1/bots", headers=h).json()["items"] == []
    for body in [
        {**SMA, "parameters": {"qty": 10_000, "fast": 5, "slow": 50, "allow_short": False}},
        {**SMA, "venue": "bybit", "symbols": ["1000PEPE/USDT"], "timeframes": ["1d"]},
        {**SMA, "strategy": "drill", "parameters": {"qty": 0.5, "every": 3}},
        {**SMA, "strategy": "smc", "parameters": {"rr": 3, "use_fvg": False, "htf": "4h"}},
    ]:
        created = api.client.post(
            "/v1/bots", json={**body, "name": body["strategy"] + body["symbols"][0]}, headers=h
        )
        assert created.status_code == 201, (body, created.text)


def test_patch_refuses_what_create_refuses(api: Api) -> None:
    h = api.headers("alice")
    bot = api.client.post("/v1/bots", json=SMA, headers=h).json()
    started = api.client.post(f"/v1/bots/{bot['id']}/start", headers=h)
    assert started.status_code == 200
    for body, loc in [
        ({"symbols": ["FOO-BAR"]}, ["body", "symbols", 0]),
        ({"timeframes": ["999M"]}, ["body", "timeframes", 0]),
        ({"parameters": {"fast": True}}, ["body", "parameters"]),
        ({"parameters": {"qty": 1e300}}, ["body", "parameters"]),
    ]:
        refused = api.client.patch(f"/v1/bots/{bot['id']}", json=body, headers=h)
        assert refused.status_code == 422, (body, refused.text)
        assert [e["loc"] for e in refused.json()["detail"]] == [loc], refused.text
    after = api.client.get(f"/v1/bots/{bot['id']}", headers=h).json()
    assert (after["symbols"], after["timeframes"], after["parameters"]) == (["BTC/USDT"], ["1m"], {})
    # a running bot's strategy is built once: an edit was stored, shown, and never traded
    edit = {"symbols": ["ETH/USDT"], "timeframes": ["5m"]}
    busy = api.client.patch(f"/v1/bots/{bot['id']}", json=edit, headers=h)
    assert busy.status_code == 409 and "stop it" in busy.json()["detail"], busy.text
    assert api.client.patch(f"/v1/bots/{bot['id']}", json={"name": "renamed"}, headers=h).status_code == 200
    stopped = api.client.post(f"/v1/bots/{bot['id']}/stop", headers=h)  # no engine took it up yet
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped", stopped.text
    ok = api.client.patch(f"/v1/bots/{bot['id']}", json=edit, headers=h)
    assert ok.status_code == 200 and ok.json()["symbols"] == ["ETH/USDT"], ok.text
    # a misspelt or read-only field is refused, not ignored
    for body in ({"paramters": {"fast": 3}}, {"mode": "live"}, {"strategy": "smc"}):
        refused = api.client.patch(f"/v1/bots/{bot['id']}", json=body, headers=h)
        assert refused.status_code == 422 and "extra" in refused.text, (body, refused.text)
    typo = api.client.post("/v1/bots", json={**SMA, "name": "typo", "paramters": {"fast": 3}}, headers=h)
    assert typo.status_code == 422 and typo.json()["detail"][0]["loc"] == ["body", "paramters"], typo.text


def test_patch_back_to_a_default_checks_the_defaults(api: Api) -> None:
    # an smc bot on 1h candles sent back to its default htf (1h) was accepted, and the engine could
    # not start it
    h = api.headers("alice")
    body = {**SMA, "strategy": "smc", "timeframes": ["1h"], "parameters": {"htf": "4h"}}
    bot = api.client.post("/v1/bots", json=body, headers=h).json()
    refused = api.client.patch(f"/v1/bots/{bot['id']}", json={"parameters": {"htf": None}}, headers=h)
    assert refused.status_code == 422 and "1h" in refused.text, refused.text


def test_bot_venues_are_the_venues_the_runtime_trades_on() -> None:
    from typing import get_args

    from smc_agent.api.schemas import BotVenue
    from smc_agent.control.failover import KNOWN_VENUES
    from smc_agent.live.strategies import STRATEGIES, STRATEGY_CLASSES

    assert set(get_args(BotVenue)) == set(KNOWN_VENUES)
    assert set(STRATEGY_CLASSES) == set(STRATEGIES)
    assert all(type(STRATEGIES[name]({})) is cls for name, cls in STRATEGY_CLASSES.items())


def test_a_bot_whose_higher_timeframe_does_not_fit_its_candles_is_refused(api: Api) -> None:
    # smc builds its bias timeframe (htf, default 1h) from the bot's candles: on 1h candles it was stored
    # and then failed when the engine started it
    h = api.headers("alice")
    refused = api.client.post("/v1/bots", json={**BOT, "timeframes": ["1h"]}, headers=h)
    assert refused.status_code == 422 and "higher timeframe 1h" in _messages(refused), refused.text
    fits = api.client.post(
        "/v1/bots", json={**BOT, "timeframes": ["1h"], "parameters": {"htf": "4h"}}, headers=h
    )
    assert fits.status_code == 201, fits.text
    bot = api.client.post("/v1/bots", json={**BOT, "name": "on 15m"}, headers=h).json()  # htf 1h
    patched = api.client.patch(f"/v1/bots/{bot['id']}", json={"timeframes": ["1h"]}, headers=h)
    assert patched.status_code == 422 and patched.json()["detail"][0]["loc"] == ["body", "timeframes"]
    assert api.client.get(f"/v1/bots/{bot['id']}", headers=h).json()["timeframes"] == ["15m"]


def test_a_users_bots_have_distinct_names(api: Api) -> None:
    # three bots named "eth-sma" were accepted: the list could not tell them apart
    alice, bob = api.headers("alice"), api.headers("bob")
    first = api.client.post("/v1/bots", json={**SMA, "name": "eth-sma"}, headers=alice)
    assert first.status_code == 201, first.text
    again = api.client.post("/v1/bots", json={**SMA, "name": "ETH-sma"}, headers=alice)
    assert again.status_code == 409 and "already have a bot named" in again.text
    assert api.client.post("/v1/bots", json={**SMA, "name": "eth-sma"}, headers=bob).status_code == 201
    other = api.client.post("/v1/bots", json={**SMA, "name": "other"}, headers=alice).json()
    renamed = api.client.patch(f"/v1/bots/{other['id']}", json={"name": "eth-sma"}, headers=alice)
    assert renamed.status_code == 409, renamed.text
    same = api.client.patch(f"/v1/bots/{first.json()['id']}", json={"name": "eth-sma"}, headers=alice)
    assert same.status_code == 200, same.text
