"""The agent console (Gradio, behind the sign-in at /agent/login): a thin adapter over `AgentDesk`."""

from __future__ import annotations

import logging
from datetime import timedelta
from html import escape
from typing import Any

import gradio as gr

from assistant.analytics import Analytics
from assistant.chat_service import AgentDesk, ConversationView
from assistant.errors import AssistantError
from assistant.schema import Source, SuggestedReply
from assistant.store.models import utcnow
from ui.analytics_page import AnalyticsTab
from ui.render import plain

logger = logging.getLogger(__name__)
SUGGESTION_SLOTS = 3
VIEW_PARTS = 5  # chat, status, customer and order, reasoning, raw trace
TRACE_KEYS = ("intent", "intent_confidence", "slots", "action", "rule", "action_status", "facts", "knowledge",
              "sources", "drafts", "fallback_reason", "degraded", "confidence", "handoff")  # fmt: skip


def _agent(request: gr.Request | None) -> str:
    name = getattr(request, "username", None) if request else None
    if not name:  # the sign-in middleware makes this unreachable; refuse rather than act anonymously
        raise AssistantError("not signed in: open /agent/login")
    return str(name)


def suggestion_to_dict(s: SuggestedReply) -> dict[str, Any]:
    return {"text": s.text, "confidence": s.confidence, "origin": s.origin,
            "sources": [{"id": x.id, "title": x.title, "kind": x.kind} for x in s.sources]}  # fmt: skip


def suggestion_from_dict(d: dict[str, Any]) -> SuggestedReply:
    sources = tuple(Source(str(x.get("id", "")), str(x.get("title", "")), x.get("kind", "knowledge"))
                    for x in d.get("sources", []))  # fmt: skip
    return SuggestedReply(
        str(d.get("text", "")), float(d.get("confidence", 0.0)), d.get("origin", "template"), sources
    )


def _chat(view: ConversationView) -> list[dict[str, str]]:
    out = []
    for m in view.messages:
        if m.role == "customer":
            out.append({"role": "user", "content": plain(m.text)})
        elif m.role == "assistant":
            note = f" <small>({escape(str(m.meta.get('intent', '')))} → {escape(str(m.meta.get('action', '')))})</small>"
            out.append({"role": "assistant", "content": "🤖 " + plain(m.text) + note})
        elif m.role == "agent":
            out.append({"role": "assistant", "content": f"👤 <b>{escape(str(m.meta.get('agent', '')))}</b>: "
                                                        + plain(m.text)})  # fmt: skip
    return out


def _status(view: ConversationView) -> str:
    holder = f"taken over by **{view.assigned_agent}**" if view.assigned_agent else "bot is replying"
    flag = "🔴 handed off, waiting for a human" if view.handoff and not view.assigned_agent else ""
    verified = f" · verified customer {view.verified_customer_id}" if view.verified_customer_id else ""
    check = view.verification
    lock = ""
    if check.is_locked or check.locked_orders:
        what = ", ".join(check.locked_orders) if check.locked_orders else "any order"
        lock = (f"\n\n🔒 **Identity checks locked** for {plain(what)} after {check.failures} failed attempt(s) "
                "in this conversation: the bot no longer checks order details here; verify the customer yourself.")  # fmt: skip
    elif check.failures:
        lock = f" · {check.failures} failed identity check(s)"
    return f"`{view.id}` · {view.language} · {holder} {flag}{verified}{lock}"


def _trace(view: ConversationView) -> dict[str, Any]:
    last = next((m for m in reversed(view.messages) if m.role == "assistant"), None)
    if last is None:
        return {}
    return {k: last.meta[k] for k in TRACE_KEYS if k in last.meta}


def _money(amount: float | None, currency: str) -> str:
    return "" if amount is None else f"{amount:,.2f} {currency}"


def _customer_md(view: ConversationView) -> str:
    """Who the shopper is, once they proved it, and the order in question; nothing before verification."""
    if view.customer is None:
        return ("**Customer:** not verified yet. Nothing about a customer is shown until the shopper proves an "
                "order (its number with the e-mail or postcode on it).")  # fmt: skip
    c = view.customer
    lines = [f"**Customer:** ✅ verified · **{plain(c.name)}** · {plain(c.email)}"
             + (f" · {plain(c.phone)}" if c.phone else "") + f" · customer {plain(c.id)} · prefers {plain(c.language)}"]  # fmt: skip
    for n, order in enumerate(view.orders):
        items = ", ".join(f"{plain(str(i.get('title') or i.get('product_id', '?')))} × {i.get('quantity', 1)}"
                          for i in order.items)  # fmt: skip
        head = "**Order in question:**" if n == 0 else "Also proved:"
        dates = " · ".join(f"{label} {value}" for label, value in (
            ("placed", order.placed_at), ("shipped", order.shipped_at), ("delivered", order.delivered_at),
            ("returned", order.returned_at), ("refunded", order.refunded_at), ("cancelled", order.cancelled_at))
            if value)  # fmt: skip
        tracking = (
            f" · {plain(order.carrier or '')} {plain(order.tracking_number)}" if order.tracking_number else ""
        )
        lines.append(f"{head} {plain(order.id)} · **{plain(order.status)}** · {_money(order.total, order.currency)}"
                     f"{tracking}\n\n{dates}\n\n{items}")  # fmt: skip
    return "\n\n".join(lines)


