"""Request and response models (the OpenAPI contract). Inputs are bounded so bad input gets a 422
naming the field, never a database error."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

T = TypeVar("T")

_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_NO_CONTROL)]
Reason = Annotated[
    str, StringConstraints(min_length=3, max_length=500, pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")
]
Symbol = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9/:_.-]{1,32}$")]
Timeframe = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,2}[mhdwM]$")]
# the venues the trading runtime trades on (control.failover.KNOWN_VENUES)
BotVenue = Literal["binance", "bybit"]
# a unified ccxt symbol: BASE/QUOTE, or BASE/QUOTE:SETTLE for a derivative (the venues' instruments are
# only known at run time, so a well-formed symbol the venue does not list is not refused here)
BotSymbol = Annotated[
    str, StringConstraints(max_length=32, pattern=r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,10}(:[A-Z0-9]{1,10})?$")
]


def check_bot_timeframe(value: str) -> str:
    """A timeframe the data pipeline serves: the candle intervals both venues (and their simulator) have."""
    from smc_agent.core.candle import timeframe_ms
    from smc_agent.venues.simulator.feed import TIMEFRAME_MS

    timeframe_ms(value)  # ValueError naming the bad timeframe
    if value not in TIMEFRAME_MS:
        raise ValueError(
            f"timeframe {value!r} is not served by the data pipeline; one of {list(TIMEFRAME_MS)}"
        )
    return value


BotTimeframe = Annotated[str, StringConstraints(max_length=8), AfterValidator(check_bot_timeframe)]


def _one(what: str, instead: str) -> Callable[[list[str]], list[str]]:
    def check(values: list[str]) -> list[str]:
        if len(values) != 1:
            raise ValueError(f"a bot trades one {what} (it was given {len(values)}); {instead}")
        return values

    return check


# a bot trades its one symbol on its one timeframe (the engine ran the first of several and ignored
# the rest without a word); its strategy builds higher timeframes from those candles (e.g. smc's htf)
OneSymbol = Annotated[
    list[BotSymbol],
    Field(description="the one symbol the bot trades"),
    AfterValidator(_one("symbol", "create one bot per symbol")),
]
OneTimeframe = Annotated[
    list[BotTimeframe],
    Field(description="the timeframe of the bot's candles"),
    AfterValidator(_one("timeframe", "higher timeframes are the strategy's parameters (smc: htf)")),
]
ResourceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,40}$")]
MAX_JSON_BYTES = 16_384


def check_json_object(value: dict[str, Any]) -> dict[str, Any]:
    """Storable in JSON and JSONB: finite numbers, no NUL characters, bounded size."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"parameters must be plain JSON with finite numbers ({exc})") from None
    if "\\u0000" in text:
        raise ValueError("parameters must not contain NUL characters")
    if len(text) > MAX_JSON_BYTES:
        raise ValueError(f"parameters must be at most {MAX_JSON_BYTES} bytes of JSON")
    return value


class Body(BaseModel):
    """A request body: a field it does not have is refused (a misspelt "paramters" made a bot with the
    default parameters, and PATCH with "mode" answered 200 and changed nothing)."""

    model_config = ConfigDict(extra="forbid")


class Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Pass as offset for the next page; null at the end.")


# ----------------------------------------------------------------------------- auth
class LoginRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "alice", "password": "correct horse"}]}
    )
    username: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_NO_CONTROL)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class UserOut(Orm):
    id: str
    username: str
    email: str | None
    role: str
    is_active: bool
    created_at: datetime


class LoginResponse(BaseModel):
    token: str = Field(description="Bearer token; send as 'Authorization: Bearer <token>'.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme name
    session_id: str
    expires_in: int = Field(description="Seconds until the session expires.")
    user: UserOut


class SessionOut(Orm):
    id: str
    username: str
    login_time: datetime
    ip_address: str | None
    user_agent: str | None
    last_seen: datetime | None
    revoked_at: datetime | None
    current: bool = False


# ----------------------------------------------------------------------------- api keys
class ApiKeyCreate(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "grafana", "scopes": ["read"], "expires_in_days": 90}]}
    )
    name: Name = "default"
    scopes: list[Literal["read", "trade", "control"]] = Field(default=["read"], min_length=1, max_length=3)
    expires_in_days: int | None = Field(default=90, ge=1, le=3650)


