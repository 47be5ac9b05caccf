"""The caller's exchange accounts and bots (create, update, start, stop, delete)."""

# ruff: noqa: B008  (FastAPI declares dependencies and query parameters as defaults)
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smc_agent.api.credentials import encrypt_credentials, mask
from smc_agent.api.deps import api_state, db_session
from smc_agent.api.errors import ApiError
from smc_agent.api.guards import reader, trader
from smc_agent.api.principal import Principal
from smc_agent.api.queries import page
from smc_agent.api.routes.account import AUTH_ERRORS, Responses
from smc_agent.api.schemas import (
    BotCreate,
    BotOut,
    BotUpdate,
    ExchangeAccountCreate,
    ExchangeAccountOut,
    Page,
    ResourceId,
    check_bot_strategy,
    check_higher_timeframes,
)
from smc_agent.store.models import Bot, ExchangeAccount

router = APIRouter(prefix="/v1")
IdPath = Annotated[ResourceId, Path()]
NOT_FOUND: Responses = {**AUTH_ERRORS, 404: {"description": "No such resource of yours."}}


def _own(
    session: Session, model: type[Bot] | type[ExchangeAccount], rid: str, principal: Principal
) -> Bot | ExchangeAccount:
    row: Bot | ExchangeAccount | None = session.get(model, rid)  # type: ignore[assignment]
    if row is None or row.user_id != principal.user_id:
        raise ApiError(404, f"no such {model.__tablename__[:-1].replace('_', ' ')}")
    return row


# ----------------------------------------------------------------------------- exchange accounts
@router.post(
    "/exchange-accounts",
    tags=["exchange accounts"],
    response_model=ExchangeAccountOut,
    status_code=201,
    responses=AUTH_ERRORS,
)
def create_account(
    body: ExchangeAccountCreate,
    request: Request,
    principal: Principal = Depends(trader),
    session: Session = Depends(db_session),
) -> ExchangeAccount:
    secret = {"api_key": body.api_key, "api_secret": body.api_secret}
    if body.passphrase:
        secret["passphrase"] = body.passphrase
    master = api_state(request).container.settings.master_key.get_secret_value()
    account = ExchangeAccount(
        user_id=principal.user_id,
        venue=body.venue,
        label=body.label,
        testnet=body.testnet,
        credentials_encrypted=encrypt_credentials(master, secret),
        key_hint=mask(body.api_key),
    )
    session.add(account)
    session.flush()
    return account


@router.get(
    "/exchange-accounts",
    tags=["exchange accounts"],
    response_model=list[ExchangeAccountOut],
    responses=AUTH_ERRORS,
)
def list_accounts(
    principal: Principal = Depends(reader), session: Session = Depends(db_session)
) -> list[ExchangeAccount]:
    query = select(ExchangeAccount).where(ExchangeAccount.user_id == principal.user_id)
    return list(session.scalars(query.order_by(ExchangeAccount.created_at)))


@router.delete(
    "/exchange-accounts/{account_id}", tags=["exchange accounts"], status_code=204, responses=NOT_FOUND
)
def delete_account(
    account_id: IdPath, principal: Principal = Depends(trader), session: Session = Depends(db_session)
) -> None:
    session.delete(_own(session, ExchangeAccount, account_id, principal))


# ----------------------------------------------------------------------------- bots
def _name_free(session: Session, principal: Principal, name: str, *, other_than: str | None = None) -> None:
    """A user's bots have distinct names (three bots named "eth-sma" could not be told apart)."""
    query = select(Bot.id).where(Bot.user_id == principal.user_id, func.lower(Bot.name) == name.lower())
    if other_than is not None:
        query = query.where(Bot.id != other_than)
    if session.scalar(query.limit(1)) is not None:
        raise ApiError(409, f"you already have a bot named {name!r}: choose another name")


@router.post(
    "/bots",
    tags=["bots"],
    response_model=BotOut,
    status_code=201,
    responses={**AUTH_ERRORS, 409: {"description": "You already have a bot of that name."}},
)
def create_bot(
    body: BotCreate, principal: Principal = Depends(trader), session: Session = Depends(db_session)
) -> Bot:
    if body.mode == "live" and not principal.has_role("admin"):
        raise ApiError(403, "only admins may create live bots (paper is the default)")
    _name_free(session, principal, body.name)
    bot = Bot(user_id=principal.user_id, **body.model_dump())
    session.add(bot)
    session.flush()
    return bot