def _reasoning_md(view: ConversationView, *, turns: int = 3) -> str:
    """The bot's reasoning on its last few turns, newest first, in words: what the customer wrote, what the
    bot understood (and how sure), which rule chose what it did, the facts and sources it used."""
    blocks: list[str] = []
    messages = list(view.messages)
    for index in range(len(messages) - 1, -1, -1):
        if len(blocks) == turns:
            break
        if messages[index].role != "assistant":
            continue
        asked = next((m.text for m in reversed(messages[:index]) if m.role == "customer"), "")
        blocks.append(_turn_reasoning(asked, messages[index].meta))
    if not blocks:
        return "_The bot has not replied in this conversation._"
    return "\n\n---\n\n".join(blocks)


def _turn_reasoning(asked: str, meta: dict[str, Any]) -> str:
    lines = [f"**Customer:** “{plain(asked[:200])}{'…' if len(asked) > 200 else ''}”"] if asked else []
    lines.append(f"**Understood:** {plain(str(meta.get('intent', '?')).replace('_', ' '))}"
                 f" ({float(meta.get('intent_confidence', 0.0)):.0%} sure)"
                 + (f" · mood {float(meta['sentiment']):+.1f}" if meta.get("sentiment") is not None else ""))  # fmt: skip
    if meta.get("slots"):
        lines.append(
            "**Details:** " + ", ".join(f"{plain(k)} = {plain(str(v))}" for k, v in meta["slots"].items())
        )
    action = f"**Did:** {plain(str(meta.get('action', '?')).replace('_', ' '))}"
    if meta.get("action_status"):
        action += f" → {plain(str(meta['action_status']))}"
    lines.append(action + f" · rule: {plain(str(meta.get('rule', '?')))}")
    if meta.get("facts"):
        lines.append("**Facts used:** " + "; ".join(f"{plain(k.replace('_', ' '))}: {plain(str(v))}"
                                                 for k, v in meta["facts"].items()))  # fmt: skip
    sources = [plain(str(x.get("title") or x.get("id"))) for x in meta.get("sources", [])]
    lines.append("**Sources:** " + (", ".join(sources) if sources else "none"))
    if meta.get("confidence") is not None:
        lines.append(f"**Reply confidence:** {float(meta['confidence']):.0%}")
    if meta.get("fallback_reason"):
        lines.append(f"**Fell back because:** {plain(str(meta['fallback_reason']))}")
    if meta.get("degraded"):
        lines.append("**Running degraded:** " + ", ".join(plain(str(d)) for d in meta["degraded"]))
    if meta.get("handoff"):
        lines.append("**Handed off** to a person on this turn.")
    return "\n\n".join(lines)


def _suggestion_md(index: int, s: dict[str, Any] | None) -> str:
    if not s:
        return f"**#{index + 1}** —"
    cited = ", ".join(f"{x['title']}" for x in s.get("sources", [])) or "none"
    return (f"**#{index + 1}** · confidence {s['confidence']:.0%} · {plain(str(s['origin']))}\n\n> {plain(s['text'])}\n\n"
            f"<small>sources: {plain(cited)}</small>")  # fmt: skip


