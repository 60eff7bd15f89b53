"""Generation: grounded replies. Templates and reply memory are the floor; the language model
phrases answers from the evidence when enabled, and its draft is kept only if every fact in it
(prices, dates, numbers of days, fees, order states) appears in the evidence."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from assistant.backends.text_generation import TextGenerator
from assistant.catalog import ShopKnowledge
from assistant.privacy import EMAIL
from assistant.schema import ActionResult, ChatMessage, Decision, Draft, Hit, ProductCard
from assistant.shop import ShopProfile

STATUSES = ("placed", "shipped", "delivered", "returned", "cancelled", "refunded")
# A number, optionally after a currency sign; facts are compared without the sign, so "£3.50" in a passage
# supports "3.50" in a draft and the other way round.
_NUMBER = re.compile(r"(?:[$€£¥￥₩₹]|US\$|CA\$|A\$|HK\$|NZ\$|S\$)?\d+(?:[.,:]\d+)*(?:-\d+)?")
_SIGN = re.compile(r"^(?:[$€£¥￥₩₹]|US\$|CA\$|A\$|HK\$|NZ\$|S\$)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
SAMPLING_TEMPERATURE = 0.7  # for several candidate drafts: varied, still on topic
# Actions whose reply the model may phrase; the rest are exact templates (verification, refusals...).
MODEL_ACTIONS = frozenset({"answer_policy", "answer_product", "lookup_order", "check_refund", "check_stock"})

SYSTEM_PROMPT = (
    "You are a friendly customer-service assistant of an online shop. Rewrite the answer below for the customer in "
    "your own words, in one to three sentences. Keep every number, date, price, order number and name exactly as "
    "written. Do not add anything that is not in the answer or the facts."
)
# Phrases of a model that talks about itself instead of answering, or that echoes the prompt.
_BOILERPLATE = re.compile(
    r"as an? (ai|customer service assistant|language model)|i'?m (not able|unable|not equipped)|i cannot assist|"
    r"sorry for (your|the|any) (loss|confusion|misunderstanding)|a customer asked|the correct answer|^answer:|"
    # self-descriptions the evidence never supports ("I'm using a phone number", "I am a chatbot")
    r"\bi'?m using\b|\bi am using\b|\bi'?m (?:just )?an? (?:bot|chatbot|program|robot)\b|\bi am (?:just )?an? (?:bot|chatbot|program)\b",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://[^\s)]+|www\.[^\s)]+", re.IGNORECASE)


@dataclass(frozen=True)
class Evidence:
    """Everything a reply may state."""

    action: ActionResult | None
    passages: tuple[Hit, ...]
    cards: tuple[ProductCard, ...]
    products: tuple[dict, ...]
    message: str
    passage_facts: tuple[tuple[str, str], ...] = ()  # the cited passages' `facts` (templates fill them in)
    unmet: tuple[str, ...] = ()  # constraints no product met: the cards are the closest alternatives

    def text(self) -> str:
        parts = [self.message]
        if self.action:
            parts += [f"{k}: {v}" for k, v in self.action.facts.items()]
        parts += [h.text for h in self.passages]
        parts += [f"{k}: {v}" for k, v in self.passage_facts]
        parts += [f"{c.title} {c.price:.2f} {c.reason}" for c in self.cards]
        for p in self.products:
            parts += [
                *_all_texts(p.get("title")),
                *_all_texts(p.get("description")),
                f"{float(p['price']):.2f}",
            ]
            if p.get("stock") is not None:
                parts.append(f"stock {p['stock']}")
        return "\n".join(parts)


def _all_texts(value: object) -> list[str]:
    return [str(v) for v in value.values()] if isinstance(value, dict) else [str(value or "")]


def model_writes(decision: Decision, language: str) -> bool:
    """Whether a language model (when there is one) phrases this reply. SmolLM2 is English-only: Chinese
    replies come from templates and reply memory."""
    return language == "en" and decision.action in MODEL_ACTIONS


def facts_in(text: str) -> set[str]:
    """The checkable facts in a text: numbers (currency signs dropped; ranges kept; phone numbers are digit
    groups), dates, order states, e-mail addresses and URLs."""
    found = {_SIGN.sub("", m.group()).rstrip(".,:").replace(",", "") for m in _NUMBER.finditer(text)}
    found |= {m.group().lower().rstrip(".,") for m in EMAIL.finditer(text)}  # contact details are facts too
    found |= {m.group().lower().rstrip(".,") for m in _URL.finditer(text)}
    found |= set(_DATE.findall(text))
    lowered = text.lower()
    found |= {s for s in STATUSES if re.search(rf"\b{s}\b", lowered)}
    return {f for f in found if f and f not in ("1", "2", "3")}  # "1 of 3", "2 options" are not claims


def _sentences(text: str) -> list[str]:
    return [x.strip().lower() for x in re.split(r"(?<=[.!?。！？])\s*", text) if len(x.strip()) > 8]


def quality_problems(draft: str, required: str) -> tuple[str, ...]:
    """Why a generated draft may not replace the grounded answer `required` (empty: it may)."""
    problems = []
    if not draft.strip():
        return ("empty",)
    have = facts_in(draft)
    problems += [f"missing {fact}" for fact in sorted(facts_in(required)) if fact not in have]
    if _BOILERPLATE.search(draft):
        problems.append("boilerplate")
    sentences = _sentences(draft)
    if len(sentences) != len(set(sentences)):
        problems.append("repetition")
    return tuple(problems)


def ungrounded_facts(draft: str, evidence: str) -> tuple[str, ...]:
    """Facts in `draft` that the evidence does not contain."""
    support = facts_in(evidence)
    missing = []
    for fact in sorted(facts_in(draft)):
        if fact in support:
            continue
        if "-" in fact and all(part in support for part in fact.split("-")):
            continue
        missing.append(fact)
    return tuple(missing)


class ReplyGenerator:
    """Writes the reply text for a decided action from its evidence."""

    def __init__(
        self,
        shop: ShopKnowledge,
        generator: TextGenerator | None,
        *,
        max_new_tokens: int = 120,
        temperature: float = 0.0,
    ) -> None:
        self.shop = shop
        self.generator = generator
        # Brands a draft may name only when the evidence does (longest first; common words excluded: "Everyday").
        brands = {str(p.get("brand") or "") for p in shop.products.values()} - {""}
        self._brands = tuple(sorted((b for b in brands if len(b) > 2), key=len, reverse=True))
        # Product names a draft may use only when the evidence does (distinctive ones: three words or more).
        titles = {self.shop.title(p, "en").lower() for p in shop.products.values()}
        self._titles = tuple(t for t in titles if len(t.split()) >= 3)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature

    def uses_model(self, decision: Decision, language: str) -> bool:
        return self.generator is not None and model_writes(decision, language)

    @property
    def profile(self) -> ShopProfile:
        return self.shop.profile

    def render(self, key: str, language: str, facts: dict[str, str] | None = None) -> str:
        """The shop's template `key` filled from `facts` (see `render`)."""
        return render(self.profile, key, language, facts or {})

    def template(
        self, decision: Decision, evidence: Evidence, language: str, replies: tuple[Hit, ...] = ()
    ) -> Draft:
        """The grounded floor: an exact template, a past agent reply, or the passage itself."""
        if decision.action == "answer_policy":
            if evidence.passages:
                top = evidence.passages[0]
                for reply in replies:  # an agent answered from the same passage before
                    if top.id in str(reply.metadata.get("passages", "")).split(","):
                        text = str(reply.metadata.get("reply", ""))
                        if text and not ungrounded_facts(text, evidence.text()):
                            return Draft(text, "reply_memory", confidence=0.8)
                body = top.text.split(". ", 1)[1] if ". " in top.text else top.text
                return Draft(answering_sentences(evidence.message, body), "knowledge", confidence=0.75)
            # A shop without FAQ/policy pages says so plainly (and the policy hands over when unsure).
            key = "no_knowledge" if not self.shop.passages else "no_answer"
            return Draft(self.render(key, language), "template", confidence=0.2)
        facts = {**dict(evidence.passage_facts), **(evidence.action.facts if evidence.action else {})}
        if "product_id" in facts:
            product = self.shop.products.get(facts["product_id"], {})
            facts.setdefault("product_title", self.shop.title(product, language) if product else "")
        key = decision.action
        if evidence.action is not None and evidence.action.status == "refused":
            key = f"{decision.action}:{evidence.action.reason}"
        if decision.action in ("recommend_products", "check_stock", "answer_product"):
            if not self.shop.products:  # a shop that has not imported a catalog says so plainly
                return Draft(self.render("no_catalog", language), "template", confidence=0.2)
            return Draft(self._product_text(decision.action, evidence, language), "template", confidence=0.7)
        return Draft(self.render(key, language, facts), "template", confidence=0.85)

    def generate(self, decision: Decision, evidence: Evidence, language: str, history: Sequence[ChatMessage],
                 replies: tuple[Hit, ...] = ()) -> tuple[Draft, ...]:  # fmt: skip
        """Drafts in order of preference; the last is always grounded."""
        floor = self.template(decision, evidence, language, replies)
        if not self.uses_model(decision, language) or self.generator is None:
            return (floor,)
        text = self.generator.generate(
            self.prompt(evidence, history, floor),
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
        )
        return (self.check(text, evidence, floor), floor)

    def candidates(self, decision: Decision, evidence: Evidence, language: str, history: Sequence[ChatMessage],
                   replies: tuple[Hit, ...] = (), *, n: int = 1) -> tuple[Draft, ...]:  # fmt: skip
        """Up to `n` distinct checked drafts from one batched call (greedy when `n` is 1, sampled otherwise),
        then the grounded floor; for agents, who choose among them."""
        floor = self.template(decision, evidence, language, replies)
        if n <= 1 or not self.uses_model(decision, language) or self.generator is None:
            return self.generate(decision, evidence, language, history, replies)
        prompt = self.prompt(evidence, history, floor)
        texts = self.generator.generate_batch([prompt] * n, max_new_tokens=self.max_new_tokens,
                                              temperature=max(self.temperature, SAMPLING_TEMPERATURE))  # fmt: skip
        drafts = [
            self.check(text, evidence, floor) for text in dict.fromkeys(t.strip() for t in texts) if text
        ]
        return (*drafts, floor)

    def stream(self, decision: Decision, evidence: Evidence, language: str, history: Sequence[ChatMessage],
               floor: Draft) -> Iterator[str]:  # fmt: skip
        """Pieces of the model's draft as they are generated (call only when `uses_model`)."""
        if self.generator is None:
            return
        yield from self.generator.stream(
            self.prompt(evidence, history, floor),
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
        )

    def unsupported(self, text: str, evidence: Evidence, floor_text: str = "") -> tuple[str, ...]:
        """What in `text` the evidence does not support: facts (numbers, dates, states, e-mails, URLs), the shop's
        brand and product names, talk about itself, and a yes or no that the grounded answer `floor_text` does
        not give. Also used sentence by sentence while streaming."""
        support = evidence.text()
        lowered = support.lower()
        problems = tuple(f"unsupported {f}" for f in ungrounded_facts(text, support))
        problems += tuple(f"unsupported brand {b}" for b in self._brands
                          if re.search(rf"\b{re.escape(b)}\b", text) and b.lower() not in lowered)  # fmt: skip
        draft = text.lower()
        problems += tuple(f"unsupported product {t}" for t in self._titles if t in draft and t not in lowered)
        if _BOILERPLATE.search(text):
            problems += ("boilerplate",)
        if floor_text and (claim := yes_no_claim(text)) and claim != yes_no_answer(floor_text):
            problems += (f"unsupported {claim}",)
        return problems

    def check(self, text: str, evidence: Evidence, floor: Draft) -> Draft:
        """A generated draft with its verdict: everything in it is supported by the evidence (grounded), every
        fact of the grounded answer is in it, and it is not boilerplate or repetition."""
        problems = self.unsupported(text, evidence, floor.text)
        problems += tuple(p for p in quality_problems(text, floor.text) if p not in problems)
        return Draft(text.strip(), "generated", is_grounded=not problems, ungrounded=problems,
                     confidence=0.8 if not problems else 0.1)  # fmt: skip

    def prompt(self, evidence: Evidence, history: Sequence[ChatMessage], floor: Draft) -> list[ChatMessage]:
        """The grounded prompt: the answer to rephrase, the facts behind it, the customer's previous messages, the
        message."""
        facts: list[str] = []
        if evidence.action and evidence.action.facts:
            facts.append("Order: " + "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in evidence.action.facts.items()
                                               if not k.endswith("_zh")))  # fmt: skip
        facts += [f"Policy: {h.text}" for h in evidence.passages[:2]]
        for p in evidence.products[:3]:
            stock = (
                ""
                if p.get("stock") is None
                else (f", {p['stock']} in stock" if p["stock"] else ", out of stock")
            )
            price = self.profile.price(float(p["price"]), "en")
            facts.append(
                f"Product: {self.shop.title(p, 'en')}, {price}{stock}. {self.shop.description(p, 'en')}"
            )
        system = (
            SYSTEM_PROMPT
            + "\n\nAnswer: "
            + floor.text
            + "\n\nFacts:\n"
            + ("\n".join(f"- {f}" for f in facts) or "- (none)")
        )
        # The customer's previous messages give the context; the assistant's earlier replies stay out: their
        # facts answer another question, and a model that sees them copies them into this answer.
        context = [m for m in history[-4:] if m.role == "user"]
        return [ChatMessage("system", system), *context, ChatMessage("user", evidence.message)]

    def _product_text(self, action: str, evidence: Evidence, language: str) -> str:
        price = self.profile.price
        if action == "recommend_products":
            if not evidence.cards:
                return self.render("no_products", language)
            lines = [self.render("product_line", language, {"n": str(i + 1), "title": c.title, "reason": c.reason,
                                                            "price": price(c.price, language, c.currency)})
                     for i, c in enumerate(evidence.cards)]  # fmt: skip
            if evidence.unmet:
                head = self.render("recommend_closest", language, {"unmet": _join(evidence.unmet, language)})
            else:
                head = self.render("recommend_products", language)
            return head + "\n" + "\n".join(lines)
        if not evidence.products:
            return self.render("unknown_product", language)
        p = evidence.products[0]
        text = self._one_product_text(
            action, p, language, alternative=bool(evidence.unmet), question=evidence.message
        )
        if evidence.unmet:  # nothing met what the shopper named: say so, then show the closest
            return (
                self.render("closest_product", language, {"unmet": _join(evidence.unmet, language)})
                + " "
                + text
            )
        return text

    def _one_product_text(self, action: str, p: dict, language: str, *, alternative: bool = False,
                          question: str = "") -> str:  # fmt: skip
        price = self.profile.price
        description = answering_sentences(question, self.shop.description(p, language))
        facts = {"title": self.shop.title(p, language), "description": description,
                 "price": price(float(p["price"]), language, p.get("currency")),
                 "stock": "" if p.get("stock") is None else str(p["stock"])}  # fmt: skip
        if action == "check_stock":
            if p.get("stock") is None:
                return self.render("stock_unknown", language, facts)
            if p["stock"]:
                return self.render("in_stock_alternative" if alternative else "in_stock", language, facts)
            restock = self._fixed_text("out_of_stock", language)
            return self.render(
                "out_of_stock", language, dict(facts, **({"restock": restock} if restock else {}))
            )
        key = "product_unknown_stock" if p.get("stock") is None else ("product_in_stock" if p["stock"] else
                                                                       "product_out_of_stock")  # fmt: skip
        if not facts["description"]:
            key += "_brief"
        text = self.render(key, language, facts)
        # A question about one attribute gets that attribute first, from the product's own data.
        attributes = p.get("attributes") or {}
        for name, pattern in _ATTRIBUTE_QUESTIONS.items():
            value = attributes.get(name)
            if value and pattern.search(question):
                shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
                return (
                    self.render(f"attribute_{name}", language, {"title": facts["title"], "value": shown})
                    + " "
                    + text
                )
        return text

    def _fixed_text(self, action: str, language: str) -> str:
        texts = [
            self.shop.passage(group, language) for group in self.profile.template_passages.get(action, ())
        ]
        return " ".join(str(p.get("text", "")) for p in texts if p)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|(?<=[。！？；])")
