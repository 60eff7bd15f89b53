"""The shopper chat page (Gradio): a thin adapter over `ShopperChat`.

The conversation id and its session token live in the browser's localStorage (`gr.BrowserState`,
encrypted with the server's secret), so a reload shows the same conversation; the server checks
the token on every call.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import gradio as gr

from assistant.chat_service import ShopperChat, TurnOutcome
from assistant.errors import AssistantError, InputError, NotFoundError
from assistant.pipeline import StreamEvent, reply_record
from assistant.rate_limit import ChatLimits
from assistant.store.conversations import StoredMessage
from ui.render import plain, reply_html
from ui.strings import LANGUAGE_CHOICES, t, ui_language

logger = logging.getLogger(__name__)
QUICK_REPLY_SLOTS = 4
POLL_S = 1.5  # an agent's message shows within this (plus a round trip)


def _client(request: gr.Request | None) -> str:
    host = getattr(getattr(request, "client", None), "host", None) if request else None
    return str(host or "unknown")


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": plain(text)}


def _bot(html: str) -> dict[str, str]:
    return {"role": "assistant", "content": html}


def _agent_html(text: str, language: str) -> str:
    label = "客服" if language == "zh" else "Support team"
    return f'<div class="sa-agent"><b>👤 {label}</b></div><div class="sa-text">{plain(text)}</div>'


def _messages_to_chat(messages: list[StoredMessage], language: str) -> list[dict[str, str]]:
    chat: list[dict[str, str]] = []
    for m in messages:
        if m.role == "customer":
            chat.append(_user(m.text))
        elif m.role == "assistant":
            chat.append(_bot(reply_html(m.text, m.meta, language)))
        elif m.role == "agent":
            chat.append(_bot(_agent_html(m.text, language)))
    return chat


class _Ticket:
    def __init__(self, message: str, is_behind: bool) -> None:
        self.message, self.is_behind, self.started = message, is_behind, False

    def start(self) -> None:
        self.started = True


class _WaitingMessages:
    """Messages of one conversation sent while an earlier turn of it still runs (in this process).

    The turn that runs shows them below its reply, so a message sent mid-stream stays on screen until
    its own turn starts; `ShopperChat` stores and answers them in order."""

    def __init__(self) -> None:
        self._tickets: dict[str, list[_Ticket]] = {}
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def enter(self, conversation_id: str, message: str) -> Iterator[_Ticket]:
        with self._guard:
            tickets = self._tickets.setdefault(conversation_id, [])
            ticket = _Ticket(message, is_behind=bool(tickets))
            tickets.append(ticket)
        try:
            yield ticket
        finally:
            with self._guard:
                tickets = self._tickets.get(conversation_id, [])
                if ticket in tickets:
                    tickets.remove(ticket)
                if not tickets:
                    self._tickets.pop(conversation_id, None)

    def shown(self, conversation_id: str, chat: list[dict[str, str]]) -> list[dict[str, str]]:
        """`chat` with the messages still waiting for their turn after it."""
        with self._guard:
            waiting = [t.message for t in self._tickets.get(conversation_id, []) if not t.started]
        return [*chat, *(_user(m) for m in waiting)]


class ShopperPage:
    """Builds the Blocks; each handler calls `ShopperChat` and turns results into component updates."""

    def __init__(self, chat: ShopperChat, limits: ChatLimits, *, secret: str) -> None:
        self.chat, self.limits, self.secret = chat, limits, secret
        self._waiting = _WaitingMessages()

    # ----------------------------------------------------------------------------- helpers
    def _labels(self, language: str) -> list[Any]:
        """Updates for every component whose text depends on the UI language (order of `self.labelled`)."""
        return [
            gr.update(value=t(language, "title")),
            gr.update(value=language),
            gr.update(placeholder=t(language, "placeholder")),
            gr.update(value=t(language, "send")),
            gr.update(value=t(language, "human")),
            gr.update(value=t(language, "helpful")),
            gr.update(value=t(language, "unhelpful")),
            gr.update(label=t(language, "comment")),
            gr.update(value=t(language, "new_chat")),
        ]

    @staticmethod
    def _quick(suggestions: list[str] | tuple[str, ...]) -> list[Any]:
        padded = list(suggestions)[:QUICK_REPLY_SLOTS]
        return [gr.update(value=s, visible=True) for s in padded] + [
            gr.update(visible=False) for _ in range(QUICK_REPLY_SLOTS - len(padded))
        ]

    def _start(
        self, language: str, request: gr.Request | None
    ) -> tuple[dict[str, str], list[dict[str, str]]]:
        self.limits.new_conversation(_client(request))
        session = self.chat.start(channel="web", language="zh" if language == "zh" else "en")
        return {"conversation_id": session.conversation_id, "token": session.token}, [
            _bot(t(language, "welcome"))
        ]

    # ---------------------------------------------------------------------------- handlers
    def load(self, saved: dict | None, request: gr.Request) -> list[Any]:
        """Restore the conversation this browser holds, or start one."""
        language = ui_language(request.headers.get("accept-language") if request else None)
        saved = saved or {}
        quick: list[str] = []
        try:
            if self.chat.is_owner(saved.get("conversation_id"), saved.get("token")):
                messages = self.chat.history(saved["conversation_id"], saved["token"])
                if messages:
                    language = self.chat.language(saved["conversation_id"])
                    quick = next((m.meta.get("suggestions", []) for m in reversed(messages)
                                  if m.role == "assistant"), [])  # fmt: skip
                chat = _messages_to_chat(messages, language) or [_bot(t(language, "welcome"))]
                replies = [m.id for m in messages if m.role in ("assistant", "agent")]
                view = {
                    "last_id": max((m.id for m in messages), default=0),
                    "last_reply_id": max(replies, default=None),
                }
            else:
                saved, chat = self._start(language, request)
                view = {"last_id": 0, "last_reply_id": None}
        except AssistantError as exc:
            gr.Warning(str(exc))
            chat, view = [_bot(t(language, "error"))], {"last_id": 0, "last_reply_id": None}
        return [chat, saved, language, view, *self._quick(quick), *self._labels(language)]

    def _stored_chat(self, saved: dict, language: str) -> list[dict[str, str]]:
        """The conversation as the server has it. The page never sends its chat back: a long conversation
        would outgrow `web.max_body_bytes`, and the server's copy is the one that counts."""
        try:
            messages = self.chat.history(str(saved.get("conversation_id", "")), saved.get("token"))
        except AssistantError:
            messages = []
        return _messages_to_chat(messages, language) or [_bot(t(language, "welcome"))]

    def send(self, message: str, saved: dict, language: str, view: dict, request: gr.Request):
        """Stream one turn into the chat; yields [chatbot, textbox, language, view, quick replies…, labels…].

        The box is cleared once, when the message is taken; later updates leave it alone, so what the
        shopper types while a reply streams stays. A message sent while another turn of the same
        conversation runs waits for it (`ShopperChat` takes turns) and is shown below the streaming reply
        meanwhile, so nothing typed disappears."""
        keep = [gr.update() for _ in range(QUICK_REPLY_SLOTS)] + [gr.update() for _ in range(9)]
        saved = saved or {}
        conversation_id = str(saved.get("conversation_id", ""))
        try:
            self.limits.message(conversation_id, _client(request))
            message = self.chat.check_message(message)
        except (InputError, AssistantError) as exc:
            gr.Warning(str(exc))
            yield [gr.update(), gr.update(), language, view, *keep]
            return
        with self._waiting.enter(conversation_id, message) as ticket:
            if ticket.is_behind:  # the running turn shows this message below its reply until ours starts
                yield [gr.update(), "", language, view, *keep]
                chat: list[dict[str, str]] = []
            else:
                chat = [*self._stored_chat(saved, language), _user(message), _bot("…")]
                yield [chat, "", language, view, *keep]
            text, started = "", False
            try:
                for event in self.chat.stream(conversation_id, saved.get("token"), message,
                                              client=_client(request)):  # fmt: skip
                    if not started:  # our turn now: earlier turns' replies are stored, take them in
                        started = True
                        ticket.start()
                        chat = [*self._with_message(self._stored_chat(saved, language), message), _bot("…")]
                    if isinstance(event, StreamEvent):
                        text = text + event.text if event.kind == "delta" else event.text
                        chat[-1] = _bot(f'<div class="sa-text">{plain(text)}</div>')
                        yield [self._waiting.shown(conversation_id, chat), gr.update(), language, view, *keep]
                    elif isinstance(event, TurnOutcome):
                        done = self._finish(event, chat, language, view)
                        done[0] = self._waiting.shown(conversation_id, done[0])
                        yield done
            except AssistantError as exc:
                expired = isinstance(exc, NotFoundError)
                gr.Warning("This conversation has expired; please start a new one." if expired else str(exc))
                chat = [*(chat[:-1] if started or not ticket.is_behind else self._stored_chat(saved, language)),
                        _bot(t(language, "error"))]  # fmt: skip
                yield [self._waiting.shown(conversation_id, chat), gr.update(), language, view, *keep]

    @staticmethod
    def _with_message(chat: list[dict[str, str]], message: str) -> list[dict[str, str]]:
        """`chat` ending with the shopper's `message` (stored when the turn began, or added here)."""
        mine = _user(message)
        return chat if chat and chat[-1] == mine else [*chat, mine]

    def _finish(self, outcome: TurnOutcome, chat: list, language: str, view: dict) -> list[Any]:
        view = dict(view)
        view["last_id"] = max(view.get("last_id", 0), outcome.message_id)
        if outcome.reply is None:  # a human has the conversation: no bot reply
            chat[-1] = _bot(f'<div class="sa-note">{t(language, "agent_joined")}</div>')
            return [chat, gr.update(), language, view, *self._quick([]), *[gr.update() for _ in range(9)]]
        reply = outcome.reply
        language = reply.language
        chat[-1] = _bot(reply_html(reply.text, reply_record(reply), language))
        view["last_reply_id"] = outcome.reply_message_id
        view["last_id"] = max(view["last_id"], outcome.reply_message_id or 0)
        return [chat, gr.update(), language, view, *self._quick(reply.suggestions), *self._labels(language)]

    def human(self, saved: dict, language: str, view: dict, request: gr.Request) -> list[Any]:
        saved = saved or {}
        chat = self._stored_chat(saved, language)
        try:
            self.limits.message(str((saved or {}).get("conversation_id", "")), _client(request))
            outcome = self.chat.request_human(saved.get("conversation_id", ""), (saved or {}).get("token"))
        except AssistantError as exc:
            gr.Warning(str(exc))
            return [chat, gr.update(), language, view, *[gr.update() for _ in range(QUICK_REPLY_SLOTS + 9)]]
        chat.append(_user(t(language, "human").replace("🙋 ", "")))
        chat.append(_bot("…"))
        return self._finish(outcome, chat, language, view)

    def rate(self, is_helpful: bool):
        def handler(comment: str, saved: dict, language: str, view: dict) -> Any:
            message_id = (view or {}).get("last_reply_id")
            if not message_id:
                gr.Info(t(language, "nothing_to_rate"))
                return gr.update()
            try:
                self.chat.rate(saved.get("conversation_id", ""), saved.get("token"), message_id=int(message_id),
                               is_helpful=is_helpful, comment=comment or "")  # fmt: skip
            except AssistantError as exc:
                gr.Warning(str(exc))
                return gr.update()
            gr.Info(t(language, "thanks"))
            return gr.update(value="")

        return handler

    def poll(self, saved: dict, language: str, view: dict) -> list[Any]:
        """The chat again when an agent's message arrived since the last look (the bot's own replies come
        through `send`)."""
        saved = saved or {}
        try:
            new = self.chat.history(str(saved.get("conversation_id", "")), saved.get("token"),
                                    after_id=int((view or {}).get("last_id", 0)))  # fmt: skip
        except (AssistantError, AttributeError, ValueError):
            return [gr.update(), gr.update()]
        agent = [m for m in new if m.role == "agent"]
        if not agent:
            return [gr.update(), gr.update()]
        view = dict(view)
        view["last_id"] = max(m.id for m in new)
        view["last_reply_id"] = agent[-1].id
        return [self._stored_chat(saved, language), view]

    def new_chat(self, language: str, request: gr.Request) -> list[Any]:
        try:
            saved, chat = self._start(language, request)
        except AssistantError as exc:
            gr.Warning(str(exc))
            return [gr.update(), gr.update(), gr.update(), *self._quick([])]
        return [chat, saved, {"last_id": 0, "last_reply_id": None}, *self._quick([])]

    def relabel(self, language: str) -> list[Any]:
        return self._labels(language)[:1] + self._labels(language)[2:]

    # ------------------------------------------------------------------------------- layout
    def build(self) -> gr.Blocks:
        with gr.Blocks(title="Shop assistant", analytics_enabled=False) as page:
            saved = gr.BrowserState({}, storage_key="shop-assistant-session", secret=self.secret)
            language = gr.State("en")
            view = gr.State({"last_id": 0, "last_reply_id": None})
            with gr.Row():
                title = gr.Markdown(t("en", "title"), elem_id="sa-title")
                picker = gr.Radio(LANGUAGE_CHOICES, value="en", show_label=False, elem_id="sa-language",
                                  container=False, scale=0, min_width=180)  # fmt: skip
            chatbot = gr.Chatbot(elem_id="sa-chat", height=460, feedback_options=None, show_label=False, buttons=["copy"],
                                 group_consecutive_messages=False, render_markdown=False)  # fmt: skip
            with gr.Row(elem_id="sa-quick"):
                quick = [gr.Button(visible=False, size="sm", elem_classes=["sa-quick-reply"])
                         for _ in range(QUICK_REPLY_SLOTS)]  # fmt: skip
            with gr.Row():
                box = gr.Textbox(placeholder=t("en", "placeholder"), show_label=False, scale=5, elem_id="sa-input",
                                 max_length=self.chat.max_message_chars, submit_btn=False)  # fmt: skip
                send = gr.Button(t("en", "send"), variant="primary", scale=1, elem_id="sa-send")
            with gr.Row():
                human = gr.Button(t("en", "human"), elem_id="sa-human", size="sm")
                new = gr.Button(t("en", "new_chat"), elem_id="sa-new", size="sm")
            with gr.Row():
                comment = gr.Textbox(label=t("en", "comment"), scale=4, elem_id="sa-comment", max_lines=2)
                up = gr.Button(t("en", "helpful"), size="sm", elem_id="sa-up", scale=1)
                down = gr.Button(t("en", "unhelpful"), size="sm", elem_id="sa-down", scale=1)
            labelled = [title, picker, box, send, human, up, down, comment, new]
            turn_out = [chatbot, box, language, view, *quick, *labelled]

            page.load(self.load, [saved], [chatbot, saved, language, view, *quick, *labelled])
            send_inputs = [saved, language, view]  # never the chat itself: the server has it

            # "multiple": a message sent while a reply streams is taken (Gradio's default drops it), and the
            # progress shows on the chat only, so the box stays free to type in.
            def on_turn(trigger: Any, handler: Any, inputs: list[Any]) -> None:
                trigger(handler, inputs, turn_out, concurrency_limit=8, trigger_mode="multiple",
                        show_progress_on=[chatbot])  # fmt: skip

            for trigger in (send.click, box.submit):
                on_turn(trigger, self.send, [box, *send_inputs])
            for button in quick:
                on_turn(button.click, self.send, [button, *send_inputs])
            on_turn(human.click, self.human, send_inputs)
            up.click(self.rate(True), [comment, saved, language, view], [comment])
            down.click(self.rate(False), [comment, saved, language, view], [comment])
            new.click(self.new_chat, [language], [chatbot, saved, view, *quick])
            # The chatbot's own trash icon means the same: start over (a cleared view alone would come back on reload).
            chatbot.clear(self.new_chat, [language], [chatbot, saved, view, *quick])
            picker.input(lambda choice: [choice, *self.relabel(choice)], [picker],
                         [language, title, box, send, human, up, down, comment, new])  # fmt: skip
            gr.Timer(POLL_S).tick(self.poll, [saved, language, view], [chatbot, view],
                                  show_progress="hidden")  # fmt: skip
        return page