class ApiKeyOut(Orm):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rotated_from: str | None


class ApiKeyIssued(BaseModel):
    key: str = Field(description="The full key, shown once: store it now.")
    api_key: ApiKeyOut


# ----------------------------------------------------------------------------- exchange accounts
class ExchangeAccountCreate(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "venue": "binance",
                    "label": "main",
                    "api_key": "abc...",
                    "api_secret": "xyz...",
                    "testnet": True,
                }
            ]
        }
    )
    venue: Literal["binance", "bybit"]
    label: Name
    api_key: Annotated[str, StringConstraints(min_length=8, max_length=256, pattern=r"^[\x21-\x7e]+$")]
    api_secret: Annotated[str, StringConstraints(min_length=8, max_length=512, pattern=r"^[\x21-\x7e]+$")]
    passphrase: Annotated[str, StringConstraints(max_length=256, pattern=r"^[\x21-\x7e]*$")] | None = None
    testnet: bool = False


class ExchangeAccountOut(Orm):
    id: str
    venue: str
    label: str
    key_hint: str = Field(description="Masked API key, e.g. 'abcd…wxyz'. Secrets are never returned.")
    testnet: bool
    created_at: datetime


# ----------------------------------------------------------------------------- bots
class BotCreate(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "btc-ob",
                    "strategy": "smc",
                    "venue": "binance",
                    "symbols": ["BTC/USDT"],
                    "timeframes": ["15m"],
                    "mode": "paper",
                    "parameters": {"rr": 2.5, "use_fvg": False},
                }
            ]
        }
    )
    name: Name
    strategy: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")] = Field(
        description="A strategy the trading engine runs: smc, smc_fast, sma_cross, drill."
    )
    venue: BotVenue = "binance"
    symbols: OneSymbol
    timeframes: OneTimeframe
    mode: Literal["paper", "live"] = "paper"
    parameters: dict[str, Any] = Field(default_factory=dict)

    @field_validator("strategy")
    @classmethod
    def _known(cls, value: str) -> str:
        check_bot_strategy(value, None)
        return value

    @field_validator("parameters")
    @classmethod
    def _runnable(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        check_json_object(value)
        if "strategy" in info.data:  # else the strategy itself was refused
            check_bot_strategy(info.data["strategy"], value)
        return value

    @model_validator(mode="after")
    def _timeframes_fit(self) -> BotCreate:
        check_higher_timeframes(self.strategy, self.parameters, self.timeframes[0])
        return self


def check_higher_timeframes(strategy: str, parameters: dict[str, Any], timeframe: str) -> None:
    """The higher timeframes the strategy builds from the bot's candles (its first timeframe) must be
    longer multiples of it: an ``smc`` bot on 1h candles with its default ``htf`` of 1h was stored and
    then failed when the engine started it."""
    from smc_agent.core.errors import ConfigError
    from smc_agent.engine.aggregator import CandleAggregator
    from smc_agent.live.strategies import STRATEGIES

    built = STRATEGIES[strategy](dict(parameters))
    for higher in built.timeframes:
        try:
            CandleAggregator(timeframe, higher)
        except ConfigError as exc:
            raise ValueError(f"{strategy} on {timeframe} candles: {exc}") from None


def check_bot_strategy(strategy: str, parameters: dict[str, Any] | None) -> None:
    """Refuse what the trading engine could not start (it would only log an error and skip the bot):
    an unknown strategy, or parameters the strategy refuses (unknown name, wrong type, out of range).
    The parameters come from JSON, so their types are checked strictly (``true`` is not an int, ``[1]``
    not a bool, ``"12"`` not a number) before the strategy is built with them."""
    from smc_agent.core.errors import ConfigError
    from smc_agent.live.strategies import STRATEGIES, STRATEGY_CLASSES
    from smc_agent.strategy.params import check_json_params

    factory = STRATEGIES.get(strategy)
    if factory is None:
        raise ValueError(f"unknown strategy {strategy!r}; available: {sorted(STRATEGIES)}")
    if parameters is None:
        return
    try:
        check_json_params(STRATEGY_CLASSES[strategy], parameters)
        factory(dict(parameters))
    except (ConfigError, ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"parameters refused by {strategy}: {exc}") from None


class BotUpdate(Body):
    name: Name | None = None
    symbols: OneSymbol | None = None
    timeframes: OneTimeframe | None = None
    parameters: dict[str, Any] | None = None

    @field_validator("parameters")
    @classmethod
    def _params(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else check_json_object(value)


class BotOut(Orm):
    id: str
    name: str
    strategy: str
    venue: str
    symbols: list[str]
    timeframes: list[str]
    mode: str
    state: str
    state_reason: str | None
    parameters: dict[str, Any]
    created_at: datetime
    updated_at: datetime


# ----------------------------------------------------------------------------- trading records
class OrderOut(Orm):
    id: str
    client_order_id: str
    venue_order_id: str | None
    bot_id: str | None
    exchange: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None
    filled_quantity: Decimal
    average_price: Decimal | None
    status: str
    reason: str | None
    created_at: datetime
    updated_at: datetime


class TradeOut(Orm):
    id: str
    order_id: str | None
    bot_id: str | None
    exchange: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    market_price: Decimal
    fee: Decimal
    fee_currency: str | None
    timestamp: datetime


class PositionOut(Orm):
    id: str
    bot_id: str | None
    exchange: str
    symbol: str
    quantity: Decimal
    average_price: Decimal
    realized_pnl: Decimal
    fees: Decimal
    stranded: bool
    updated_at: datetime


class SignalOut(Orm):
    id: str
    bot_id: str | None
    exchange: str
    symbol: str
    timeframe: str
    kind: str
    direction: int
    price: Decimal | None
    payload: dict[str, Any]
    created_at: datetime


class EquityPoint(BaseModel):
    time_ms: int
    value: Decimal = Field(description="Cumulative realised PnL, net of fees, after the trade.")


class PnlSummary(BaseModel):
    realized_pnl: Decimal
    fees: Decimal
    net_pnl: Decimal
    open_positions: int
    trades: int
    equity_curve: list[EquityPoint] = Field(
        description="One point per trade (at most 500, evenly thinned; the last one kept): realised PnL net of "
        "fees, what open positions cost left out. Flat, it ends at net_pnl."
    )


# ----------------------------------------------------------------------------- candles
class CandleOut(BaseModel):
    time: int = Field(description="Open time, seconds since epoch (UTC).")
    open: float
    high: float
    low: float
    close: float
    volume: float


class CandlesResponse(BaseModel):
    exchange: str
    symbol: str
    timeframe: str
    candles: list[CandleOut]
    overlays: dict[str, Any] = Field(
        description="SMC objects: order_blocks, fvgs (boxes with time span), structure (BOS/CHoCH markers), liquidity levels."
    )


# ----------------------------------------------------------------------------- backtests
class BacktestCreate(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "exchange": "binance",
                    "symbol": "BTC/USDT",
                    "timeframe": "1h",
                    "strategy": "smc",
                    "start_ms": 1704067200000,
                    "end_ms": 1706745600000,
                }
            ]
        }
    )
    exchange: Literal["binance", "bybit"] = "binance"
    symbol: Symbol
    timeframe: Timeframe
    strategy: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")] = Field(
        default="smc", description="A shipped strategy: smc, sma_cross (never code named by the request)."
    )
    start_ms: int | None = Field(default=None, ge=0, le=4_102_444_800_000)
    end_ms: int | None = Field(default=None, ge=0, le=4_102_444_800_000)
    initial_cash: Decimal = Field(default=Decimal(10000), gt=0, le=Decimal(10) ** 12)
    parameters: dict[str, Any] = Field(default_factory=dict)

    _params = field_validator("parameters")(check_json_object)

    @model_validator(mode="after")
    def _window(self) -> BacktestCreate:
        if self.start_ms is not None and self.end_ms is not None and self.end_ms <= self.start_ms:
            raise ValueError("end_ms must be after start_ms")
        return self

    @model_validator(mode="after")
    def _runnable(self) -> BacktestCreate:
        """Refuse a request the backtest worker could never run (queued, it failed only later): an
        unknown strategy, or parameters it refuses (unknown name, wrong type, out of range)."""
        from smc_agent.core.errors import ConfigError
        from smc_agent.engine.aggregator import CandleAggregator
        from smc_agent.strategy.registry import shipped_strategy

        try:
            built = shipped_strategy(self.strategy, self.parameters)  # as the worker builds it
            for higher in built.timeframes:  # an smc htf not longer than the candles: 202, then failed
                CandleAggregator(self.timeframe, higher)
        except (ConfigError, ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"strategy {self.strategy!r}: {exc}") from None
        return self


