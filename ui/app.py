"""One server: the shopper chat at `/`, the agent console at `/agent`, the JSON API at `/api/v1`,
the embeddable widget at `/widget.js` and a demo shop page at `/demo`.

`create_app(settings, assistant)` wires the services to the adapters; `serve()` runs it with uvicorn.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio.to_thread
import gradio as gr
from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from assistant import metrics
from assistant.accounts import AgentAccounts
from assistant.analytics import Analytics
from assistant.chat_service import AgentDesk, ShopperChat
from assistant.errors import AssistantError, AuthError, InputError, NotFoundError, RateLimitedError
from assistant.experiments import Experiment
from assistant.pipeline import Assistant
from assistant.rate_limit import ChatLimits
from assistant.settings import Settings
from ui.agent_console import AgentConsole
from ui.api import build_api, client_address
from ui.middleware import ErrorBodies, FinishedResponses, SecurityHeaders
from ui.render import CSS
from ui.shopper_page import ShopperPage

if TYPE_CHECKING:
    import uvicorn

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
AGENT_COOKIE = "agent_token"
# Gradio endpoints the pages never use; answered 404 (the upload route would store anyone's files in /tmp).
UNUSED_GRADIO_ROUTES = ("/gradio_api/upload", "/gradio_api/upload_progress")
# error type -> (HTTP status, code in the JSON body)
STATUS = {InputError: (422, "invalid_input"), NotFoundError: (404, "not_found"), AuthError: (401, "unauthorized"),
          RateLimitedError: (429, "rate_limited")}  # fmt: skip


def web_secret(data_dir: Path) -> str:
    """The key that encrypts the shopper's saved session in their browser; kept in the data folder."""
    path = data_dir / "web_secret"
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def create_app(settings: Settings, assistant: Assistant, *, accounts: AgentAccounts | None = None,
               experiment: tuple[Experiment, Assistant] | None = None) -> FastAPI:  # fmt: skip
    """The whole web server for one assistant (and the candidate arm of an A/B test, if one runs)."""
    web = settings.web
    chat = ShopperChat(
        assistant, max_message_chars=settings.assistant.max_message_chars, experiment=experiment
    )
    desk = AgentDesk(assistant)
    accounts = accounts or AgentAccounts(assistant.conversations.db, configured=web.agent_accounts,
                                         session_hours=web.agent_session_hours)  # fmt: skip
    limits = ChatLimits(per_minute=web.rate_limit_per_minute, burst=web.rate_limit_burst,
                        per_address_per_minute=web.rate_limit_per_address_per_minute,
                        new_conversations_per_minute=web.new_conversations_per_minute,
                        sign_in_per_minute=web.sign_in_attempts_per_minute,
                        db=assistant.conversations.db if web.rate_limit_store == "database" else None)  # fmt: skip

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Turns and database calls run in this many threads (explicit, rather than anyio's default of 40).
        anyio.to_thread.current_default_thread_limiter().total_tokens = web.worker_threads
        yield

    app = FastAPI(title="Shop assistant API", version="1", docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/v1/openapi.json", lifespan=lifespan,
                  description="Shopper chat, agent assist and feedback. Errors are JSON: "
                              '{"error": {"code", "message"}}.')  # fmt: skip
    app.state.chat, app.state.desk, app.state.accounts, app.state.limits = chat, desk, accounts, limits

    origins = [o.strip() for o in web.allowed_origins.split(",") if o.strip() and o.strip() != "none"]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-Session-Token"])  # fmt: skip

    @app.exception_handler(AssistantError)
    async def assistant_error(_request: Request, exc: AssistantError) -> JSONResponse:
        status, code = next(
            (pair for kind, pair in STATUS.items() if isinstance(exc, kind)), (400, "bad_request")
        )
        headers = (
            {"Retry-After": str(max(1, round(exc.retry_after_s)))}
            if isinstance(exc, RateLimitedError)
            else None
        )
        return JSONResponse(error_body(code, str(exc)), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            "the body is not valid JSON" if e.get("type") == "json_invalid"
            else f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg', '')}"
            for e in exc.errors()[:5]
        ]  # fmt: skip
        return JSONResponse(error_body("invalid_request", "; ".join(problems) or "malformed request",
                                       problems=problems), status_code=422)  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in message:
            message = "the body could not be read: send UTF-8 encoded JSON"
        if exc.status_code == 413:
            message = f"the request body is over {web.max_body_bytes} bytes"
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        return JSONResponse(error_body(code.get(exc.status_code, "http_error"), message),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))  # fmt: skip

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """A declared body over the limit is refused before anything runs; a signed-in agent for /agent."""
        length = request.headers.get("content-length", "")
        if length.strip().isdigit() and int(length) > web.max_body_bytes:
            return JSONResponse(error_body("too_large", f"the request body is over {web.max_body_bytes} bytes"),
                                status_code=413, headers={"Connection": "close"})  # fmt: skip
        path = request.url.path
        if path.endswith(UNUSED_GRADIO_ROUTES):  # no component takes files: nobody may store any here
            return JSONResponse(
                error_body("not_found", "file uploads are not accepted here"), status_code=404
            )
        is_agent_page = (path == "/agent" or path.startswith("/agent/")) and path not in (
            "/agent/login",
            "/agent/logout",
        )
        if is_agent_page and accounts.identify(request.cookies.get(AGENT_COOKIE)) is None:
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                return RedirectResponse("/agent/login", status_code=303)
            return JSONResponse(error_body("unauthorized", "sign in at /agent/login"), status_code=401)
        try:
            return await call_next(request)
        except Exception:  # never a traceback to a browser
            logger.exception("request failed: %s %s", request.method, path)
            return JSONResponse(error_body("internal", "something went wrong on our side; please try again"),
                                status_code=500)  # fmt: skip

    # Innermost first: the body limit counts what is read (chunked bodies too) and stops at the limit;
    # then every 404/405/413 gets the API's error shape; the security headers go on every response.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=web.max_body_bytes)
    app.add_middleware(ErrorBodies, max_body_bytes=web.max_body_bytes)
    app.add_middleware(FinishedResponses)
    app.add_middleware(SecurityHeaders, frame_ancestors=web.frame_ancestors,
                       image_origins=image_origins(assistant.shop.products.values()))  # fmt: skip

    analytics = Analytics(assistant.conversations.db, assistant.embedder)
    app.state.analytics = analytics
    app.include_router(build_api(chat, desk, accounts, limits, analytics))
    metrics_allowed = {a.strip() for a in web.metrics_allow_ips.split(",") if a.strip()}

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        """Prometheus text format, for the addresses in `web.metrics_allow_ips` (loopback by default)."""
        peer = request.client.host if request.client else ""
        if "*" not in metrics_allowed and peer not in metrics_allowed:
            return JSONResponse(error_body("forbidden", "metrics are not served to this address; see "
                                           "web.metrics_allow_ips"), status_code=403)  # fmt: skip
        body, content_type = metrics.exposition(assistant.conversations.db)
        return Response(body, media_type=content_type)

    @app.get("/agent/login", include_in_schema=False)
    def login_page(error: str = "") -> HTMLResponse:
        return HTMLResponse(_login_html(error[:200]))

    @app.post("/agent/login", include_in_schema=False)
    def login(
        request: Request, username: str = Form("", max_length=64), password: str = Form("", max_length=512)
    ) -> Response:
        try:
            limits.sign_in_attempt(client_address(request))
            token = accounts.sign_in(username.strip(), password)
        except (AuthError, RateLimitedError) as exc:
            return HTMLResponse(_login_html(str(exc)), status_code=401 if isinstance(exc, AuthError) else 429)
        response = RedirectResponse("/agent/", status_code=303)
        response.set_cookie(AGENT_COOKIE, token, httponly=True, samesite="strict", path="/",
                            max_age=int(web.agent_session_hours * 3600),
                            secure=web.public_url.startswith("https://"))  # fmt: skip
        return response

    @app.get("/agent/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        accounts.sign_out(request.cookies.get(AGENT_COOKIE))
        response = RedirectResponse("/agent/login", status_code=303)
        response.delete_cookie(AGENT_COOKIE, path="/")
        return response

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> FileResponse:
        return FileResponse(STATIC / "widget.js", media_type="application/javascript",
                            headers={"Cache-Control": "public, max-age=300"})  # fmt: skip

    @app.get("/demo", include_in_schema=False)
    def demo() -> Response:
        first = next(iter(sorted(assistant.shop.products)), None)
        return RedirectResponse(f"/demo/products/{first}" if first else "/", status_code=303)

    @app.get("/demo/products/{product_id}", include_in_schema=False)
    def demo_product(product_id: str) -> HTMLResponse:
        product = assistant.shop.products.get(product_id)
        if product is None:
            return HTMLResponse(_page("Not found", "<p>No such product.</p>"), status_code=404)
        return HTMLResponse(_product_html(product))

    def agent_name(request: Request) -> str | None:
        return accounts.identify(request.cookies.get(AGENT_COOKIE))

    secret = web_secret(settings.paths.data_dir)
    app = gr.mount_gradio_app(app, AgentConsole(desk, analytics).build(), path="/agent", auth_dependency=agent_name,
                              show_error=False, css=CSS, footer_links=[], run_history=False)  # fmt: skip
    app = gr.mount_gradio_app(app, ShopperPage(chat, limits, secret=secret).build(), path="/", css=CSS,
                              show_error=False, footer_links=[], run_history=False)  # fmt: skip
    return app


def image_origins(products: Iterable[dict[str, Any]]) -> set[str]:
    """The origins the catalog's product images load from (the only other origins a page may show images of)."""
    origins = set()
    for product in products:
        for image in [product.get("image"), *(product.get("images") or [])]:
            parsed = urlsplit(str(image or ""))
            if parsed.scheme in ("http", "https") and parsed.netloc:
                origins.add(f"{parsed.scheme}://{parsed.netloc}")
    return origins


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<style>body{font-family:system-ui,sans-serif;max-width:820px;margin:40px auto;padding:0 16px;color:#222}'
            'input{display:block;margin:6px 0 12px;padding:8px;width:260px}button{padding:8px 16px}'
            '.error{color:#b91c1c}.product{display:flex;gap:24px}.ph{width:260px;height:260px;background:#eef2ff;'
            'display:flex;align-items:center;justify-content:center;font-size:96px;color:#4338ca;border-radius:12px}'
            '</style></head>'
            f"<body>{body}</body></html>")  # fmt: skip


def _login_html(error: str) -> str:
    note = f'<p class="error" id="login-error">{escape(error)}</p>' if error else ""
    return _page(
        "Agent sign-in",
        f"""<h2>Agent console: sign in</h2>{note}
<form method="post" action="/agent/login">
<label>Username <input name="username" id="username" autocomplete="username" required maxlength="64"></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
<button type="submit" id="sign-in">Sign in</button></form>""",
    )


def _product_html(product: dict[str, Any]) -> str:
    from assistant.shop import format_price, localised

    title = localised(product.get("title"), "en")
    description = localised(product.get("description"), "en")
    price = format_price(float(product.get("price", 0)), str(product.get("currency") or "USD"), "en_US")
    stock = {None: "", True: " · In stock", False: " · Out of stock"}[
        None if product.get("stock") is None else int(product["stock"]) > 0
    ]
    body = f"""<p><a href="/demo">Demo shop</a> · this page is a mock product page with the chat widget on it</p>
<div class="product"><div class="ph">{escape(title[:1])}</div><div>
<h1 id="product-title">{escape(title)}</h1><p><b>{escape(price)}</b>{stock}</p>
<p>{escape(str(description))}</p><button>Add to cart</button></div></div>
<script src="/widget.js" defer></script>"""
    return _page(title, body)


def server_config(
    settings: Settings, app: Any, *, host: str, port: int, log_level: str = "warning", workers: int = 1
) -> uvicorn.Config:
    """How uvicorn serves `app` (the same for `serve`, the tests and the benchmarks)."""
    import uvicorn

    web = settings.web
    # Keep-alive longer than browsers' and proxies' own idle timeouts, so a client never reuses a connection
    # the server is closing at that moment; a fixed connection cap and listen backlog, not the defaults.
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_keep_alive=web.keep_alive_timeout_s,
                          limit_concurrency=web.max_connections, backlog=web.backlog, proxy_headers=True,
                          forwarded_allow_ips=web.forwarded_allow_ips, workers=workers, factory=isinstance(app, str),
                          # a worker loading its models answers the supervisor's health pings late
                          timeout_worker_healthcheck=60)  # fmt: skip


