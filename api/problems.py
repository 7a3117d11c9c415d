"""Errors over HTTP: one table from error class to status, one renderer of problems.

Every error the service answers with is an RFC 9457 problem (``application/problem+json``)
whose ``type`` is stable per machine ``code``, whose ``detail`` names the offending field
or coordinate, and whose status comes from `STATUSES`. Errors are raised where they
arise — in the framework-free core or in the request parsing here — and mapped once.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.records import RecordNotFound
from geo.errors import (
    CrsError,
    DistrictError,
    FactsError,
    NoTrackError,
    OutsideCoverageError,
    RoutecheckError,
    RouteInputError,
    RulesError,
)

log = logging.getLogger("routecheck.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class MalformedRequest(RoutecheckError, ValueError):
    """The request is not well-formed: invalid JSON or an invalid query parameter."""

    code = "MALFORMED_REQUEST"


class PayloadTooLarge(RoutecheckError):
    """The request body is larger than the service accepts."""

    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(RoutecheckError):
    """The request body is not sent as JSON."""

    code = "UNSUPPORTED_MEDIA_TYPE"


class NotFound(RoutecheckError, LookupError):
    """The path names a resource that does not exist (a collection, a feature)."""

    code = "NOT_FOUND"


class Unauthorized(RoutecheckError):
    """An admin call without the admin key, or with another key."""

    code = "UNAUTHORIZED"
    #: how to authenticate, for the 401 answer (RFC 9110 §11.6.1)
    headers = {"WWW-Authenticate": 'Bearer realm="routecheck admin"'}


class AdminDisabled(RoutecheckError):
    """An admin call to a service that has no admin key configured: admin is switched off."""

    code = "ADMIN_DISABLED"


class ReloadRefused(RoutecheckError):
    """A reload whose district does not load; the service keeps serving the old one."""

    code = "RELOAD_REFUSED"


#: The one table from error class to HTTP status and problem title. A raised error
#: takes the entry of the nearest class in its MRO; 5xx only for faults of the service.
STATUSES: dict[type[Exception], tuple[int, str]] = {
    MalformedRequest: (400, "Malformed request"),
    Unauthorized: (401, "Admin key required"),
    AdminDisabled: (403, "Admin endpoints are disabled"),
    NotFound: (404, "Not found"),
    RecordNotFound: (404, "Decision not found"),
    ReloadRefused: (409, "Update refused; the current version keeps serving"),
    PayloadTooLarge: (413, "Request body too large"),
    UnsupportedMediaType: (415, "Unsupported media type"),
    RouteInputError: (422, "Invalid route"),
    FactsError: (422, "Invalid project facts"),
    CrsError: (422, "Invalid coordinate reference system"),
    OutsideCoverageError: (422, "Route outside the district"),
    NoTrackError: (422, "The district's rules cannot decide this project"),
    RulesError: (500, "The district's rules could not be applied"),
    DistrictError: (500, "District unavailable"),
    RoutecheckError: (400, "Invalid input"),
}

#: Codes of problems that do not come from a RoutecheckError.
INVALID_PARAMETER = "INVALID_PARAMETER"
INTERNAL_ERROR = "INTERNAL_ERROR"


class Problem(BaseModel):
    """An RFC 9457 problem detail, with routecheck's `code` and `where` extensions."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description="URI reference naming the kind of problem; stable for each code.",
        examples=["urn:routecheck:problem:NON_FINITE"],
    )
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="HTTP status of this response.", examples=[422])
    detail: str = Field(
        description="What was wrong with this request, naming the field or coordinate.",
        examples=["coordinate inf is not a finite number (at geometry.coordinates[1])"],
    )
    instance: str | None = Field(None, description="Path of the request that failed.")
    code: str = Field(description="Stable machine-readable code.", examples=["NON_FINITE"])
    where: str | None = Field(
        None,
        description="The offending member, as a JSON path into the body or a parameter name.",
        examples=["geometry.coordinates[1]"],
    )


def problem_type(code: str) -> str:
    """The `type` URI of a problem code: a name, not a page to fetch."""
    return f"urn:routecheck:problem:{code}"


def status_of(exc: BaseException) -> tuple[int, str]:
    """Status and title of an error class, from the nearest entry of `STATUSES`."""
    for cls in type(exc).__mro__:
        if cls in STATUSES:
            return STATUSES[cls]
    return 500, "Internal error"


def problem_response(
    status: int,
    title: str,
    code: str,
    detail: str,
    *,
    where: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Render one problem as an ``application/problem+json`` response."""
    body = Problem(
        type=problem_type(code),
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        code=code,
        where=where,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def error_response(exc: RoutecheckError, instance: str | None = None) -> JSONResponse:
    """The problem response for a routecheck error, by the table (with its headers, if any)."""
    status, title = status_of(exc)
    headers = getattr(exc, "headers", None)
    if status >= 500:
        # the message may name server paths: log it, show a generic one
        log.error("%s: %s", exc.code, exc)
        return problem_response(
            status, title, exc.code, "the service cannot screen routes right now", instance=instance
        )
    return problem_response(
        status, title, exc.code, str(exc), where=exc.where, instance=instance, headers=headers
    )


def _parameter_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc[1:]) or str(loc[0])


async def _routecheck_error(request: Request, exc: RoutecheckError) -> JSONResponse:
    return error_response(exc, request.url.path)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    error = exc.errors()[0]
    name = _parameter_name(tuple(error.get("loc", ("request",))))
    detail = f"parameter {name!r}: {error.get('msg', 'invalid')}"
    return problem_response(
        400, "Invalid parameter", INVALID_PARAMETER, detail, where=name, instance=request.url.path
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
    code = codes.get(exc.status_code, f"HTTP_{exc.status_code}")
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path}"
    return problem_response(
        exc.status_code,
        title,
        code,
        detail,
        instance=request.url.path,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(
        500, "Internal error", INTERNAL_ERROR, "an unexpected error occurred; it has been logged",
        instance=request.url.path,
    )  # fmt: skip


def install(app: FastAPI) -> None:
    """Register the problem renderers on the app, once."""
    app.add_exception_handler(RoutecheckError, _routecheck_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