class BacktestOut(Orm):
    id: str
    status: str
    progress: float
    parameters: dict[str, Any]
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    report_path: str | None = Field(default=None, exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def has_report(self) -> bool:
        return bool(self.report_path)


class BacktestResult(BaseModel):
    id: str
    status: str
    result: dict[str, Any] | None


# ----------------------------------------------------------------------------- control
class ReasonRequest(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "suspicious orders on BTC/USDT"}]})
    reason: Reason


class FailoverRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"from_venue": "binance", "to_venue": "bybit", "reason": "binance API errors"}]
        }
    )
    from_venue: Literal["binance", "bybit"]
    to_venue: Literal["binance", "bybit"]
    reason: Reason

    @model_validator(mode="after")
    def _two_venues(self) -> FailoverRequest:
        if self.from_venue == self.to_venue:
            raise ValueError("failover needs two different venues")
        return self


class TradingStateOut(BaseModel):
    state: str
    reason: str
    halt_key_present: bool | None = None
    latch: str | None = None


class StatusResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: Literal["ok", "degraded"]
    trading: dict[str, Any]
    venue: dict[str, Any]
    dependencies: dict[str, Any]
    components: dict[str, Any]
    positions: list[PositionOut] | None = None
    pnl: PnlSummary | None = None


