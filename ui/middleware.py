"""ASGI middleware around the whole server: security headers on every response, and every error the
routers, the mounted Gradio pages or the body limit answer with (404, 405, 413) in the API's
documented ``{"error": {"code", "message"}}`` shape.

Pure ASGI (not `BaseHTTPMiddleware`), so streamed replies pass through untouched and responses sent
by inner middleware (Starlette's body limit) get the same treatment.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

# Content types that may carry a session token or a conversation: never stored by a browser or proxy.
PRIVATE_TYPES = (b"application/json", b"text/html", b"text/event-stream", b"text/plain")
ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
# FastAPI's documentation page loads Swagger UI from this CDN (the only page that needs another origin).
DOCS_CDN = "https://cdn.jsdelivr.net"


def content_security_policy(*, frame_ancestors: str, image_origins: Iterable[str] = (), is_page: bool,
                            is_docs: bool = False, allows_eval: bool = False) -> str:  # fmt: skip
    """The CSP for a response: pages may run their own scripts and styles and talk to this server only;
    anything else (JSON, scripts, files) may do nothing at all. `allows_eval` is for the signed-in agent
    console only, whose analytics plots (Vega, inside Gradio) compile their specs with `new Function`."""
    ancestors = {"none": "'none'", "self": "'self'"}.get(frame_ancestors) or " ".join(
        "'self'" if part == "self" else part for part in frame_ancestors.split()
    )
    if not is_page:
        return f"default-src 'none'; frame-ancestors {ancestors}"
    cdn = f" {DOCS_CDN}" if is_docs else ""
    evaluation = " 'unsafe-eval'" if allows_eval else ""
    images = " ".join(sorted(set(image_origins)))
    return (
        f"default-src 'self'; script-src 'self' 'unsafe-inline'{evaluation}{cdn}; style-src 'self' 'unsafe-inline'{cdn}; "
        f"img-src 'self' data: blob:{' ' + images if images else ''}; font-src 'self' data:; connect-src 'self'; "
        f"media-src 'self' blob: data:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
        f"form-action 'self'; frame-ancestors {ancestors}"
    )


class SecurityHeaders:
    """Adds Content-Security-Policy, X-Content-Type-Options, frame protection, a referrer policy, and
    `Cache-Control: no-store` on every response that may carry a session token (JSON, HTML, event streams,
    text); static assets keep their own caching."""

    def __init__(
        self, app: ASGIApp, *, frame_ancestors: str = "none", image_origins: Iterable[str] = ()
    ) -> None:
        self.app = app
        image_origins = tuple(image_origins)
        # X-Frame-Options can name no origin list: with origins, CSP frame-ancestors alone decides.
        self.frame_options = {"none": b"DENY", "self": b"SAMEORIGIN"}.get(frame_ancestors)
        # The policies a response can get, built once: (is a page, is the API docs page, is the console) -> header.
        self.policies = {
            (is_page, is_docs, console): content_security_policy(
                frame_ancestors=frame_ancestors, image_origins=image_origins, is_page=is_page, is_docs=is_docs,
                allows_eval=console).encode()
            for is_page, is_docs, console in ((False, False, False), (True, False, False), (True, True, False),
                                              (True, False, True))
        }  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OWNED]
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"").lower()
                is_page = content_type.startswith(b"text/html")
                console = is_page and path.startswith("/agent/") and path != "/agent/login"
                policy = self.policies[(is_page, is_page and path == "/api/docs", console)]
                headers += [(b"content-security-policy", policy), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"same-origin")]  # fmt: skip
                if self.frame_options:
                    headers.append((b"x-frame-options", self.frame_options))
                if content_type.startswith(PRIVATE_TYPES) or not content_type:
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_OWNED = {b"content-security-policy", b"x-content-type-options", b"x-frame-options", b"referrer-policy"}


def _is_html(start: Message) -> bool:
    return any(
        k.lower() == b"content-type" and v.lower().startswith(b"text/html")
        for k, v in start.get("headers", [])
    )


class ErrorBodies:
    """Rewrites 404, 405 and 413 responses that are not already `{"error": {...}}` into that shape (pages
    that answer 404 in HTML on purpose, such as an unknown product's page, stay pages).

    Gradio's own errors keep their `detail` beside it (its page script reads it); headers such as `Allow`
    stay."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def send_shaped(message: Message) -> None:
            nonlocal held
            if (
                message["type"] == "http.response.start"
                and message["status"] in ERROR_CODES
                and not _is_html(message)
            ):
                held = message
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = self._shaped(held, b"".join(chunks), scope)
            headers = [
                (k, v)
                for k, v in held.get("headers", [])
                if k.lower() not in (b"content-length", b"content-type")
            ]
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({**held, "headers": headers})
            await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})

        await self.app(scope, receive, send_shaped)

    def _shaped(self, start: Message, body: bytes, scope: Scope) -> bytes:
        status = int(start["status"])
        original: Any = None
        try:
            original = json.loads(body) if body else None
        except ValueError:
            original = None
        if isinstance(original, dict) and isinstance(original.get("error"), dict):
            return body
        allow = next((v.decode("latin-1") for k, v in start.get("headers", []) if k.lower() == b"allow"), "")
        method = str(scope.get("method", "GET"))
        message = {
            404: "not found: no such page or endpoint (the API is under /api/v1; see /api/docs)",
            405: f"{method} is not allowed here{'; use ' + allow if allow else ''}",
            413: f"the request body is over {self.max_body_bytes} bytes",
        }[status]
        shaped: dict[str, Any] = {"error": {"code": ERROR_CODES[status], "message": message}}
        if isinstance(original, dict) and "detail" in original:
            shaped["detail"] = original["detail"]
        return json.dumps(shaped).encode()


class FinishedResponses:
    """A response that has started is always finished cleanly.

    Gradio's queue stream, asked for a session it does not know, sends its error event and then raises;
    uvicorn would log a traceback and reset the connection, so the client's next request on it failed. Here
    the stream ends normally instead (the error is logged), and the connection stays usable. An error before
    the response starts still goes to the error handlers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if not started:
                raise
            logger.warning("%s %s failed after its response started; ended it cleanly", scope.get("method"),
                           scope.get("path"), exc_info=logger.isEnabledFor(logging.DEBUG))  # fmt: skip
            if not finished:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
