"""Incidents over HTTP (admin only): list, show, open, acknowledge, update, resolve, post-mortem.

The same service and outbox path as ``smc-agent incident``: each change and its stakeholder message
are written to the notification outbox in one transaction; the ops workers (``smc-agent incident
watch``) or ``smc-agent incident notify`` send them. The API never waits on a notification provider.
"""

# ruff: noqa: B008  (FastAPI declares dependencies and query parameters as defaults)
from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from smc_agent.api.deps import api_state
from smc_agent.api.errors import ApiError
from smc_agent.api.guards import admin
from smc_agent.api.principal import Principal
from smc_agent.api.routes.account import AUTH_ERRORS, Responses
from smc_agent.api.schemas import (
    IncidentOpened,
    IncidentOpenRequest,
    IncidentOut,
    IncidentPriority,
    IncidentResolveRequest,
    IncidentSummaryOut,
    IncidentUpdateRequest,
    Page,
)
from smc_agent.control.clock import WallClock
from smc_agent.ops.incidents import postmortem
from smc_agent.ops.incidents.priority import Priority, Status
from smc_agent.ops.incidents.record import IncidentRecord
from smc_agent.ops.incidents.service import IncidentClosed, IncidentNotFound, IncidentService, ms_to_dt
from smc_agent.ops.notify.router import NotificationRouter
from smc_agent.ops.settings import load_ops_settings
from smc_agent.store.db import transaction
from smc_agent.store.models import Incident

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])
CLOCK = WallClock()
T = TypeVar("T")

NOT_FOUND: Responses = {404: {"description": "No incident with this id."}}
READ_ERRORS: Responses = {**AUTH_ERRORS, **NOT_FOUND}
WRITE_ERRORS: Responses = {
    **READ_ERRORS,
    409: {"description": "The incident is resolved: open a new one."},
    503: {"description": "Notification settings (SMC_...) are invalid; nothing was changed."},
}
IncidentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="e.g. INC-20261129-233000")]


def _actor(principal: Principal) -> str:
    return f"{principal.username}@api"