SETTINGS_ENV = "ASSISTANT_SERVE_SETTINGS"  # the resolved settings file `serve --workers N` hands its workers
READY_DIR_ENV = "ASSISTANT_SERVE_READY_DIR"  # where each worker marks itself ready after its warm-up


def serve(
    settings: Settings, *, host: str | None = None, port: int | None = None, workers: int | None = None
) -> int:
    """Build the assistant, warm its models, print the URLs and serve until interrupted.

    With `workers` > 1 (or `web.workers`), uvicorn runs that many processes on one listening socket;
    each builds and warms its own assistant (`worker_app`) and they share the database (conversations,
    rate limits, verification locks, agent sessions, per-conversation leases) and the vector store.
    The URLs are printed once every worker is warm."""
    import uvicorn

    host = host or settings.web.host
    port = port or settings.web.port
    workers = workers or settings.web.workers
    if workers > 1:
        return _serve_workers(settings, host=host, port=port, workers=workers)
    assistant, experiment = _warm_assistants(settings)
    app = create_app(settings, assistant, experiment=experiment)
    _print_urls(settings, host, port, app.state.accounts.usernames())
    uvicorn.Server(server_config(settings, app, host=host, port=port)).run()
    return 0


def _warm_assistants(settings: Settings) -> tuple[Assistant, tuple[Experiment, Assistant] | None]:
    """The assistant, and the candidate arm's when an A/B test is configured, each warmed up."""
    from assistant.factory import build_assistant, build_experiment

    assistant = build_assistant(settings)
    assistant.warm_up()
    experiment = build_experiment(settings, assistant)
    if experiment is not None:
        experiment[1].warm_up()
    return assistant, experiment


