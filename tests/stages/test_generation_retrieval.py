"""Groundedness checks, templates, BM25 + dense fusion, metadata filters and recommendation ranking."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.backends.embedding import HashingEmbedder
from assistant.backends.vector_store import InMemoryVectorStore, matches
from assistant.catalog import ShopKnowledge
from assistant.indexing.lexical import LexicalIndex, tokenize
from assistant.schema import ActionResult, Decision, DialogueState, Hit, ProductCard
from assistant.shop import ShopProfile
from assistant.stages.generation import (
    Evidence,
    ReplyGenerator,
    facts_in,
    quality_problems,
    ungrounded_facts,
)
from assistant.stages.generation import render as render_for
from assistant.stages.recommendation import Recommender, product_filters
from assistant.stages.retrieval import Retriever

PROFILE = ShopProfile(languages=("en", "zh"))


def render(key: str, language: str, facts: dict[str, str]) -> str:
    return render_for(PROFILE, key, language, facts)


def test_facts_in_text() -> None:
    text = "Returns within 30 days; label $4.95. Order LL-123456 shipped on 2026-11-07, 3-5 business days."
    found = facts_in(text)
    assert {"30", "4.95", "2026-11-07", "3-5", "shipped"} <= found
    assert {"4.95", "12.50", "1200"} <= facts_in("£4.95, €12.50 or ¥1,200")


def test_ungrounded_facts() -> None:
    evidence = "Shoes can be returned within 30 days. A return label costs $4.95."
    assert ungrounded_facts("You have 30 days and the label is $4.95.", evidence) == ()
    assert ungrounded_facts("You have 90 days and the label is $4.95.", evidence) == ("90",)
    assert ungrounded_facts("Your order was delivered yesterday.", evidence) == ("delivered",)


def test_quality_problems() -> None:
    required = "Order LL-1 is shipped with tracking 1Z999."
    assert quality_problems("Your order LL-1 is on its way, tracking 1Z999.", required) == (
        "missing shipped",
    )
    assert quality_problems("Good news: order LL-1 has shipped (tracking 1Z999).", required) == ()
    assert "boilerplate" in quality_problems("As an AI I cannot assist. 1Z999 shipped", required)
    assert "repetition" in quality_problems(
        "I'm happy to help you. I'm happy to help you. shipped 1Z999", required
    )
    assert quality_problems("", required) == ("empty",)


def test_render_refusals_never_use_success_wording() -> None:
    facts = {"order_id": "LL-1", "status": "shipped", "status_zh": "已发货"}
    assert "Done" not in render("start_return:not_verified", "en", facts)
    assert "couldn't verify" in render("start_return:not_verified", "en", facts)
    assert "too many unsuccessful attempts" in render("cancel_order:locked", "en", facts)
    assert (
        render("cancel_order:already_shipped", "en", facts)
        == "Order LL-1 is already shipped, so I can't do that any more."
    )
    assert "已发货" in render("cancel_order:already_shipped", "zh", facts)
    assert render(
        "lookup_order", "en", dict(facts, shipped_at="2026-01-02", carrier="UPS", tracking_number="1Z9")
    ).startswith("Order LL-1 is shipped")


def test_missing_template_fact_falls_back_safely() -> None:
    assert render("cancel_order", "en", {}) == render("no_answer", "en", {})


PRODUCTS = {
    f"P{i}": {"id": f"P{i}", "title": {"en": f"Shoe {i}", "zh": f"鞋{i}"}, "brand": brand, "price": price,
              "rating": rating, "review_count": 10, "stock": stock, "bought_together": [], "currency": "USD",
              "attributes": {"colour": colour}, "category": ["shoes", "sneakers"], "image": None}
    for i, (brand, price, rating, stock, colour) in enumerate([
        ("A", 50.0, 4.8, 5, "black"), ("A", 40.0, 4.7, 5, "black"), ("B", 60.0, 4.0, 5, "red"), ("C", 30.0, 3.5, 0, "black"),
    ])
}  # fmt: skip


def test_recommender_diversifies_brands_and_skips_out_of_stock() -> None:
    recommender = Recommender(ShopKnowledge(PRODUCTS, {}, ShopProfile(languages=("en", "zh"))), top_k=2)
    hits = tuple(
        Hit("product", f"P{i}:en", "", 1 / (61 + i), metadata={"product_id": f"P{i}"}) for i in range(4)
    )
    cards = recommender.recommend(hits, slots={"colour": "black"}, state=DialogueState("c"), language="en")
    assert [c.product_id for c in cards] == ["P0", "P2"]  # one per brand first; P3 is out of stock
    assert "in black" in cards[0].reason and "in black" not in cards[1].reason
    zh = recommender.recommend(hits, slots={}, state=DialogueState("c"), language="zh")
    assert "评分" in zh[0].reason


def test_product_filters() -> None:
    where = product_filters({"category": "shoes", "colour": "black", "price_max": "45"}, "en")
    assert matches(
        {"language": "en", "in_stock": True, "category": "shoes", "colour": "black", "price": 40.0}, where
    )
    assert not matches(
        {"language": "en", "in_stock": True, "category": "shoes", "colour": "black", "price": 50.0}, where
    )
    assert not matches(
        {"language": "zh", "in_stock": True, "category": "shoes", "colour": "black", "price": 40.0}, where
    )


def test_bm25_and_tokenize() -> None:
    assert tokenize("Returns of Shoes!") == ["return", "shoe"]
    assert "退货" in tokenize("可以退货吗")
    texts = ["free returns within 30 days", "express shipping to Canada", "退货运费说明"]
    index = LexicalIndex(["a", "b", "c"], [tokenize(t) for t in texts], [{}, {}, {}])
    assert index.search("returns", top_k=3)[0][0] == "a"
    assert [i for i, _ in index.search("退货", top_k=3)] == [
        "c"
    ]  # through the bigram although jieba splits 退/货运费
    assert index.search("nothing matches", top_k=3) == []


def test_retriever_fuses_and_filters() -> None:
    embedder = HashingEmbedder(64)
    store = InMemoryVectorStore()
    texts = [
        "Shipping to Canada takes 5-8 days",
        "Returns of shoes within 30 days",
        "寄往加拿大需5-8个工作日",
    ]
    metas = [{"language": "en", "topic": "shipping"}, {"language": "en", "topic": "returns"},
             {"language": "zh", "topic": "shipping"}]  # fmt: skip
    store.upsert("knowledge", ["a", "b", "c"], embedder.embed_passages(texts), texts, metas)
    retriever = Retriever(store)
    query = "how long is shipping to Canada"
    hits = retriever.search(
        "knowledge", query, embedder.embed_queries([query])[0], top_k=2, where={"language": "en"}
    )
    assert hits[0].id == "a" and all(h.metadata["language"] == "en" for h in hits)
    assert hits[0].score > hits[-1].score


def test_retriever_reports_an_empty_index() -> None:
    from assistant.errors import IndexNotBuiltError

    with pytest.raises(IndexNotBuiltError, match="assistant index"):
        Retriever(InMemoryVectorStore()).search("knowledge", "x", np.zeros(4), top_k=1)


def test_template_answer_prefers_matching_reply_memory() -> None:
    shop = ShopKnowledge({}, {})
    writer = ReplyGenerator(shop, None)
    passage = Hit("knowledge", "KB-RET-FEE-en", "Return shipping fee. A return label costs $4.95.", 0.1)
    memory = Hit(
        "reply",
        "CV-1:3",
        "is it free?",
        0.1,
        metadata={"reply": "A label costs $4.95.", "passages": "KB-RET-FEE-en"},
    )
    wrong = Hit(
        "reply",
        "CV-2:3",
        "is it free?",
        0.2,
        metadata={"reply": "A label costs $9.", "passages": "KB-RET-FEE-en"},
    )
    evidence = Evidence(None, (passage,), (), (), "is the return free?")
    draft = writer.template(Decision("answer_policy", "r"), evidence, "en", (wrong, memory))
    assert (draft.source, draft.text) == ("reply_memory", "A label costs $4.95.")
    no_memory = writer.template(Decision("answer_policy", "r"), evidence, "en", ())
    assert (no_memory.source, no_memory.text) == ("knowledge", "A return label costs $4.95.")
    refused = Evidence(ActionResult("start_return", "refused", {"order_id": "LL-1", "status": "placed", "status_zh": "已下单"},
                                    "LL-1", "not_delivered"), (), (), (), "")  # fmt: skip
    assert "hasn't been delivered" in writer.template(Decision("start_return", "r"), refused, "en").text


def test_prompt_holds_the_facts_and_the_customers_context_but_not_earlier_replies() -> None:
    from assistant.schema import ChatMessage, Draft

    writer = ReplyGenerator(ShopKnowledge({}, {}), None)
    passage = Hit("knowledge", "KB-RET-FEE-en", "Return shipping fee. A return label costs $4.95.", 0.1)
    evidence = Evidence(None, (passage,), (), (), "is the return free?")
    history = [ChatMessage("user", "where is order LL-123456?"),
               ChatMessage("assistant", "Order LL-123456 shipped with DHL (tracking JD99887766)."),
               ChatMessage("user", "thanks. another question"), ChatMessage("assistant", "Sure, go ahead.")]  # fmt: skip
    prompt = writer.prompt(evidence, history, Draft("A return label costs $4.95.", "knowledge"))
    assert [m.role for m in prompt] == ["system", "user", "user", "user"]
    assert "Answer: A return label costs $4.95." in prompt[0].content and "$4.95" in prompt[0].content
    assert [m.content for m in prompt[1:]] == [history[0].content, history[2].content, "is the return free?"]
    # a fact from an earlier reply is not this answer's: it is nowhere in the prompt, and the check rejects it
    assert all("JD99887766" not in m.content for m in prompt)
    assert ungrounded_facts("It shipped (tracking JD99887766).", evidence.text())


def test_ratings_are_shrunk_by_review_count_and_relevance_comes_first() -> None:
    def product(pid: str, rating: float | None, reviews: int | None) -> dict:
        return {"id": pid, "title": {"en": pid}, "brand": pid, "price": 10.0, "currency": "GBP", "stock": None,
                "rating": rating, "review_count": reviews, "attributes": {}, "category": ["x"]}  # fmt: skip

    products = {p["id"]: p for p in (product("lonely-five", 5.0, 0), product("solid", 4.6, 400),
                                      product("unrated", None, None), product("poor", 2.0, 300))}  # fmt: skip
    recommender = Recommender(ShopKnowledge(products, {}, ShopProfile(currency="GBP")), top_k=4)
    assert recommender.shrunk_rating(products["lonely-five"]) == pytest.approx(recommender.mean_rating)
    assert recommender.shrunk_rating(products["solid"]) > recommender.shrunk_rating(products["lonely-five"])

    def order(ids: list[str]) -> list[str]:  # hits scored as reciprocal-rank fusion scores them
        hits = tuple(
            Hit("product", f"{i}:en", "", 2 / (61 + n), metadata={"product_id": i}) for n, i in enumerate(ids)
        )
        return [
            c.product_id
            for c in recommender.recommend(hits, slots={}, state=DialogueState("c"), language="en")
        ]

    # a 5.0 from no reviews is no signal: the well-reviewed neighbour overtakes it
    assert order(["lonely-five", "solid", "unrated", "poor"])[:2] == ["solid", "lonely-five"]
    fillers = [f"f{i}" for i in range(9)]
    products.update({f: product(f, None, None) for f in fillers})
    recommender = Recommender(ShopKnowledge(products, {}, ShopProfile(currency="GBP")), top_k=4)
    assert (
        order(["unrated", *fillers, "solid"])[0] == "unrated"
    )  # the best match keeps its lead over the tenth
    cards = recommender.recommend(
        (Hit("product", "unrated:en", "", 1.0, metadata={"product_id": "unrated"}),),
        slots={"price_max": "20"}, state=DialogueState("c"), language="en",
    )  # fmt: skip
    assert (
        cards[0].reason == "£10.00, within your £20.00 budget" and cards[0].in_stock is None
    )  # nothing invented


def test_nothing_matching_is_said_and_the_closest_shown() -> None:
    card = ProductCard("P1", "Glazed Teapot in Blue", 28.0, "GBP", "in blue, not pink", True)
    evidence = Evidence(None, (), (card,), (), "a pink teapot?", unmet=("in pink",))
    text = (
        ReplyGenerator(ShopKnowledge({"P1": {"id": "P1", "title": "Glazed Teapot", "price": 28.0}}, {}), None)
        .template(Decision("recommend_products", "r"), evidence, "en")
        .text
    )
    assert text.startswith("Nothing matches in pink right now. These are the closest options:")
    assert "Glazed Teapot in Blue (£28.00): in blue, not pink" in text


def test_filters_are_valid_chroma_where_clauses() -> None:
    assert product_filters({}, "en", in_stock_only=False) == {
        "language": "en"
    }  # chroma refuses a one-item $and
    with pytest.raises(ValueError, match="at least two"):
        matches({"language": "en"}, {"$and": [{"language": "en"}]})


def test_a_yes_or_no_must_be_the_grounded_answers() -> None:
    from assistant.stages.generation import yes_no_answer, yes_no_claim

    conditional = "Returns are free when the item is faulty. For any other reason a return label costs $4.95."
    assert yes_no_answer(conditional) == "depends" and yes_no_claim("Yes, returns are always free.") == "yes"
    assert yes_no_answer("We accept Visa, Mastercard and PayPal.") == "yes"
    assert yes_no_answer("Opened tea cannot be returned unless it is faulty.") == "depends"
    assert yes_no_answer("Gift cards cannot be returned.") == "no"
    assert yes_no_claim("No problem, here it is.") == "" and yes_no_claim("不可以退货。") == "no"
    writer = ReplyGenerator(ShopKnowledge({}, {}), None)
    evidence = Evidence(
        None, (Hit("knowledge", "K", f"Return fees. {conditional}", 1.0),), (), (), "is it free?"
    )
    assert "unsupported yes" in writer.unsupported("Yes, returns are free.", evidence, conditional)
    assert writer.unsupported("Returns are free when the item is faulty.", evidence, conditional) == ()


def test_a_spec_question_gets_the_attribute_first_and_only_the_sentences_asked_about() -> None:
    product = {"id": "T1", "title": "Cast Iron Teapot in Black", "price": 45.0, "currency": "GBP", "stock": 8,
               "attributes": {"material": "cast iron", "colour": "black"},
               "description": ("A teapot with an enamelled interior. It holds 800 ml. The lid has a brass knob. "
                               "Keeps tea hot for an hour. Hand wash only; dry it straight away to avoid rust.")}  # fmt: skip
    writer = ReplyGenerator(ShopKnowledge({"T1": product}, {}, ShopProfile(currency="GBP")), None)

    def answer(question: str) -> str:
        evidence = Evidence(None, (), (), (product,), question)
        return writer.template(Decision("answer_product", "r"), evidence, "en").text

    assert answer("what is it made of?").startswith("Cast Iron Teapot in Black is made of cast iron.")
    washing = answer("can I wash it in the dishwasher?")
    assert "Hand wash only" in washing and "800 ml" not in washing and "£45.00" in washing
