"""Guard: the first look at a message. Caps length, strips control characters (NUL included: the rest
of the message is answered), flags personal data and instruction-injection attempts, and recognises
input that is empty or binary (bytes that are not UTF-8, or text that is mostly replacement characters)."""

from __future__ import annotations

import re
import unicodedata

from assistant.privacy import find_personal_data
from assistant.schema import GuardResult

_INJECTION = re.compile(
    r"ignore (all |your |the |any )?(previous |prior |above )?(instructions|rules|prompt)|system prompt|"
    r"you are now|act as (an? )?(admin|developer)|developer mode|jailbreak|"
    r"(show|list|give|print).{0,40}(all|other|every|another).{0,20}(orders?|customers?|users?|emails?)|"
    r"忽略.{0,6}(指令|指示|规则|提示)|你现在是|管理员|所有(订单|顾客|用户)|其他(顾客|用户|人)的",
    re.IGNORECASE,
)


class Guard:
    """Cleans one message; never raises on any input."""

    def __init__(self, *, max_chars: int = 2000) -> None:
        self.max_chars = max_chars

    def check(self, message: object) -> GuardResult:
        """The cleaned text and what the guard noticed."""
        if isinstance(message, bytes):
            try:
                message = message.decode("utf-8")
            except UnicodeDecodeError:
                return GuardResult(text="", problem="binary")
        if not isinstance(message, str):
            return GuardResult(text="", problem="binary")
        if message and message.count("\ufffd") / len(message) > 0.1:  # bytes decoded with errors="replace"
            return GuardResult(text="", problem="binary")
        controls = 0
        kept: list[str] = []
        for ch in message:
            category = unicodedata.category(ch)
            if ch in "\n\t":
                kept.append(" ")
            elif category in ("Cc", "Cf", "Cs", "Co") and ch not in "\u200d\ufe0f":  # keep emoji joiners
                controls += 1
            else:
                kept.append(ch)
        text = re.sub(r"\s+", " ", "".join(kept)).strip()
        truncated = len(text) > self.max_chars
        if truncated:
            text = text[: self.max_chars]
        if not text:
            return GuardResult(text="", problem="empty", removed_control_chars=controls)
        if not any(ch.isalnum() for ch in text):  # emoji or punctuation only
            return GuardResult(text=text, problem="no_words", removed_control_chars=controls)
        kinds = tuple(sorted({kind for kind, _ in find_personal_data(text)}))
        return GuardResult(
            text=text,
            problem="too_long" if truncated else "none",
            was_truncated=truncated,
            removed_control_chars=controls,
            personal_data=kinds,
            is_injection_attempt=bool(_INJECTION.search(text)),
        )