def _router() -> NotificationRouter:
    """Built per request, like the CLI: the environment's notification channels decide the outbox rows."""
    try:
        return NotificationRouter(load_ops_settings())
    except ValidationError as exc:
        problems = "; ".join(f"SMC_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise ApiError(503, f"ops configuration error: {problems}") from None


async def _in_transaction(request: Request, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one database transaction off the event loop; service errors become HTTP answers."""
    factory = api_state(request).container.session_factory

    def run() -> T:
        with transaction(factory) as session:
            return work(session)

    try:
        return await run_in_threadpool(run)
    except IncidentNotFound as exc:
        raise ApiError(
            404, str(exc).replace("see smc-agent incident list", "see GET /v1/incidents")
        ) from None
    except IncidentClosed as exc:
        raise ApiError(409, str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None


def _out(record: IncidentRecord) -> IncidentOut:
    return IncidentOut.model_validate(record.to_dict())


def _summary(record: IncidentRecord) -> IncidentSummaryOut:
    data = {k: v for k, v in record.to_dict().items() if k not in ("events", "tasks")}
    return IncidentSummaryOut.model_validate(data)


@router.get(
    "", response_model=Page[IncidentSummaryOut], responses=AUTH_ERRORS, summary="Incidents, newest first."
)
async def list_incidents(
    request: Request,
    _: Principal = Depends(admin),
    open_only: bool = Query(False, description="Only unresolved incidents."),
    priority: IncidentPriority | None = Query(None, description="Only this priority."),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Page[IncidentSummaryOut]:
    def work(session: Session) -> Page[IncidentSummaryOut]:
        query = select(Incident.id).order_by(Incident.started_at.desc(), Incident.id.desc())
        if open_only:
            query = query.where(Incident.status != Status.RESOLVED.value)
        if priority is not None:
            query = query.where(Incident.priority == priority)
        ids = list(session.scalars(query.limit(limit + 1).offset(offset)))
        service = IncidentService(session, clock=CLOCK)
        items = [_summary(service.get(i)) for i in ids[:limit]]
        more = len(ids) > limit
        return Page[IncidentSummaryOut](
            items=items, limit=limit, offset=offset, next_offset=offset + limit if more else None
        )

    return await _in_transaction(request, work)


@router.post(
    "",
    response_model=IncidentOpened,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Open an incident; answers with it and the initial alert queued for stakeholders.",
)
async def open_incident(
    body: IncidentOpenRequest, request: Request, principal: Principal = Depends(admin)
) -> IncidentOpened:
    messages = _router()

    def work(session: Session) -> IncidentOpened:
        record = IncidentService(session, clock=CLOCK, sink=messages).open(
            priority=Priority(body.priority),
            title=body.title,
            impact=body.impact,
            actor=_actor(principal),
            source="api",
            commander=body.commander,
            category=body.category,
            description=body.description,
        )
        alert = messages.render(record, "initial", at=record.started_at, extra={})
        return IncidentOpened(incident=_out(record), alert=alert)

    return await _in_transaction(request, work)


@router.get(
    "/{incident_id}",
    response_model=IncidentOut,
    responses=READ_ERRORS,
    summary="One incident with its timeline and tasks.",
)
async def show_incident(
    incident_id: IncidentId, request: Request, _: Principal = Depends(admin)
) -> IncidentOut:
    return await _in_transaction(request, lambda s: _out(IncidentService(s, clock=CLOCK).get(incident_id)))


@router.post(
    "/{incident_id}/acknowledge",
    response_model=IncidentOut,
    responses=WRITE_ERRORS,
    summary="Acknowledge (stops paging escalation); the caller becomes commander if none is set.",
)
async def acknowledge(
    incident_id: IncidentId, request: Request, principal: Principal = Depends(admin)
) -> IncidentOut:
    return await _in_transaction(
        request,
        lambda s: _out(
            IncidentService(s, clock=CLOCK).acknowledge(incident_id, actor=_actor(principal), source="api")
        ),
    )


@router.post(
    "/{incident_id}/update",
    response_model=IncidentOut,
    responses=WRITE_ERRORS,
    summary="Change the status and/or post a progress note; queues the status update message.",
)
async def update(
    incident_id: IncidentId,
    body: IncidentUpdateRequest,
    request: Request,
    principal: Principal = Depends(admin),
) -> IncidentOut:
    messages = _router()
    status = None if body.status is None else Status(body.status)
    return await _in_transaction(
        request,
        lambda s: _out(
            IncidentService(s, clock=CLOCK, sink=messages).update(
                incident_id,
                status=status,
                note=body.note,
                actor=_actor(principal),
                source="api",
                eta=body.eta,
            )
        ),
    )


@router.post(
    "/{incident_id}/resolve",
    response_model=IncidentOut,
    responses=WRITE_ERRORS,
    summary="Resolve with root cause and resolution; queues the resolution message.",
)
async def resolve(
    incident_id: IncidentId,
    body: IncidentResolveRequest,
    request: Request,
    principal: Principal = Depends(admin),
) -> IncidentOut:
    messages = _router()
    return await _in_transaction(
        request,
        lambda s: _out(
            IncidentService(s, clock=CLOCK, sink=messages).resolve(
                incident_id,
                root_cause=body.root_cause,
                resolution=body.resolution,
                data_lost=body.data_lost,
                actor=_actor(principal),
                source="api",
            )
        ),
    )


class MarkdownResponse(PlainTextResponse):
    media_type = "text/markdown"


@router.get(
    "/{incident_id}/postmortem",
    response_class=MarkdownResponse,
    responses=READ_ERRORS,
    summary="Post-mortem draft (Markdown): timeline, durations, actions, the playbook's checklists.",
)
async def postmortem_draft(incident_id: IncidentId, request: Request, _: Principal = Depends(admin)) -> Any:
    record = await _in_transaction(request, lambda s: IncidentService(s, clock=CLOCK).get(incident_id))
    return MarkdownResponse(postmortem.draft(record, now=ms_to_dt(CLOCK.timestamp_ms())))
