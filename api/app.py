"""The HTTP service: the app factory that loads the district and wires the resources.

`create_app()` loads the district (the bundled sample unless told otherwise) before
the first request, so a broken district fails at start-up, and wires the intake API
(`api.classify`), the decision records (`api.decisions`), the admin calls and hot
reload (`api.admin`, `api.reload`), the drawing page (`api.draw`), the layers as OGC
API – Features (`api.features`), the problem renderer (`api.problems`), the security
headers (`api.headers`) and the static assets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import admin, classify, decisions, draw, features, models, problems
from api.assets import STATIC_DIR, SWAGGER_UI
from api.headers import SecurityHeaders, with_nonce
from api.problems import PayloadTooLarge, error_response
from api.records import RecordStore
from api.reload import Reloader, Watcher, load_service
from api.settings import Settings
from api.state import PinService, Service, get_service
from api.workers import ScreeningPool

log = logging.getLogger("routecheck.api")

DESCRIPTION = """\
Screen a proposed power-access cable route against the district's layers: its
procedure track, every conflict and the bureaus involved, with reasons.

* **Intake**: `POST /v1/classify` with a GeoJSON route whose properties carry the
  project facts; `POST /v1/conflicts` for the conflicts alone; `POST /v1/preview` for a map.
* **Applicants**: `GET /draw`, a map to draw a route on.
* **Planners**: the district's layers as OGC API – Features, from `/`; the stored
  decisions at `/v1/decisions`.
* **Admins** (with the admin key): `POST /admin/reload` to serve updated rules and layers,
  `POST /v1/rescreen` to see which stored decisions they would change.

Every answer names the version of the district it was made on (`Routecheck-Version`).
Errors are `application/problem+json` (RFC 9457) with a stable `code`.
"""


class BodyLimit:
    """Refuse request bodies over a size, declared or streamed, with a 413 problem.

    A declared Content-Length over the limit is refused before the body is read; a body
    sent without one (chunked) is counted as it arrives and refused once it goes over.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = error_response(self._error(declared.decode("latin-1")), scope["path"])
            await response(scope, receive, send)
            return

        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._error(f"more than {received}")
            return message

        await self.app(scope, limited, send)

    def _error(self, size: str) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the request body ({size} bytes) is over the limit of {self.max_bytes} bytes",
            where="Content-Length",
        )


class RequestLog:
    """One INFO line per request: what it was, its status, how long, what it screened.

    Handlers leave what they screened in ``request.state.summary``; a plain ASGI
    middleware (not BaseHTTPMiddleware) so the body reaches handlers unbuffered.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = scope.setdefault("state", {})
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed_ms = (time.perf_counter() - start) * 1000
            summary = dict(state.get("summary") or {})
            if "service" in state:
                summary["version"] = state["service"].version
            fields = "".join(f" {key}={value}" for key, value in summary.items())
            query = scope.get("query_string", b"").decode("latin-1")
            target = f"{scope['path']}?{query}" if query else scope["path"]
            log.info("%s %s %d %.1f ms%s", scope["method"], target, status, elapsed_ms, fields)


def create_app(
    district_path: Path | str | None = None, settings: Settings | None = None
) -> FastAPI:
    """Build the app on a district folder (default: settings, else the bundled sample)."""
    settings = settings or Settings()
    path = district_path or settings.district
    # decision records go where the CLI keeps them (ROUTECHECK_DATABASE_URL)
    service = load_service(settings, path, RecordStore())
    district = service.district
    log.info("serving district %s (%s), version %s", district.id, district.settings.name,
             service.version)  # fmt: skip

    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        title="routecheck",
        version=_version(),
        description=DESCRIPTION,
        lifespan=_lifespan,
        openapi_tags=[
            {"name": "intake", "description": "Classify routes (for the intake system)."},
            {"name": "decisions", "description": "Stored decision records; re-screening."},
            {"name": "layers (OGC API – Features)", "description": "The district's layers."},
            {"name": "drawing page", "description": "The applicants' map."},
            {"name": "admin", "description": "Reload rules and layers (admin key)."},
            {"name": "service", "description": "Health of the service."},
        ],
    )
    # the one reference a reload swaps; each request takes it once (PinService)
    app.state.service = service
    app.state.reloader = Reloader(app.state, path)
    app.state.screening = ScreeningPool(settings.screening_threads)
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, tiles_url=settings.tiles_url)
    app.add_middleware(PinService)
    app.add_middleware(RequestLog)

    app.include_router(classify.router)
    app.include_router(decisions.router)
    app.include_router(features.router)
    app.include_router(draw.router)
    app.include_router(admin.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        """The OpenAPI page, with Swagger UI served from /static like every other asset."""
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title="routecheck API",
            swagger_js_url=f"{root}/static/{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/static/{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{root}/static/{SWAGGER_UI}/favicon-32x32.png",
        )
        return HTMLResponse(with_nonce(page.body.decode("utf-8"), request))

    @app.get("/healthz", response_model=models.Health, tags=["service"], summary="Health")
    def healthz(service: Annotated[Service, Depends(get_service)]) -> dict[str, str]:
        """Whether the service is up, and the district and version it serves."""
        return {"status": "ok", "district": service.district.id, "version": service.version}

    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Watch the district's files while serving, when the settings ask for it; stop the
    screening threads when the server stops."""
    settings = app.state.service.settings
    watcher = None
    if settings.watch:
        watcher = Watcher(app.state.reloader, app.state, settings.watch_interval_s)
        watcher.start()
    try:
        yield
    finally:
        if watcher is not None:
            watcher.stop()
        app.state.screening.close()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("routecheck")
    except PackageNotFoundError:
        return "unknown"
