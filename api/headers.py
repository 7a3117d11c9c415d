"""Security headers: a content security policy with a per-response nonce, and the rest.

HTML pages (the drawing page, the map preview, the OpenAPI page) get a policy under
which only routecheck's own scripts and the page's inline blocks carrying this
response's nonce run: no inline event handlers (``onerror=``), no ``javascript:``
URLs, no eval, nothing from another origin. Folium writes the map as inline
``<script>`` blocks, so each page is given the nonce (`with_nonce`) as it is sent.
Styles stay ``'unsafe-inline'``: folium and Leaflet position the map with ``style``
attributes, which a nonce cannot cover, and styles cannot run code. Every other answer
(JSON, problems, assets) gets a policy that allows nothing, as an API response needs.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Headers on every response.
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

#: The policy of every response that is not an HTML page.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

_SCRIPT_TAG = re.compile(r"<script(?=[\s>])", re.IGNORECASE)


def page_policy(nonce: str, tiles_url: str) -> str:
    """The policy of an HTML page whose inline scripts carry `nonce`."""
    images = " ".join(filter(None, ["'self'", "data:", tile_source(tiles_url)]))
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "script-src-attr 'none'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {images}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def tile_source(tiles_url: str) -> str | None:
    """The CSP source the basemap's tiles come from (None for no basemap).

    A `{s}` subdomain placeholder becomes a wildcard; a host with any other placeholder
    allows the tiles' scheme, the narrowest source that still covers it.
    """
    if not tiles_url:
        return None
    parts = urlsplit(tiles_url.replace("{s}", "*"))
    if not parts.scheme or not parts.netloc:
        return None  # a relative template: its tiles come from 'self'
    if "{" in parts.netloc:
        return f"{parts.scheme}:"
    return f"{parts.scheme}://{parts.netloc}"


def with_nonce(page: str, request: Request) -> str:
    """Give every `<script>` of a page rendered by routecheck this response's nonce.

    Only for pages whose every text from a layer or an applicant is escaped before it
    is written (as `api.mapview` and `api.draw` do): a script tag smuggled into the
    page would be given the nonce too, so the nonce guards against inline handlers and
    foreign scripts, and the escaping against injected tags.
    """
    nonce = request.scope["state"]["csp_nonce"]
    return _SCRIPT_TAG.sub(f'<script nonce="{nonce}"', page)


class SecurityHeaders:
    """Set the security headers on every response, and make each HTML page's nonce."""

    def __init__(self, app: ASGIApp, tiles_url: str):
        self.app = app
        self.tiles_url = tiles_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})["csp_nonce"] = nonce

        async def send_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                page = headers.get("content-type", "").startswith("text/html")
                policy = page_policy(nonce, self.tiles_url) if page else API_POLICY
                headers["Content-Security-Policy"] = policy
                for name, value in COMMON_HEADERS.items():
                    headers[name] = value
                message["headers"] = headers.raw
            await send(message)

        await self.app(scope, receive, send_headers)
