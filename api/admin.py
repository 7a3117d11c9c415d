"""Admin calls: the key they need, and the hot reload of the district.

Admin calls need the key of the ``ROUTECHECK_ADMIN_KEY`` setting, sent as
``Authorization: Bearer KEY`` and compared in constant time. A service with no key
configured refuses every admin call with 403 (switched off, not merely unauthorised:
no key would help). The key is a `SecretStr`, so it shows as ``**********`` in any
repr, and nothing here logs headers.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api import models
from api.problems import AdminDisabled, Problem, Unauthorized
from api.state import Service, get_service

router = APIRouter(tags=["admin"])

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="admin key",
    description="The service's admin key (ROUTECHECK_ADMIN_KEY), as a bearer token.",
)

#: Problems every admin call may answer with, for the OpenAPI page.
ADMIN_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}, "description": text}
    for status, text in (
        (401, "No admin key was sent, or not the right one."),
        (403, "The service has no admin key configured: admin calls are switched off."),
    )
}


def require_admin(
    service: Annotated[Service, Depends(get_service)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """FastAPI dependency: refuse the call unless it carries the configured admin key."""
    configured = service.settings.admin_key
    expected = configured.get_secret_value().encode("utf-8") if configured else b""
    if not expected:
        raise AdminDisabled(
            "admin calls are switched off: the service has no admin key "
            "(set ROUTECHECK_ADMIN_KEY to enable them)"
        )
    given = credentials.credentials.encode("utf-8") if credentials else b""
    if not hmac.compare_digest(given, expected):
        raise Unauthorized(
            "this call needs the admin key, sent as 'Authorization: Bearer KEY'",
            where="Authorization",
        )


@router.post(
    "/admin/reload",
    response_model=models.Reloaded,
    dependencies=[Depends(require_admin)],
    responses={
        **ADMIN_PROBLEMS,
        409: {
            "model": Problem,
            "content": {"application/problem+json": {}},
            "description": "The district does not load; the version serving keeps serving.",
        },
    },
    summary="Reload the district's rules and layers",
)
async def reload(
    request: Request,
    body: Annotated[models.ReloadRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Load the district again (or another district folder) and serve it from now on.

    Requests in flight finish on the version they started on; requests from the
    answer on use the new one. A district that does not load is refused whole, with
    what is wrong, and the current version keeps serving. Like every answer, this
    one's Routecheck-Version header names the version the call started on; the body
    names the new one.
    """
    path = Path(body.district) if body and body.district else None
    old, new = await run_in_threadpool(request.app.state.reloader.reload, path)
    request.state.summary = {"reloaded": f"{old.version}->{new.version}"}
    return {
        "district": new.district.id,
        "previous": old.version,
        "version": new.version,
        "changed": old.version != new.version,
    }