class AgentConsole:
    """Builds the console Blocks; handlers call `AgentDesk`."""

    def __init__(self, desk: AgentDesk, analytics: Analytics | None = None) -> None:
        self.desk = desk
        self.analytics = AnalyticsTab(analytics, desk.assistant.shop.languages) if analytics else None

    def queue_choices(self) -> list[tuple[str, str]]:
        choices = []
        now = utcnow()
        for c in self.desk.queue(limit=50):
            flag = "🔴 " if c.handoff and not c.assigned_agent else "👤 " if c.assigned_agent else ""
            mood = (
                ""
                if c.sentiment is None
                else " 😠"
                if c.sentiment <= -0.5
                else " 🙁"
                if c.sentiment < 0
                else ""
            )
            parts = [f"{flag}{c.language}{mood}"]
            if c.waiting_since is not None and not c.assigned_agent:
                parts.append(f"waiting {_duration(now - c.waiting_since)}")
            parts += [p for p in (c.intent.replace("_", " "), c.handoff_reason) if p]
            words = c.customer_words or c.last_message
            quoted = f"“{words[:70]}{'…' if len(words) > 70 else ''}”"
            choices.append((f"{' · '.join(parts)} · {quoted} · {c.id[:10]}…", c.id))
        return choices

    def refresh(self, current: str | None) -> Any:
        choices = self.queue_choices()
        return gr.update(choices=choices, value=current if current in {v for _, v in choices} else None)

    def open(self, conversation_id: str | None) -> list[Any]:
        """Chat, status, trace and fresh suggestions for the picked conversation."""
        blank: list[Any] = [[], "", "", "", {}, conversation_id, [], None, ""]
        if not conversation_id:
            return blank + self._suggestion_updates([])
        try:
            view = self.desk.open(conversation_id)
            suggestions = [
                suggestion_to_dict(s) for s in self.desk.suggestions(conversation_id, k=SUGGESTION_SLOTS)
            ]
        except AssistantError as exc:
            gr.Warning(str(exc))
            return blank + self._suggestion_updates([])
        updates = self._suggestion_updates(suggestions)
        return [*self._view(view), conversation_id, suggestions, None, "", *updates]

    @staticmethod
    def _view(view: ConversationView) -> list[Any]:
        """Chat, status, customer and order, reasoning, raw trace of the last turn (the order of `view_out`)."""
        return [_chat(view), _status(view), _customer_md(view), _reasoning_md(view), _trace(view)]

    def _suggestion_updates(self, suggestions: list[dict[str, Any]]) -> list[Any]:
        padded = suggestions + [None] * (SUGGESTION_SLOTS - len(suggestions))
        return [gr.update(value=_suggestion_md(i, s)) for i, s in enumerate(padded[:SUGGESTION_SLOTS])]

    def reload(self, conversation_id: str | None) -> list[Any]:
        """Refresh the conversation only (a poll; suggestions stay as the agent left them)."""
        if not conversation_id:
            return [gr.update() for _ in range(VIEW_PARTS)]
        try:
            view = self.desk.open(conversation_id)
        except AssistantError:
            return [gr.update() for _ in range(VIEW_PARTS)]
        return self._view(view)

    def take_over(self, conversation_id: str | None, request: gr.Request) -> list[Any]:
        try:
            if not conversation_id:
                raise AssistantError("pick a conversation in the queue first")
            self.desk.take_over(conversation_id, _agent(request))
            gr.Info("You have this conversation; the bot is quiet until you release it.")
        except AssistantError as exc:
            gr.Warning(str(exc))
        return self.reload(conversation_id)

    def release(self, conversation_id: str | None, request: gr.Request) -> list[Any]:
        try:
            if not conversation_id:
                raise AssistantError("pick a conversation in the queue first")
            self.desk.release(conversation_id, _agent(request))
            gr.Info("Released: the bot answers this conversation again.")
        except AssistantError as exc:
            gr.Warning(str(exc))
        return self.reload(conversation_id)

    def use(self, index: int):
        def handler(suggestions: list[dict[str, Any]]) -> list[Any]:
            if index >= len(suggestions or []):
                gr.Warning("There is no suggestion in that slot.")
                return [gr.update(), gr.update()]
            return [suggestions[index]["text"], index]

        return handler

    def reject(self, index: int):
        def handler(conversation_id: str | None, suggestions: list[dict[str, Any]], reason: str,
                    request: gr.Request) -> Any:  # fmt: skip
            if not conversation_id or index >= len(suggestions or []):
                gr.Warning("There is no suggestion in that slot.")
                return gr.update()
            try:
                self.desk.reject(conversation_id, _agent(request), suggestion_from_dict(suggestions[index]),
                                 reason=reason or "", rank=index + 1)  # fmt: skip
                gr.Info(f"Suggestion #{index + 1} marked as wrong.")
            except AssistantError as exc:
                gr.Warning(str(exc))
                return gr.update()
            return ""

        return handler

    def send(self, conversation_id: str | None, text: str, suggestions: list[dict[str, Any]],
             selected: int | None, request: gr.Request) -> list[Any]:  # fmt: skip
        try:
            if not conversation_id:
                raise AssistantError("pick a conversation in the queue first")
            suggestion = None
            if selected is not None and selected < len(suggestions or []):
                suggestion = suggestion_from_dict(suggestions[selected])
            self.desk.send(conversation_id, _agent(request), text or "", suggestion=suggestion,
                           rank=None if selected is None else selected + 1)  # fmt: skip
            gr.Info("Sent to the shopper.")
        except AssistantError as exc:
            gr.Warning(str(exc))
            return [gr.update(), gr.update(), *self.reload(conversation_id)]
        return ["", None, *self.reload(conversation_id)]

    def whoami(self, request: gr.Request) -> str:
        try:
            return f"Signed in as **{_agent(request)}** · [Sign out](/agent/logout)"
        except AssistantError:
            return "Not signed in: [sign in](/agent/login)"

    def build(self) -> gr.Blocks:
        with gr.Blocks(title="Agent console", analytics_enabled=False) as page:
            current = gr.State(None)
            suggestions = gr.State([])
            selected = gr.State(None)
            with gr.Row():
                gr.Markdown("### 🎧 Agent console")
                who = gr.Markdown(elem_id="agent-who")
            with gr.Tab("Conversations", elem_id="agent-tab-conversations"):
                self._build_conversations(page, current, suggestions, selected)
            if self.analytics is not None:
                with gr.Tab("Analytics", elem_id="agent-tab-analytics") as tab:
                    inputs, outputs, refresh = self.analytics.build()
                tab.select(self.analytics.refresh, inputs, outputs)
                refresh.click(self.analytics.refresh, inputs, outputs)
            page.load(self.whoami, None, [who])
        return page

    def _build_conversations(self, page: gr.Blocks, current: gr.State, suggestions: gr.State,
                             selected: gr.State) -> None:  # fmt: skip
        with gr.Row():
            with gr.Column(scale=1):
                queue = gr.Radio([], label="Queue (handed-off first)", elem_id="agent-queue")
                refresh = gr.Button("Refresh queue", size="sm", elem_id="agent-refresh")
            with gr.Column(scale=2):
                status = gr.Markdown(elem_id="agent-status")
                chat = gr.Chatbot(height=380, show_label=False, elem_id="agent-chat", feedback_options=None,
                                  group_consecutive_messages=False, render_markdown=False)  # fmt: skip
                with gr.Row():
                    take = gr.Button("Take over", elem_id="agent-take-over")
                    release = gr.Button("Release to bot", elem_id="agent-release")
                customer = gr.Markdown(elem_id="agent-customer")
                gr.Markdown("#### Why the bot said what it did (last 3 turns, newest first)")
                reasoning = gr.Markdown(elem_id="agent-reasoning")
                with gr.Accordion("Raw trace", open=False, elem_id="agent-trace-toggle"):
                    trace = gr.JSON(elem_id="agent-trace")
            with gr.Column(scale=2):
                gr.Markdown("#### Suggested replies")
                slots, uses, rejects = [], [], []
                for i in range(SUGGESTION_SLOTS):
                    with gr.Group():
                        slots.append(
                            gr.Markdown(_suggestion_md(i, None), elem_id=f"agent-suggestion-{i + 1}")
                        )
                        with gr.Row():
                            uses.append(gr.Button(f"Use #{i + 1}", size="sm", elem_id=f"agent-use-{i + 1}"))
                            rejects.append(
                                gr.Button(f"Reject #{i + 1}", size="sm", elem_id=f"agent-reject-{i + 1}")
                            )
                editor = gr.Textbox(label="Reply to send (edit freely)", lines=4, elem_id="agent-editor")
                reason = gr.Textbox(label="Why a suggestion was rejected (optional)", elem_id="agent-reason")
                send = gr.Button("Send to shopper", variant="primary", elem_id="agent-send")
        view_out = [chat, status, customer, reasoning, trace]
        page.load(self.refresh, [current], [queue])
        refresh.click(self.refresh, [current], [queue])
        queue.input(self.open, [queue], [*view_out, current, suggestions, selected, editor, *slots])
        take.click(self.take_over, [current], view_out)
        release.click(self.release, [current], view_out)
        for i in range(SUGGESTION_SLOTS):
            uses[i].click(self.use(i), [suggestions], [editor, selected])
            rejects[i].click(self.reject(i), [current, suggestions, reason], [reason])
        send.click(self.send, [current, editor, suggestions, selected], [editor, selected, *view_out])
        timer = gr.Timer(4.0)
        timer.tick(self.reload, [current], view_out, show_progress="hidden")
        timer.tick(self.refresh, [current], [queue], show_progress="hidden")


def _duration(elapsed: timedelta) -> str:
    minutes = int(elapsed.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"
