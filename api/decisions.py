"""Decision records over HTTP: show one, list the district's (or its stale ones), re-screen.

The records are the ones `/v1/classify` and `routecheck classify` keep (`api.records`);
these handlers read them and, for re-screening, run them again on the service's
current district with `api.records.rescreen`, as `routecheck rescreen` does.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from api import models
from api.admin import ADMIN_PROBLEMS, require_admin
from api.problems import Problem
from api.records import DecisionRecord, rescreen
from api.state import Service, get_service
from geo.errors import RoutecheckError

router = APIRouter(prefix="/v1", tags=["decisions"])

#: Most records one page of the listing or of re-screening holds.
MAX_PAGE = 1000
#: Largest offset asked for: more than any district keeps, and within every database's
#: integers (SQLite refuses an offset past 2**63 outright).
MAX_OFFSET = 10**12

LimitParam = Annotated[
    int, Query(ge=1, le=MAX_PAGE, description=f"Decisions per page (at most {MAX_PAGE}).")
]
OffsetParam = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description="Decisions to skip, oldest first.")
]


@router.get(
    "/decisions/{decision_id}",
    response_model=models.DecisionRecord,
    responses={404: {"model": Problem, "content": {"application/problem+json": {}},
                     "description": "No decision with this id is stored."}},
    summary="A stored decision record",
)  # fmt: skip
def decision(
    decision_id: Annotated[str, Path(description="The decision id /v1/classify answered.")],
    service: Annotated[Service, Depends(get_service)],
) -> dict[str, Any]:
    """The record of a decision: its inputs as given, the rules and layer versions and
    content hashes it was made on, the software version, and the decision itself.
    """
    return service.records.get(decision_id).to_dict()


@router.get(
    "/decisions",
    response_model=models.DecisionList,
    response_model_exclude_none=True,
    # the listing leads to every applicant's route and facts: staff only. One record
    # is open to whoever holds its id, as the applicant does.
    dependencies=[Depends(require_admin)],
    responses=ADMIN_PROBLEMS,
    summary="The district's stored decisions, or its stale ones (admin)",
)
def decisions(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    stale: Annotated[
        bool, Query(description="Only decisions whose validity has run out by today.")
    ] = False,
    limit: LimitParam = 100,
    offset: OffsetParam = 0,
) -> dict[str, Any]:
    """Decisions made on the district served, oldest first, a page at a time.

    With ``stale=true`` only those whose `valid_until` lies before today, counted in
    the rules' time zone (the day a clerk in the district would call today).
    """
    district = service.district
    today = dt.datetime.now(ZoneInfo(district.rules.deadlines.timezone)).date()
    stale_on = today if stale else None
    kept = service.records.list(district.id, stale_on, limit=limit + 1, offset=offset)
    base = str(request.base_url).rstrip("/")
    return {
        "district": district.id,
        "stale_on": stale_on.isoformat() if stale_on else None,
        "decisions": [_summary(record, base) for record in kept[:limit]],
        "next": _next(request, offset + limit) if len(kept) > limit else None,
    }


def _summary(record: DecisionRecord, base: str) -> dict[str, Any]:
    decision = record.decision
    return {
        "id": record.id,
        "href": f"{base}/v1/decisions/{record.id}",
        "created_at": record.created_at.isoformat(),
        "track": decision["track"]["code"],
        "received": decision["track"].get("received"),
        "valid_until": decision.get("valid_until"),
        "rules_version": record.basis["rules"]["version"],
    }


def _next(request: Request, offset: int) -> str:
    return str(request.url.include_query_params(offset=offset))


@router.post(
    "/rescreen",
    response_model=models.Rescreen,
    response_model_exclude_none=True,
    dependencies=[Depends(require_admin)],
    responses=ADMIN_PROBLEMS,
    summary="Re-screen stored decisions on the current rules and layers (admin)",
)
async def rescreen_decisions(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    everything: Annotated[
        bool, Query(alias="all", description="Also list decisions that would not change.")
    ] = False,
    limit: LimitParam = 100,
    offset: OffsetParam = 0,
) -> dict[str, Any]:
    """Run a page of the district's stored decisions again on what is served now, and
    answer each one whose track, reasons or bureau items would change, with the
    difference (`routecheck rescreen --json`). A decision that can no longer be screened
    (its route now outside the coverage, say) is listed under `failed`.
    """
    district = service.district

    def run() -> tuple[list[DecisionRecord], list[dict[str, Any]], list[dict[str, str]], int]:
        kept = service.records.list(district.id, limit=limit + 1, offset=offset)
        changes, failed, changed = [], [], 0
        for record in kept[:limit]:
            try:
                change = rescreen(record, district)
            except RoutecheckError as exc:
                failed.append({"id": record.id, "code": exc.code, "detail": str(exc)})
                continue
            changed += change.changed
            if change.changed or everything:
                changes.append(change.to_dict() | {"changed": change.changed})
        return kept, changes, failed, changed

    kept, changes, failed, changed = await run_in_threadpool(run)
    request.state.summary = {"rescreened": str(len(kept[:limit])), "changed": str(changed)}
    return {
        "district": district.id,
        "version": service.version,
        "checked": len(kept[:limit]),
        "changed": changed,
        "decisions": changes,
        "failed": failed,
        "next": _next(request, offset + limit) if len(kept) > limit else None,
    }
