"""Sentiment scoring in [-1, 1]: VADER for English, SnowNLP for Chinese, and a lexicon fake."""

from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class SentimentScorer(Protocol):
    """-1 is very negative, 0 neutral, 1 very positive."""

    def score(self, text: str, language: str) -> float:
        """Sentiment of `text` written in `language`."""
        ...


class LexiconSentimentScorer:
    """VADER (English, rule-based) and SnowNLP (Chinese, naive Bayes on reviews); load lazily."""

    def __init__(self) -> None:
        self._vader: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load both models now (SnowNLP's takes seconds) rather than in a shopper's first turn."""
        self.score("thanks, that helps", "en")
        self.score("谢谢，很好", "zh")

    def score(self, text: str, language: str) -> float:
        if not text.strip():
            return 0.0
        if language == "zh":
            from snownlp import SnowNLP

            # SnowNLP gives P(positive); short polite messages sit near 0.5.
            return max(-1.0, min(1.0, (float(SnowNLP(text).sentiments) - 0.5) * 2))
        with self._lock:
            if self._vader is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                self._vader = SentimentIntensityAnalyzer()
        return float(self._vader.polarity_scores(text)["compound"])


_NEGATIVE = (
    "terrible",
    "worst",
    "ridiculous",
    "angry",
    "unacceptable",
    "broken",
    "差",
    "气死",
    "离谱",
    "投诉",
)
_POSITIVE = ("thanks", "great", "perfect", "love", "谢谢", "太好了", "满意")


class KeywordSentimentScorer:
    """Fake: counts a few positive and negative words."""

    def score(self, text: str, language: str) -> float:
        lowered = text.lower()
        value = sum(w in lowered for w in _POSITIVE) - sum(w in lowered for w in _NEGATIVE)
        return max(-1.0, min(1.0, value / 2))