# Questions whose answer is an amount, a duration or a date: a sentence with a number answers them.
_ASKS_FOR_AMOUNT = re.compile(
    r"\bhow (?:long|much|many|soon|fast)\b|\bwhen\b|\bwhat (?:time|date)\b|多久|多少|几天|几点|什么时候", re.I
)


# Words every question has; they say nothing about which sentence answers it.
_QUESTION_WORDS = frozenset({"what", "how", "when", "wher", "whic", "who", "why", "doe", "do", "can", "is", "are",
                             "much", "many", "long", "will", "woul", "coul", "shou", "abou", "ther", "your", "you",
                             "my", "i", "me", "get", "have", "need", "want", "tell", "plea"})  # fmt: skip


def _stems(text: str) -> set[str]:
    """Words cut to their first four letters ("returned", "returns" -> "retu"; "opening" -> "open"), Chinese as
    tokenized."""
    from assistant.indexing.lexical import tokenize

    return {t[:4] if t.isascii() else t for t in tokenize(text)} - _QUESTION_WORDS


def _overlap(question: str, text: str) -> int:
    """Shared words, plus one when the question asks for an amount or a duration and the text gives a number."""
    shared = len(_stems(question) & _stems(text))
    return shared + (1 if _ASKS_FOR_AMOUNT.search(question) and re.search(r"\d", text) else 0)