@router.get("/bots", tags=["bots"], response_model=Page[BotOut], responses=AUTH_ERRORS)
def list_bots(
    principal: Principal = Depends(reader),
    session: Session = Depends(db_session),
    state: Annotated[str | None, Query(pattern=r"^[a-z_]{1,16}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[BotOut]:
    query = select(Bot).where(Bot.user_id == principal.user_id)
    if state:
        query = query.where(Bot.state == state)
    return page(session, query.order_by(Bot.created_at.desc()), out=BotOut, limit=limit, offset=offset)


@router.get("/bots/{bot_id}", tags=["bots"], response_model=BotOut, responses=NOT_FOUND)
def get_bot(
    bot_id: IdPath, principal: Principal = Depends(reader), session: Session = Depends(db_session)
) -> Bot:
    return _own(session, Bot, bot_id, principal)  # type: ignore[return-value]


@router.patch(
    "/bots/{bot_id}",
    tags=["bots"],
    response_model=BotOut,
    responses={**NOT_FOUND, 409: {"description": "The bot runs: stop it before changing what it trades."}},
)
def update_bot(
    bot_id: IdPath,
    body: BotUpdate,
    principal: Principal = Depends(trader),
    session: Session = Depends(db_session),
) -> Bot:
    """Rename a bot at any time; change its symbol, timeframe or parameters while it is stopped (its
    strategy is built from them when it starts). ``parameters`` is a JSON merge patch (RFC 7396) of the
    bot's parameters: the keys given replace theirs, a key given ``null`` goes back to its default, the
    keys not given stay."""
    bot: Bot = _own(session, Bot, bot_id, principal)  # type: ignore[assignment]
    if body.name is not None:
        _name_free(session, principal, body.name, other_than=bot.id)
    parameters = dict(bot.parameters or {})
    if body.parameters is not None:
        parameters.update(body.parameters)
        parameters = {k: v for k, v in parameters.items() if v is not None}
        try:
            check_bot_strategy(bot.strategy, parameters)
        except ValueError as exc:  # FastAPI's own 422 shape, as for any other invalid body
            error = {
                "type": "value_error",
                "loc": ("body", "parameters"),
                "msg": str(exc),
                "input": body.parameters,
            }
            raise RequestValidationError([error]) from None
    if body.parameters is not None or body.timeframes is not None:
        timeframe = (body.timeframes or bot.timeframes)[0]
        try:
            check_higher_timeframes(bot.strategy, parameters, timeframe)
        except ValueError as exc:
            field = "timeframes" if body.timeframes is not None else "parameters"
            error = {"type": "value_error", "loc": ("body", field), "msg": str(exc), "input": timeframe}
            raise RequestValidationError([error]) from None
    trading = body.model_fields_set & {"symbols", "timeframes", "parameters"}
    if trading and bot.state in ("starting", "running", "stopping"):
        # a running bot's strategy is built once: the edit was stored and shown, never traded
        raise ApiError(
            409,
            f"the bot is {bot.state}: stop it (POST /v1/bots/{bot.id}/stop) before changing its "
            f"{', '.join(sorted(trading))}, then start it again",
        )
    for field, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(bot, field, parameters if field == "parameters" else value)
    session.flush()
    return bot


@router.post("/bots/{bot_id}/start", tags=["bots"], response_model=BotOut, responses=NOT_FOUND)
def start_bot(
    bot_id: IdPath, principal: Principal = Depends(trader), session: Session = Depends(db_session)
) -> Bot:
    """Ask the trading runtime to run the bot (it picks up ``state = 'starting'``)."""
    bot: Bot = _own(session, Bot, bot_id, principal)  # type: ignore[assignment]
    if bot.state not in ("running", "starting"):
        bot.state, bot.state_reason = "starting", f"start requested by {principal.username}"
    session.flush()
    return bot


@router.post("/bots/{bot_id}/stop", tags=["bots"], response_model=BotOut, responses=NOT_FOUND)
def stop_bot(
    bot_id: IdPath, principal: Principal = Depends(trader), session: Session = Depends(db_session)
) -> Bot:
    bot: Bot = _own(session, Bot, bot_id, principal)  # type: ignore[assignment]
    if bot.state == "starting":  # no engine took it up yet (one that does finds it stopped, and stops it)
        bot.state, bot.state_reason = "stopped", f"stopped by {principal.username} before it started"
    elif bot.state != "stopped":
        bot.state, bot.state_reason = "stopping", f"stop requested by {principal.username}"
    session.flush()
    return bot


@router.delete(
    "/bots/{bot_id}",
    tags=["bots"],
    status_code=204,
    responses={**NOT_FOUND, 409: {"description": "Stop the bot first."}},
)
def delete_bot(
    bot_id: IdPath, principal: Principal = Depends(trader), session: Session = Depends(db_session)
) -> None:
    bot: Bot = _own(session, Bot, bot_id, principal)  # type: ignore[assignment]
    if bot.state in ("running", "starting"):
        raise ApiError(409, "the bot is running: stop it first")
    session.delete(bot)
