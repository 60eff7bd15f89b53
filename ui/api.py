"""The JSON API (`/api/v1`), for the widget and for other front ends; a thin adapter over the services.

Shoppers authenticate each call on a conversation with the `X-Session-Token` they got when they
created it; agents with `Authorization: Bearer <token>` from `POST /api/v1/agent/sessions`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.accounts import AgentAccounts
from assistant.analytics import Analytics
from assistant.chat_service import AgentDesk, ShopperChat, TurnOutcome
from assistant.errors import AssistantError, AuthError
from assistant.pipeline import StreamEvent, reply_record
from assistant.rate_limit import ChatLimits
from assistant.schema import Reply
from assistant.store.conversations import StoredMessage
from ui.agent_console import suggestion_from_dict, suggestion_to_dict

logger = logging.getLogger(__name__)
MAX_ID = 2**31 - 1  # message ids are 32-bit integers in PostgreSQL; anything larger names nothing


# -------------------------------------------------------------------------------- bodies
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewConversation(Strict):
    language: Literal["en", "zh"] = "en"
    channel: Literal["api", "widget", "web"] = "api"


class NewMessage(Strict):
    message: str = Field(description="The shopper's text (limit: `assistant.max_message_chars`).")


class NewFeedback(Strict):
    message_id: int = Field(ge=1, le=MAX_ID, description="The id of the reply being rated.")
    helpful: bool
    comment: str = ""


class SignIn(Strict):
    username: str = Field(max_length=64)
    password: str = Field(max_length=512)


class Suggestion(Strict):
    text: str
    confidence: float = Field(0.0, ge=0.0, le=1.0)
    origin: Literal["generated", "template", "reply_memory", "knowledge"] = "template"
    sources: list[dict[str, str]] = []


class AgentMessage(Strict):
    text: str
    suggestion: Suggestion | None = Field(None, description="The suggestion the text started from, if any.")
    rank: int | None = Field(None, ge=1, le=100)


class Rejection(Strict):
    suggestion: Suggestion
    reason: str = ""
    rank: int | None = Field(None, ge=1, le=100)


class Release(Strict):
    resolved: bool = True


# ------------------------------------------------------------------------------- shapes
def reply_json(reply: Reply) -> dict[str, Any]:
    """What a shopper's client gets for a reply: text, cards, sources, quick replies (never the trace)."""
    record = reply_record(reply)
    return {"text": reply.text, "language": reply.language, "cards": record["cards"], "sources": record["sources"],
            "suggestions": record["suggestions"], "confidence": reply.confidence, "handoff": reply.handoff}  # fmt: skip


def outcome_json(outcome: TurnOutcome) -> dict[str, Any]:
    return {"message_id": outcome.message_id, "reply_message_id": outcome.reply_message_id,
            "waiting_for_agent": outcome.is_waiting_for_agent,
            "reply": reply_json(outcome.reply) if outcome.reply else None}  # fmt: skip


def message_json(m: StoredMessage, *, with_trace: bool = False) -> dict[str, Any]:
    meta = (
        m.meta
        if with_trace
        else {k: v for k, v in m.meta.items() if k in ("cards", "sources", "suggestions")}
    )
    return {"id": m.id, "role": m.role, "text": m.text, "created_at": m.created_at.isoformat() + "Z", **meta}