# ---------------------------------------------------------------- incidents (admin)
Text = Annotated[
    str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")
]
IncidentPriority = Literal["P0", "P1", "P2", "P3"]


class IncidentEventOut(BaseModel):
    id: str
    at: datetime
    kind: str = Field(
        description="opened, acknowledged, status_changed, note, action, resolved, notified, ..."
    )
    actor: str
    source: str
    message: str
    payload: dict[str, Any]


class IncidentTaskOut(BaseModel):
    id: str
    title: str
    owner: str | None
    due_at: datetime | None
    done_at: datetime | None


class IncidentSummaryOut(BaseModel):
    id: str = Field(examples=["INC-20261129-233000"])
    priority: IncidentPriority
    title: str
    impact: str
    status: Literal["investigating", "identified", "monitoring", "resolved"]
    commander: str | None
    category: str
    started_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    root_cause: str | None
    resolution: str | None
    data_lost: bool | None


class IncidentOut(IncidentSummaryOut):
    events: list[IncidentEventOut] = Field(description="The append-only timeline, oldest first.")
    tasks: list[IncidentTaskOut]


class IncidentOpened(BaseModel):
    incident: IncidentOut
    alert: str = Field(description="The rendered initial alert, as queued for every notification channel.")


class IncidentOpenRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "priority": "P1",
                    "title": "Binance API errors",
                    "impact": "No new orders on Binance",
                    "commander": "alice",
                    "description": "5xx from /api/v3/order since 23:10 UTC",
                }
            ]
        }
    )
    priority: IncidentPriority = Field(description="P0 (respond in 5 min), P1 (15 min), P2 (1 h), P3 (4 h).")
    title: Text = Field(max_length=200)
    impact: Text
    commander: Name | None = None
    description: Text | None = None
    category: Literal["general", "security", "data"] = "general"


class IncidentUpdateRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "identified",
                    "note": "Venue rate limit exceeded; failing over to Bybit",
                    "eta": "30 min",
                }
            ]
        }
    )
    status: Literal["investigating", "identified", "monitoring"] | None = Field(
        default=None, description="Omit to post a progress note only; resolve through /resolve."
    )
    note: Text
    eta: Name | None = None


class IncidentResolveRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "root_cause": "Venue outage",
                    "resolution": "Failed over to Bybit; back on Binance at 00:10",
                    "data_lost": False,
                }
            ]
        }
    )
    root_cause: Text
    resolution: Text
    data_lost: bool = False