def rank_by_answer(question: str, hits: tuple[Hit, ...]) -> tuple[Hit, ...]:
    """`hits` with the one whose sentences share most words with the question first (retrieval order breaks
    ties): "what number can I ring?" is answered by the contact passage even when the hours passage ranked
    above it."""
    if len(hits) < 2:
        return hits

    # A passage's score: its two best sentences; its title (the hit's first sentence) counts double, since a
    # title names what the passage is about ("Opening hours" for "when are you open?").
    def score(hit: Hit) -> int:
        parts = [p for p in _SENTENCE_END.split(hit.text) if p]
        scores = [_overlap(question, p) * (2 if i == 0 and hit.title else 1) for i, p in enumerate(parts)]
        return sum(sorted(scores, reverse=True)[:2])

    best = [score(h) for h in hits]
    order = sorted(range(len(hits)), key=lambda i: (-best[i], i))
    return tuple(hits[i] for i in order)


def answering_sentences(question: str, text: str, *, limit: int = 2) -> str:
    """The sentences of `text` that address `question`, the best first: a passage or description is cut to
    what was asked (by shared words, stemmed, stop words dropped; Chinese by words and bigrams). With no
    overlap at all the text's first sentence leads, as its summary."""
    sentences = [x.strip() for x in _SENTENCE_END.split(text) if x and x.strip()]
    if len(sentences) <= limit and len(text) <= 300:
        return text
    scores = [_overlap(question, sentence) for sentence in sentences]
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i))
    if scores[best] == 0:
        return " ".join(sentences[:limit])
    others = [i for i in sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
              if i != best and scores[i] * 2 >= scores[best]]  # fmt: skip
    chosen = [best, *others[: limit - 1]]
    return " ".join(sentences[i] for i in chosen)