def current_agent(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The signed-in agent named by `Authorization: Bearer <token>`; `AuthError` otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    name = request.app.state.accounts.identify(token.strip()) if scheme.lower() == "bearer" else None
    if name is None:
        raise AuthError("an agent token is required: sign in with POST /api/v1/agent/sessions")
    return str(name)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def new_conversation_limited(request: Request) -> None:
    """One new conversation from this client address against its limit."""
    request.app.state.limits.new_conversation(client_address(request))


def message_limited(request: Request, conversation_id: str) -> None:
    """One message (hand-off, rating) in this conversation from this address against the limits."""
    request.app.state.limits.message(conversation_id, client_address(request))


# Module level, so FastAPI can resolve them from the string annotations.
Token = Annotated[str | None, Header(alias="X-Session-Token", description="From POST /conversations.")]
AgentName = Annotated[str, Depends(current_agent)]


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


# -------------------------------------------------------------------------------- router
def build_api(chat: ShopperChat, desk: AgentDesk, accounts: AgentAccounts, limits: ChatLimits,
              analytics: Analytics) -> APIRouter:  # fmt: skip
    """Every endpoint of /api/v1."""
    router = APIRouter(prefix="/api/v1")

    @router.get("/health", tags=["meta"], responses={503: {"description": "a part the chat needs is down"}})
    def health(response: Response) -> dict[str, Any]:
        """Readiness, checked for real: the database (a query; the schema at the newest migration), the index
        (documents in the vector store and the lexical index), the embedder and the intent model (a probe
        query), language detection, and where replies are phrased (`generation`: `backend` "endpoint" with
        `state` "ok" or "down", "in-process" or "none"). `status` is "ok", "degraded" (only the language
        model is down: replies stay grounded on templates) or "down" (answered 503). `worker` is the
        answering process's id (`serve --workers N` runs several)."""
        report = chat.assistant.check()
        if report["status"] == "down":
            response.status_code = 503
        return {"status": report["status"], "checks": report["checks"],
                "generation": report["checks"]["generation"], "worker": os.getpid()}  # fmt: skip

    @router.post(
        "/conversations", status_code=201, tags=["shopper"], dependencies=[Depends(new_conversation_limited)]
    )
    def create_conversation(body: NewConversation | None = None) -> dict[str, str]:
        """Start a conversation. Keep `session_token` secret: every later call on it needs it."""
        body = body or NewConversation()
        session = chat.start(channel=body.channel, language=body.language)
        return {"conversation_id": session.conversation_id, "session_token": session.token}

    @router.post("/conversations/{conversation_id}/messages", tags=["shopper"], dependencies=[Depends(message_limited)],
                 responses={200: {"content": {"text/event-stream": {}}}})  # fmt: skip
    def send_message(conversation_id: str, body: NewMessage, request: Request, x_session_token: Token = None,
                     stream: bool = Query(False, description="Server-sent events: delta…, then reply.")) -> Any:  # fmt: skip
        """Send a message; the full reply as JSON, or with `stream=true` (or `Accept: text/event-stream`)
        server-sent events: `delta` {text}, `replace` {text} when a draft failed its check, then `reply`
        (the same JSON as the non-streaming answer), or `error` {message}."""
        wants_stream = stream or "text/event-stream" in request.headers.get("accept", "")
        if not wants_stream:
            return outcome_json(chat.send(conversation_id, x_session_token, body.message,
                                          client=client_address(request)))  # fmt: skip
        # Check ownership and input before the 200 goes out, so errors keep their status codes.
        chat.authorize(conversation_id, x_session_token)
        chat.check_message(body.message)

        def events() -> Iterator[str]:
            try:
                for event in chat.stream(
                    conversation_id, x_session_token, body.message, client=client_address(request)
                ):
                    if isinstance(event, StreamEvent):
                        yield _sse(event.kind, {"text": event.text})
                    else:
                        yield _sse("reply", outcome_json(event))
            except AssistantError as exc:
                yield _sse("error", {"message": str(exc)})
            except Exception:
                logger.exception("stream failed in %s", conversation_id)
                yield _sse("error", {"message": "something went wrong on our side; please try again"})

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # fmt: skip

    @router.get("/conversations/{conversation_id}/messages", tags=["shopper"])
    def get_history(conversation_id: str, x_session_token: Token = None,
                    after_id: int = Query(0, ge=0, le=MAX_ID)) -> dict[str, Any]:  # fmt: skip
        """The conversation so far (or only messages after `after_id`, to poll for an agent's replies)."""
        messages = chat.history(conversation_id, x_session_token, after_id=after_id)
        return {"conversation_id": conversation_id, "messages": [message_json(m) for m in messages]}

    @router.post(
        "/conversations/{conversation_id}/handoff", tags=["shopper"], dependencies=[Depends(message_limited)]
    )
    def hand_off(conversation_id: str, x_session_token: Token = None) -> dict[str, Any]:
        """ "Talk to a human": the conversation goes to the agents' queue."""
        return outcome_json(chat.request_human(conversation_id, x_session_token))

    @router.post("/conversations/{conversation_id}/feedback", status_code=201, tags=["shopper"],
                 dependencies=[Depends(message_limited)])  # fmt: skip
    def post_feedback(
        conversation_id: str, body: NewFeedback, x_session_token: Token = None
    ) -> dict[str, int]:
        """Thumbs up/down (with an optional comment) on a reply of this conversation."""
        feedback_id = chat.rate(conversation_id, x_session_token, message_id=body.message_id,
                                is_helpful=body.helpful, comment=body.comment)  # fmt: skip
        return {"feedback_id": feedback_id}

    # ---------------------------------------------------------------------------- agents
    @router.post("/agent/sessions", status_code=201, tags=["agent"])
    def sign_in(body: SignIn, request: Request) -> dict[str, str]:
        """Exchange an agent's username and password for a bearer token."""
        limits.sign_in_attempt(client_address(request))
        return {"token": accounts.sign_in(body.username, body.password), "username": body.username}

    @router.delete("/agent/sessions", status_code=204, tags=["agent"])
    def sign_out(name: AgentName, authorization: Annotated[str | None, Header()] = None) -> Response:
        """End this token's session."""
        accounts.sign_out((authorization or "").partition(" ")[2].strip())
        return Response(status_code=204)

    @router.get("/agent/queue", tags=["agent"])
    def queue(name: AgentName, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        """Conversations, most urgent first: handed off and waiting (most upset, then longest waiting), then
        taken over, then the rest. Each shows the customer's latest words, the intent, sentiment and hand-off
        reason from the latest reply, and since when the customer has waited for a person."""
        rows = desk.queue(limit=limit)
        return {"conversations": [{"id": c.id, "language": c.language, "handoff": c.handoff,
                                   "assigned_agent": c.assigned_agent, "channel": c.channel,
                                   "updated_at": _iso(c.updated_at), "message_count": c.message_count,
                                   "last_message": c.last_message, "customer_words": c.customer_words,
                                   "intent": c.intent, "sentiment": c.sentiment, "handoff_reason": c.handoff_reason,
                                   "waiting_since": _iso(c.waiting_since) if c.waiting_since else None}
                                  for c in rows]}  # fmt: skip

    @router.get("/agent/conversations/{conversation_id}", tags=["agent"])
    def open_conversation(conversation_id: str, name: AgentName) -> dict[str, Any]:
        """Every message with the trace of each bot turn (intent, slots, facts used, sources); the verified
        customer and the orders they proved in this conversation (none before verification)."""
        view = desk.open(conversation_id)
        check = view.verification
        return {"id": view.id, "language": view.language, "handoff": view.handoff,
                "assigned_agent": view.assigned_agent, "verified_customer_id": view.verified_customer_id,
                "verification": {"failed_attempts": check.failures, "limit": check.limit, "locked": check.is_locked,
                                 "locked_orders": list(check.locked_orders)},
                "customer": dataclasses.asdict(view.customer) if view.customer else None,
                "orders": [dataclasses.asdict(o) for o in view.orders],
                "messages": [message_json(m, with_trace=True) for m in view.messages]}  # fmt: skip

    @router.get("/agent/conversations/{conversation_id}/suggestions", tags=["agent"])
    def suggestions(conversation_id: str, name: AgentName, k: int = Query(3, ge=1, le=10)) -> dict[str, Any]:
        """Ranked suggested replies with confidence and sources."""
        return {"suggestions": [suggestion_to_dict(s) for s in desk.suggestions(conversation_id, k=k)]}

    @router.post("/agent/conversations/{conversation_id}/takeover", tags=["agent"])
    def take_over(conversation_id: str, name: AgentName) -> dict[str, str]:
        """The bot stops replying in this conversation until it is released."""
        desk.take_over(conversation_id, name)
        return {"status": "taken over", "agent": name}

    @router.post("/agent/conversations/{conversation_id}/release", tags=["agent"])
    def release(conversation_id: str, name: AgentName, body: Release | None = None) -> dict[str, str]:
        """Give the conversation back to the bot."""
        desk.release(conversation_id, name, is_resolved=(body or Release()).resolved)
        return {"status": "released"}

    @router.post("/agent/conversations/{conversation_id}/messages", status_code=201, tags=["agent"])
    def agent_message(conversation_id: str, body: AgentMessage, name: AgentName) -> dict[str, Any]:
        """Send a reply to the shopper; with `suggestion`, stored as accepted (unchanged) or edited."""
        suggestion = suggestion_from_dict(body.suggestion.model_dump()) if body.suggestion else None
        message_id = desk.send(conversation_id, name, body.text, suggestion=suggestion, rank=body.rank)
        return {"message_id": message_id}

    @router.post("/agent/conversations/{conversation_id}/rejections", status_code=201, tags=["agent"])
    def reject(conversation_id: str, body: Rejection, name: AgentName) -> dict[str, int]:
        """Record that a suggestion was wrong (nothing is sent)."""
        feedback_id = desk.reject(conversation_id, name, suggestion_from_dict(body.suggestion.model_dump()),
                                  reason=body.reason, rank=body.rank)  # fmt: skip
        return {"feedback_id": feedback_id}

    @router.get("/analytics", tags=["agent"])
    def analytics_report(name: AgentName, days: int = Query(30, ge=1, le=3660),
                         language: str | None = Query(None, max_length=8, pattern=r"^[A-Za-z-]+$")) -> dict[str, Any]:  # fmt: skip
        """Per day and language: conversations, turns, containment, hand-offs and why, intents, 👍/👎, reply
        time (median, p95), agents' acceptance of suggestions; the A/B arms; and the questions the bot could
        not answer (or answered unsure), grouped by meaning. Definitions: `assistant/analytics.py`."""
        return analytics.report(days=days, language=language).as_dict()

    @router.get("/analytics.csv", tags=["agent"], response_class=PlainTextResponse)
    def analytics_csv(name: AgentName, days: int = Query(30, ge=1, le=3660),
                      language: str | None = Query(None, max_length=8, pattern=r"^[A-Za-z-]+$"),
                      table: Literal["days", "questions"] = "days") -> Response:  # fmt: skip
        """The analytics as CSV: `table=days` (a row per day and language, and per A/B arm) or `questions`."""
        report = analytics.report(days=days, language=language)
        body = report.days_csv() if table == "days" else report.questions_csv()
        filename = f"analytics-{table}-{report.since.isoformat()}-{report.until.isoformat()}.csv"
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip

    @router.api_route("/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                      include_in_schema=False)  # fmt: skip
    def no_such_endpoint(request: Request) -> Response:
        """Last in the router: a path no endpoint has is 404, a known path with another method 405 (the
        shopper page mounted at / would otherwise answer both with its own 404)."""
        allowed = sorted({method for route in router.routes if isinstance(route, APIRoute)
                          and route.endpoint is not no_such_endpoint and route.path_regex.match(request.url.path)
                          for method in route.methods or ()})  # fmt: skip
        if allowed:
            raise StarletteHTTPException(405, f"{request.method} is not allowed here; use {', '.join(allowed)}",
                                         headers={"Allow": ", ".join(allowed)})  # fmt: skip
        raise StarletteHTTPException(404, "no such endpoint: see /api/docs for the API")

    return router


def _iso(value: datetime) -> str:
    return value.isoformat() + "Z"
