"""The shopper chat's own words, in each supported language."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "### 🛍️ Shop assistant\nAsk about orders, returns, delivery or products. Replies cite the shop's pages.",
        "placeholder": "Type your question…",
        "send": "Send",
        "human": "🙋 Talk to a human",
        "helpful": "👍 Helpful",
        "unhelpful": "👎 Not helpful",
        "comment": "Comment on the last answer (optional)",
        "thanks": "Thanks for the feedback!",
        "nothing_to_rate": "There is no answer to rate yet.",
        "new_chat": "New conversation",
        "welcome": "Hello! How can I help you today?",
        "agent_joined": "A member of our team has this conversation and will reply here.",
        "sources": "Sources",
        "in_stock": "In stock",
        "out_of_stock": "Out of stock",
        "error": "Sorry, something went wrong. Please try again.",
        "language": "Language",
    },
    "zh": {
        "title": "### 🛍️ 购物助手\n可以问订单、退货、配送或商品。回答会注明来源。",
        "placeholder": "请输入您的问题…",
        "send": "发送",
        "human": "🙋 转人工",
        "helpful": "👍 有帮助",
        "unhelpful": "👎 没帮助",
        "comment": "对上一条回答的意见（可选）",
        "thanks": "感谢您的反馈！",
        "nothing_to_rate": "还没有可以评价的回答。",
        "new_chat": "新对话",
        "welcome": "您好！请问有什么可以帮您？",
        "agent_joined": "客服同事已接手本对话，会在这里回复您。",
        "sources": "来源",
        "in_stock": "有货",
        "out_of_stock": "缺货",
        "error": "抱歉，出了点问题，请再试一次。",
        "language": "语言",
    },
}
LANGUAGE_CHOICES = [("English", "en"), ("中文", "zh")]


def ui_language(accept_language: str | None) -> str:
    """zh when the browser prefers Chinese, else en (an `Accept-Language` header)."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()
        if code.startswith("zh"):
            return "zh"
        if code.startswith("en"):
            return "en"
    return "en"


def t(language: str, key: str) -> str:
    return STRINGS.get(language, STRINGS["en"])[key]