_ATTRIBUTE_QUESTIONS = {
    "material": re.compile(r"made of|material|fabric|what is it made|材质|什么做的|面料", re.IGNORECASE),
    "sizes": re.compile(r"\bsizes?\b|尺码|尺寸", re.IGNORECASE),
    "colour": re.compile(r"\bcolou?rs?\b|颜色", re.IGNORECASE),
}
_YES = re.compile(r"^\W*(?:(?:yes|yeah|yep|sure|of course|absolutely)\b|是的|可以|有的)", re.IGNORECASE)
_NO = re.compile(
    r"^\W*(?:(?:no(?! (?:problem|worries))|nope|unfortunately not|sorry,? no)\b|不|没有)", re.IGNORECASE
)
_NEGATION = re.compile(
    r"\b(?:no|not|cannot|can't|don't|doesn't|isn't|aren't|won't|never)\b|不|无法|没有", re.IGNORECASE
)
_CONDITION = re.compile(
    r"\b(?:only|when|if|unless|except|as long as|provided)\b|仅|只有|如果|除非", re.IGNORECASE
)


def yes_no_claim(text: str) -> str:
    """ "yes" or "no" when a text opens with one, else ""."""
    return "yes" if _YES.search(text) else "no" if _NO.search(text) else ""


def yes_no_answer(grounded: str) -> str:
    """What a grounded answer's opening sentence says to a yes/no question: "no" when it negates, "depends"
    when it states a condition ("free when the item is faulty"), else "yes". A bare yes or no is supported
    only when it matches."""
    first = _SENTENCE_END.split(grounded.strip(), maxsplit=1)[0]
    if yes_no_claim(first):
        return yes_no_claim(first)
    if _CONDITION.search(first):
        return "depends"
    return "no" if _NEGATION.search(first) else "yes"


