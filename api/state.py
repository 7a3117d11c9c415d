"""What every request reads: the service (settings, district, layers, records) it started on.

The service is immutable. A reload (`api.reload`) builds a whole new one and swaps the
app's reference to it in one assignment; `PinService` takes that reference once at the
start of each request, so a request in flight finishes on the district it started on
while new requests get the new one, and no request ever sees half of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.records import RecordStore
from api.settings import Settings
from layers.district import District

if TYPE_CHECKING:
    from api.features import Collection

#: Response header naming the version of the district a request was served on.
VERSION_HEADER = "Routecheck-Version"


@dataclass(frozen=True)
class Service:
    """The loaded district, its layers as OGC API collections, the records, and its version."""

    settings: Settings
    district: District
    collections: dict[str, Collection]
    records: RecordStore
    version: str


def district_version(district: District) -> str:
    """Name a loaded district's version: its rules version and a digest of what it decides on.

    The digest covers the district's fingerprint (rules, holiday schedules and per-layer
    content hashes) and its settings (work width, tolerance, limits), so any reload that
    can change a decision changes the version, and a reload of the same files keeps it.
    """
    # percent-encoded so that the version is also a valid header value
    return f"{quote(district.rules.identity.version, safe='._-~')}+{district.digest[:12]}"


def get_service(request: Request) -> Service:
    """FastAPI dependency: the service this request started on (see `PinService`)."""
    return request.state.service


class PinService:
    """Take the app's current service once per request, and name its version in the answer.

    The reference is read before anything else of the request runs and kept in the
    request's state; every handler reads it from there (`get_service`), never from the
    app, so a reload during the request does not reach it. Each response carries the
    ``Routecheck-Version`` header of the service that answered it.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service: Service = scope["app"].state.service
        scope.setdefault("state", {})["service"] = service
        header = (VERSION_HEADER.lower().encode("latin-1"), service.version.encode("latin-1"))

        async def send_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_version)
