"""Generation: grounded replies. Templates and reply memory are the floor; the language model
phrases answers from the evidence when enabled, and its draft is kept only if every fact in it
(prices, dates, numbers of days, fees, order states) appears in the evidence."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from assistant.backends.text_generation import TextGenerator
from assistant.catalog import ShopKnowledge
from assistant.schema import ActionResult, ChatMessage, Decision, Draft, Hit, ProductCard

STATUSES = ("placed", "shipped", "delivered", "returned", "cancelled", "refunded")
_NUMBER = re.compile(r"\$?\d+(?:[.,:]\d+)*(?:-\d+)?")
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
    r"sorry for (your|the|any) (loss|confusion|misunderstanding)|a customer asked|the correct answer|^answer:",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Evidence:
    """Everything a reply may state."""

    action: ActionResult | None
    passages: tuple[Hit, ...]
    cards: tuple[ProductCard, ...]
    products: tuple[dict, ...]
    message: str

    def text(self) -> str:
        parts = [self.message]
        if self.action:
            parts += [f"{k}: {v}" for k, v in self.action.facts.items()]
        parts += [h.text for h in self.passages]
        parts += [f"{c.title} ${c.price:.2f} {c.reason}" for c in self.cards]
        for p in self.products:
            parts += [p["title"].get("en", ""), p["title"].get("zh", ""), p["description"].get("en", ""),
                      p["description"].get("zh", ""), f"${p['price']:.2f}", f"stock {p['stock']}"]  # fmt: skip
        return "\n".join(parts)


def model_writes(decision: Decision, language: str) -> bool:
    """Whether a language model (when there is one) phrases this reply. SmolLM2 is English-only: Chinese
    replies come from templates and reply memory."""
    return language == "en" and decision.action in MODEL_ACTIONS


def facts_in(text: str) -> set[str]:
    """The checkable facts in a text: numbers (with $ and ranges), dates, order states."""
    found = {m.group().rstrip(".,:").replace(",", "") for m in _NUMBER.finditer(text)}
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
    have = {f.lstrip("$") for f in facts_in(draft)}
    problems += [f"missing {fact}" for fact in sorted(facts_in(required)) if fact.lstrip("$") not in have]
    if _BOILERPLATE.search(draft):
        problems.append("boilerplate")
    sentences = _sentences(draft)
    if len(sentences) != len(set(sentences)):
        problems.append("repetition")
    return tuple(problems)


def ungrounded_facts(draft: str, evidence: str) -> tuple[str, ...]:
    """Facts in `draft` that the evidence does not contain."""
    support = facts_in(evidence)
    plain = {s.lstrip("$") for s in support}
    missing = []
    for fact in sorted(facts_in(draft)):
        if fact in support or fact.lstrip("$") in plain:
            continue
        if "-" in fact and all(part.lstrip("$") in plain for part in fact.split("-")):
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
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature

    def uses_model(self, decision: Decision, language: str) -> bool:
        return self.generator is not None and model_writes(decision, language)

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
                return Draft(body, "knowledge", confidence=0.75)
            return Draft(render("no_answer", language, {}), "template", confidence=0.2)
        facts = dict(evidence.action.facts) if evidence.action else {}
        key = decision.action
        if evidence.action is not None and evidence.action.status == "refused":
            key = f"{decision.action}:{evidence.action.reason}"
        if decision.action in ("recommend_products", "check_stock", "answer_product"):
            return Draft(self._product_text(decision.action, evidence, language), "template", confidence=0.7)
        return Draft(render(key, language, facts), "template", confidence=0.85)

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

    def check(self, text: str, evidence: Evidence, floor: Draft) -> Draft:
        """A generated draft with its verdict: every fact in it is in the evidence (grounded), every fact of
        the grounded answer is in it, and it is not boilerplate or repetition."""
        problems = tuple(f"unsupported {f}" for f in ungrounded_facts(text, evidence.text()))
        problems += quality_problems(text, floor.text)
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
            stock = f"{p['stock']} in stock" if p["stock"] else "out of stock"
            facts.append(f"Product: {p['title']['en']}, ${p['price']:.2f}, {stock}. {p['description']['en']}")
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
        if action == "recommend_products":
            if not evidence.cards:
                return render("no_products", language, {})
            lines = [f"{i + 1}. {c.title} (${c.price:.2f}): {c.reason}" if language == "en" else
                     f"{i + 1}. {c.title}（${c.price:.2f}）：{c.reason}" for i, c in enumerate(evidence.cards)]  # fmt: skip
            head = "Here are some options I'd suggest:" if language == "en" else "为您推荐以下几款："
            return head + "\n" + "\n".join(lines)
        if not evidence.products:
            return render("unknown_product", language, {})
        p = evidence.products[0]
        title = p["title"].get(language, p["title"]["en"])
        if action == "check_stock":
            if p["stock"]:
                return (f"Yes, {title} is in stock ({p['stock']} available) at ${p['price']:.2f}." if language == "en"
                        else f"有货，{title}库存{p['stock']}件，价格${p['price']:.2f}。")  # fmt: skip
            restock = self.shop.passage("KB-ORD-PREORDER", language)
            tail = (restock or {}).get("text", "")
            return (f"{title} is out of stock right now. {tail}" if language == "en"
                    else f"{title}暂时缺货。{tail}")  # fmt: skip
        description = p["description"].get(language, p["description"]["en"])
        stock = (
            ("in stock" if p["stock"] else "out of stock")
            if language == "en"
            else ("有货" if p["stock"] else "缺货")
        )
        return (f"{title} (${p['price']:.2f}, {stock}): {description}" if language == "en"
                else f"{title}（${p['price']:.2f}，{stock}）：{description}")  # fmt: skip


def render(key: str, language: str, facts: dict[str, str]) -> str:
    """Fill the template `key` (falls back to the action's generic template, then to a safe line)."""
    table = TEMPLATES.get(key)
    if table is None and ":" in key:  # a refusal without its own wording: say why, never the success text
        reason = key.split(":", 1)[1]
        table = (
            TEMPLATES.get(f"lookup_order:{reason}")
            or TEMPLATES.get(f"any:{reason.split('_', 1)[0]}")
            or TEMPLATES["cannot_do"]
        )
    table = table or TEMPLATES["no_answer"]
    template = table[language if language in table else "en"]
    if key in ("lookup_order", "check_refund"):
        template = status_template(facts, language)
    try:
        return template.format(**facts)
    except (KeyError, IndexError):
        return TEMPLATES["no_answer"][language if language in ("en", "zh") else "en"]


def status_template(facts: dict[str, str], language: str) -> str:
    status = facts.get("status", "")
    if language == "zh":
        tail = {
            "placed": "，下单日期{placed_on}，将在1个工作日内发货。",
            "shipped": "，已于{shipped_at}由{carrier}发出，物流单号{tracking_number}。",
            "delivered": "，{carrier}已于{delivered_at}送达（物流单号{tracking_number}）。",
            "returned": "，我们已于{returned_at}收到退货，退款将在2个工作日内办理。",
            "refunded": "，已于{refunded_at}退款{refund_amount}。",
            "cancelled": "，已于{cancelled_at}取消，退款{refund_amount}。",
        }.get(status, "。")
        return "订单{order_id}的状态是“{status_zh}”" + tail
    tail = {
        "placed": "; it was placed on {placed_on} and will ship within 1 business day.",
        "shipped": ": it left our warehouse on {shipped_at} with {carrier}, tracking number {tracking_number}.",
        "delivered": ": {carrier} delivered it on {delivered_at} (tracking {tracking_number}).",
        "returned": ": we received your return on {returned_at}; the refund is issued within 2 business days.",
        "refunded": ": we refunded {refund_amount} on {refunded_at}.",
        "cancelled": ": it was cancelled on {cancelled_at} and {refund_amount} was refunded.",
    }.get(status, ".")
    return "Order {order_id} is {status}" + tail


T = dict[str, dict[str, str]]
TEMPLATES: T = {
    "clarify_input": {"en": "I couldn't read that message. Could you type your question again in words?",
                      "zh": "抱歉，没能读懂这条消息，请用文字重新描述您的问题。"},
    "clarify_words": {"en": "Thanks for the message! How can I help you today: an order, a return, delivery or finding "
                            "a product?", "zh": "收到！请问有什么可以帮您？订单、退货、配送还是选购商品？"},
    "wait_for_human": {"en": "A member of our team is handling this conversation and will reply here shortly.",
                       "zh": "人工客服正在处理本次对话，稍后会在这里回复您。"},
    "refuse_unverified": {
        "en": "I can only share order details with the customer who placed the order, after checking the order "
              "number together with its email or postcode. I can't show other customers' information.",
        "zh": "我只能在核对订单号及对应的邮箱或邮编后，向下单本人提供订单信息，无法显示其他顾客的信息。"},
    "handoff": {"en": "I'm connecting you with a member of our team now; an agent usually joins within 5 minutes "
                      "during opening hours (8:00 to 20:00).",
                "zh": "正在为您转接人工客服，营业时间（8:00至20:00）内通常5分钟内接入。"},
    "apologize": {"en": "I'm really sorry about this experience. A team lead reviews every complaint and replies within "
                        "2 business days. Would you like me to bring in a colleague right now?",
                  "zh": "非常抱歉给您带来不好的体验。每条投诉都会由组长审核，并在2个工作日内回复。需要现在为您转接人工吗？"},
    "clarify": {"en": "Sorry, I'm not sure I understood. Is your question about an order, a return, delivery, payment "
                      "or a product?",
                "zh": "抱歉，我不太确定您的意思。请问是关于订单、退货、配送、付款还是商品的问题？"},
    "decline_out_of_scope": {
        "en": "I'm the Lumen Lane shop assistant, so I can't help with that, but I'm happy to help with orders, "
              "returns, delivery or finding a product.",
        "zh": "我是流明小巷的购物助手，这个问题帮不上忙，不过订单、退货、配送或选购商品的问题都可以问我。"},
    "greet": {"en": "Hi! Welcome to Lumen Lane. How can I help you today?", "zh": "您好，欢迎光临流明小巷！请问有什么可以帮您？"},
    "close": {"en": "You're welcome! Have a great day.", "zh": "不客气，祝您生活愉快！"},
    "acknowledge": {"en": "Okay! Is there anything else I can help with?", "zh": "好的！还有什么可以帮您？"},
    "request_verification": {
        "en": "I can help with that. To protect your account, please send me your order number and the email "
              "address or postcode used on the order.",
        "zh": "可以帮您处理。为保护您的账户安全，请提供订单号以及下单时使用的邮箱或邮编。"},
    "lookup_order:needs_details": {"en": "Thanks! And the email address or postcode on that order?",
                                   "zh": "谢谢！请再提供该订单的邮箱或邮编。"},
    "lookup_order:not_verified": {
        "en": "Sorry, I couldn't verify an order with those details. Please check the order number and the email "
              "address or postcode used when ordering.",
        "zh": "抱歉，无法用这些信息核实订单。请核对订单号以及下单时使用的邮箱或邮编。"},
    "lookup_order:locked": {
        "en": "For your security I can't check order details here any more: there have been too many unsuccessful "
              "attempts. A member of our team can verify you another way. Would you like me to connect you?",
        "zh": "为保护账户安全，由于多次核对未成功，我暂时无法在这里继续核对订单信息。人工客服可以通过其他方式核实您的身份，需要为您转接吗？"},
    "lookup_order:no_order_id": {"en": "Could you send me the order number? It looks like LL-123456.",
                                 "zh": "请提供订单号，格式为LL-123456。"},
    "confirm_cancel": {"en": "Order {order_id} hasn't shipped yet, so I can cancel it. The total of {total} will be "
                             "refunded. Shall I go ahead?",
                       "zh": "订单{order_id}尚未发货，可以取消，订单金额{total}将全额退回。确认取消吗？"},
    "confirm_cancel:already_shipped": {
        "en": "Order {order_id} has already shipped, so it can't be cancelled any more. Once it arrives you can "
              "return it instead.", "zh": "订单{order_id}已发货，无法取消。收到后可以申请退货。"},
    "confirm_cancel:already_delivered": {
        "en": "Order {order_id} has already been delivered, so there is nothing left to cancel. You can return the "
              "items within the return window instead.",
        "zh": "订单{order_id}已签收，无需取消。如不需要商品，可在退货期限内申请退货。"},
    "cancel_order": {"en": "Order {order_id} is cancelled. The refund of {refund_amount} takes 1-3 business days to "
                           "process.", "zh": "订单{order_id}已取消。退款{refund_amount}将在1-3个工作日内处理。"},
    "keep_order": {"en": "No problem, order {order_id} stays as it is.", "zh": "好的，订单{order_id}保持不变。"},
    "request_address": {"en": "Order {order_id} hasn't shipped yet, so the address can still change. What's the new "
                              "address?", "zh": "订单{order_id}尚未发货，可以修改地址。请提供新的收货地址。"},
    "request_address:already_shipped": {
        "en": "Order {order_id} has already shipped with {carrier} (tracking {tracking_number}), so we can't change "
              "the address. The carrier can redirect it if you contact them with the tracking number.",
        "zh": "订单{order_id}已由{carrier}发出（物流单号{tracking_number}），无法修改地址。可凭物流单号联系承运商改派。"},
    "change_address": {"en": "Updated: order {order_id} will now go to {address}.",
                       "zh": "已更新：订单{order_id}将寄往{address}。"},
    "start_return": {
        "en": "Done: I've started a return for {product_title_en} from order {order_id}. These items can be returned "
              "within {window_days} days of delivery, and you're on day {days}. A prepaid label is on its way to your "
              "email; for a change of mind the $4.95 label fee is deducted from the refund.",
        "zh": "已为您发起订单{order_id}中{product_title_zh}的退货。该类商品可在签收后{window_days}天内退货，目前是第{days}天。"
              "预付运单已发送到您的邮箱；非质量问题退货将从退款中扣除$4.95运单费。"},
    "start_return:window_passed": {
        "en": "I'm sorry: order {order_id} was delivered on {delivered_at}, {days} days ago, and these items can only be "
              "returned within {window_days} days of delivery. If the item is faulty, it may still be under warranty.",
        "zh": "很抱歉，订单{order_id}已于{delivered_at}签收，距今{days}天，该类商品仅支持签收后{window_days}天内退货。"
              "如果商品有质量问题，可能仍在保修范围内。"},
    "start_return:not_delivered": {
        "en": "Order {order_id} is {status} and hasn't been delivered yet, so a return can't start. You can return it "
              "within the return window once it arrives.",
        "zh": "订单{order_id}目前状态为“{status_zh}”，尚未签收，暂时无法发起退货。签收后可在退货期限内申请。"},
    "start_replacement": {
        "en": "I'm sorry it arrived like that. I've arranged a free replacement for {product_title_en} from order "
              "{order_id}; it ships within 1 business day, and you don't need to send the damaged one back.",
        "zh": "很抱歉商品出现问题。已为订单{order_id}中的{product_title_zh}安排免费补发，1个工作日内发出，损坏的商品无需寄回。"},
    "no_products": {"en": "Sorry, I couldn't find products in stock that match. Could you loosen a filter, such as "
                          "the colour or the budget?", "zh": "抱歉，没有找到符合条件的有货商品。可以放宽颜色或预算等条件再试试。"},
    "unknown_product": {"en": "I couldn't tell which product you mean. Could you send me its name?",
                        "zh": "没能确定您说的是哪款商品，请告诉我商品名称。"},
    "any:already": {"en": "Order {order_id} is already {status}, so I can't do that any more.",
                    "zh": "订单{order_id}当前状态为“{status_zh}”，无法再办理此操作。"},
    "cannot_do": {"en": "Sorry, I can't do that for this order. I can pass it to a colleague if you like.",
                  "zh": "抱歉，这个订单无法办理该操作。如需要，我可以为您转接人工客服。"},
    "no_answer": {"en": "I'm not sure about that one, so I'll pass it to a colleague who can help.",
                  "zh": "这个问题我不太确定，我会转给同事为您处理。"},
}  # fmt: skip
