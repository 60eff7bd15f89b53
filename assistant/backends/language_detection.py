"""Language identification: the `LanguageIdentifier` protocol, langdetect, and a script-based fake."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class LanguageIdentifier(Protocol):
    """Probabilities of each supported language for a text (may be empty when unsure)."""

    def probabilities(self, text: str) -> dict[str, float]:
        """ISO 639-1 code -> probability, only for the supported languages."""
        ...


class LangdetectIdentifier:
    """langdetect with a fixed seed (deterministic), restricted to the supported languages."""

    _lock = threading.Lock()  # langdetect's factory is module-global and not thread-safe to build

    def __init__(self, supported: Sequence[str] = ("en", "zh"), *, seed: int = 0) -> None:
        self.supported = tuple(supported)
        self.seed = seed
        self._ready = False

    def warm_up(self) -> None:
        """Load langdetect's profiles once."""
        if self._ready:
            return
        from langdetect import DetectorFactory
        from langdetect.detector_factory import init_factory

        with self._lock:
            DetectorFactory.seed = self.seed
            init_factory()
            self._ready = True

    def probabilities(self, text: str) -> dict[str, float]:
        from langdetect import detect_langs
        from langdetect.lang_detect_exception import LangDetectException

        self.warm_up()
        try:
            found = detect_langs(text)
        except LangDetectException:
            return {}
        out: dict[str, float] = {}
        for guess in found:
            code = "zh" if guess.lang.startswith("zh") else guess.lang
            if code in self.supported:
                out[code] = out.get(code, 0.0) + float(guess.prob)
        return out


class ScriptLanguageIdentifier:
    """Fake: CJK characters mean Chinese, Latin letters mean English."""

    def probabilities(self, text: str) -> dict[str, float]:
        cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
        latin = sum(ch.isascii() and ch.isalpha() for ch in text)
        if cjk + latin == 0:
            return {}
        return {"zh": cjk / (cjk + latin / 4), "en": (latin / 4) / (cjk + latin / 4)}