def worker_app() -> FastAPI:
    """One worker process of `serve --workers N` (uvicorn's app factory): the settings the parent resolved,
    a warmed assistant, then a mark in the ready folder."""
    import os

    from assistant.settings import load_settings

    settings = load_settings(config_file=Path(os.environ[SETTINGS_ENV]), environ={})
    assistant, experiment = _warm_assistants(settings)
    app = create_app(settings, assistant, experiment=experiment)
    if ready := os.environ.get(READY_DIR_ENV):
        (Path(ready) / str(os.getpid())).touch()
    return app


def _serve_workers(settings: Settings, *, host: str, port: int, workers: int) -> int:
    import os
    import shutil
    import threading
    import time

    from uvicorn.supervisors import Multiprocess

    from assistant.factory import database_url
    from assistant.settings import settings_to_toml
    from assistant.store.database import Database, seed_store

    if settings.web.rate_limit_store == "memory":
        logger.warning("web.rate_limit_store is \"memory\" with %d workers: each worker allows the full budget",
                       workers)  # fmt: skip
    if database_url(settings).startswith("sqlite") and settings.store.database_url != "auto":
        logger.info("%d workers share an SQLite file; PostgreSQL suits many writers better", workers)
    # Made once here: every worker must encrypt shoppers' saved sessions with the same key.
    web_secret(settings.paths.data_dir)
    # Migrate and seed once here, so that the workers start against the current schema and records.
    db = Database(database_url(settings))
    seed_store(db, settings.paths.shop_dir)
    accounts = AgentAccounts(db, configured=settings.web.agent_accounts)
    run_dir = settings.paths.data_dir / "run"
    ready_dir = run_dir / "ready"
    shutil.rmtree(ready_dir, ignore_errors=True)
    ready_dir.mkdir(parents=True)
    settings_file = run_dir / "serve-settings.toml"
    settings_file.write_text(settings_to_toml(settings), encoding="utf-8")
    settings_file.chmod(0o600)
    os.environ[SETTINGS_ENV], os.environ[READY_DIR_ENV] = str(settings_file), str(ready_dir)
    # Each worker (a fresh, spawned interpreter) writes its per-turn metrics here; any of them serves them all.
    metrics_dir = run_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ.setdefault(metrics.MULTIPROCESS_ENV, str(metrics_dir))

    config = server_config(settings, "ui.app:worker_app", host=host, port=port, workers=workers)
    stop = threading.Event()

    def report_ready() -> None:
        while not stop.wait(0.5):
            if len(list(ready_dir.iterdir())) >= workers:
                _print_urls(settings, host, port, accounts.usernames())
                print(f"{workers} workers ready", flush=True)
                return

    started = time.monotonic()
    threading.Thread(target=report_ready, daemon=True).start()
    try:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        stop.set()
    logger.info("served with %d workers for %.0f s", workers, time.monotonic() - started)
    return 0


def _print_urls(settings: Settings, host: str, port: int, agents: list[str]) -> None:
    base = settings.web.public_url if settings.web.public_url != "auto" else f"http://{host}:{port}"
    print(f"shopper chat:   {base}/", flush=True)
    print(f"agent console:  {base}/agent  ({len(agents)} account(s): {', '.join(agents) or 'none'}"
          f"{'' if agents else '; add one with `python -m assistant agents add NAME`'})", flush=True)  # fmt: skip
    print(
        f'widget demo:    {base}/demo   (embed: <script src="{base}/widget.js" defer></script>)', flush=True
    )
    print(f"API docs:       {base}/api/docs   (OpenAPI: {base}/api/v1/openapi.json)", flush=True)
