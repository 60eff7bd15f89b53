"""Language: which supported language to reply in.

Chinese script decides quickly; otherwise langdetect (seeded, restricted to the supported
languages) decides when the message is long and clear enough, and a short or ambiguous message
keeps the conversation's language.
"""

from __future__ import annotations

from assistant.backends.language_detection import LanguageIdentifier
from assistant.schema import Language, LanguageResult

DETECT_CHARS = 1000


def cjk_share(text: str) -> float:
    """Share of CJK ideographs among the letters of `text`."""
    cjk = sum("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)
    letters = sum(ch.isalpha() for ch in text)
    return cjk / letters if letters else 0.0


class LanguageDetector:
    """Decides the reply language of a message given the conversation's language so far."""

    def __init__(
        self,
        identifier: LanguageIdentifier,
        *,
        supported: tuple[str, ...] = ("en", "zh"),
        default: Language = "en",
        min_chars: int = 12,
        min_probability: float = 0.8,
    ) -> None:
        self.identifier = identifier
        self.supported = supported
        self.default = default
        self.min_chars = min_chars
        self.min_probability = min_probability

    def detect(self, text: str, *, conversation_language: Language | None) -> LanguageResult:
        # The first 1,000 characters say which language a message is in; the rest only costs time.
        text = text[:DETECT_CHARS]
        keep = conversation_language or self.default
        letters = sum(ch.isalpha() for ch in text)
        if letters == 0:
            return LanguageResult(keep, "kept" if conversation_language else "default", 0.0)
        share = cjk_share(text)
        if "zh" in self.supported and share >= 0.3:
            # Code-switching ("这个jacket有M码吗") is still a Chinese message.
            return LanguageResult("zh", "script", min(1.0, 0.5 + share))
        if share == 0 and letters < self.min_chars:
            return LanguageResult(keep, "kept" if conversation_language else "default", 0.5)
        probabilities = self.identifier.probabilities(text)
        if probabilities:
            best, probability = max(probabilities.items(), key=lambda kv: kv[1])
            if best in self.supported and probability >= self.min_probability:
                return LanguageResult(best, "detected", probability)  # type: ignore[arg-type]
        if (
            share == 0
            and letters >= self.min_chars
            and "en" in self.supported
            and conversation_language is None
        ):
            return LanguageResult("en", "script", 0.6)
        return LanguageResult(keep, "kept" if conversation_language else "default", 0.5)