def _join(items: Sequence[str], language: str) -> str:
    if language == "zh":
        return "、".join(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_PLACEHOLDER = re.compile(r"{(\w+)}")


def render(profile: ShopProfile, key: str, language: str, facts: dict[str, str]) -> str:
    """Fill the shop's template `key`: the first variant whose placeholders are all known.

    A refusal without its own wording says why (`lookup_order:<reason>`, `any:<kind>`, `cannot_do`), never the
    success text; an order status uses `status:<state>`; anything unfillable falls back to `no_answer`."""
    templates = profile.templates
    if language not in profile.languages:  # the shop does not write in it: its own language, not the engine's
        language = profile.default_language
    known = {"shop_name": profile.name_in(language), "order_example": profile.order_number.example, **facts}
    if key in ("lookup_order", "check_refund"):
        key = (
            f"status:{facts.get('status', '')}"
            if f"status:{facts.get('status', '')}" in templates
            else "status:other"
        )
    table = templates.get(key)
    if table is None and ":" in key:
        reason = key.split(":", 1)[1]
        table = (
            templates.get(f"lookup_order:{reason}")
            or templates.get(f"any:{reason.split('_', 1)[0]}")
            or templates.get("cannot_do")
        )
    for candidate in (table, templates.get("no_answer")):
        variants = _in_language(candidate or {}, language, profile.default_language)
        for variant in variants:
            if all(known.get(name) not in (None, "") for name in _PLACEHOLDER.findall(variant)):
                return variant.format(**known)
    return "…"


def _in_language(table: dict[str, tuple[str, ...]], language: str, default: str) -> tuple[str, ...]:
    return table.get(language) or table.get(default) or table.get("en") or next(iter(table.values()), ())
