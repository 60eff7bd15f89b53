"""What the analytics cost on a busy shop's store, and what the health check costs per call.

Fills a fresh SQLite database with `--conversations` conversations spread over `--days` days (each a few
turns with the trace fields the analytics read, 👍/👎, some hand-offs and agent decisions, and a share of
questions the bot declined, in a few dozen wordings), then times `Analytics.report` over the last 30 days:
the store read, and the grouping of the unanswered questions with the hashing embedder and (when
prepared) the real multilingual e5. Prints figures; asserts nothing.

    .venv/bin/python bench/analytics.py [--conversations 20000] [--days 60]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from assistant.analytics import Analytics
from assistant.backends.embedding import HashingEmbedder
from assistant.store.database import Database
from assistant.store.models import Conversation, Feedback, Message, utcnow

QUESTIONS = ["Do you sell gift cards?", "Can I pay with PayPal?", "Do you have a shop in Berlin?",
             "Can you engrave the lamp?", "Is there a student discount?", "Do you ship to Iceland?"]  # fmt: skip
WORDINGS = ["{q}", "{q} thanks", "hi, {q}", "{q}??", "quick one: {q}", "{q} please"]


def fill(db: Database, conversations: int, days: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    now = utcnow()
    rows_c, rows_m, rows_f = [], [], []
    message_id = 0
    for n in range(conversations):
        cid = f"c_bench_{n}"
        started = now - timedelta(days=rng.random() * days)
        language = "zh" if rng.random() < 0.2 else "en"
        rows_c.append({"id": cid, "created_at": started, "updated_at": started, "language": language,
                       "handoff": False, "state": {}, "channel": "web"})  # fmt: skip
        for _turn in range(rng.randint(1, 4)):
            declined = rng.random() < 0.08
            text = (rng.choice(WORDINGS).format(q=rng.choice(QUESTIONS)) if declined
                    else f"question {rng.randint(0, 500)} about order shipping")  # fmt: skip
            message_id += 2
            rows_m.append({"id": message_id - 1, "conversation_id": cid, "role": "customer", "text": text,
                           "created_at": started, "meta": {}})  # fmt: skip
            meta = {"intent": "out_of_scope" if declined else rng.choice(["shipping_policy", "order_status"]),
                    "action": "decline_out_of_scope" if declined else "answer_policy", "rule": "",
                    "confidence": 0.5 + rng.random() / 2, "language": language, "reply_ms": rng.lognormvariate(5, 0.6),
                    "handoff": rng.random() < 0.03}  # fmt: skip
            rows_m.append({"id": message_id, "conversation_id": cid, "role": "assistant", "text": "an answer",
                           "created_at": started, "meta": meta})  # fmt: skip
            if rng.random() < 0.1:
                rows_f.append({"conversation_id": cid, "message_id": message_id, "kind": "thumbs",
                               "value": "up" if rng.random() < 0.7 else "down", "created_at": started})  # fmt: skip
    with db.session() as session:
        for table, rows in ((Conversation, rows_c), (Message, rows_m), (Feedback, rows_f)):
            for start in range(0, len(rows), 5000):
                session.execute(insert(table), rows[start : start + 5000])
        session.commit()
    return message_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument(
        "--thresholds", default="auto,0.8,0.85,0.9,0.93", help="cosine thresholds for grouping"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        started = time.perf_counter()
        messages = fill(db, args.conversations, args.days)
        print(f"store: {args.conversations} conversations, {messages} messages over {args.days} days "
              f"(filled in {time.perf_counter() - started:.1f} s)")  # fmt: skip
        started = time.perf_counter()
        whole = Analytics(db).report(days=args.days)
        elapsed = time.perf_counter() - started
        tracemalloc.start()  # again, for the peak of Python allocations (tracemalloc slows it down)
        Analytics(db).report(days=args.days)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"report over all {args.days} days ({whole.totals.conversations} conversations, exact-wording groups): "
              f"{elapsed:.2f} s, peak Python allocations {peak:.0f} MB")  # fmt: skip
        embedders: list[tuple[str, object | None]] = [("no grouping model (exact wording)", None),
                                                      ("hashing embedder", HashingEmbedder(dimension=512))]  # fmt: skip
        try:
            from assistant.factory import build_embedder
            from assistant.settings import load_settings

            e5 = build_embedder(load_settings(), use_fine_tuned=False)
            e5.warm_up()
            embedders.append(("multilingual-e5-small", e5))
        except Exception as exc:  # not prepared on this machine
            print(f"(e5 not measured: {type(exc).__name__}: {exc})")
        print(
            "| grouping by | threshold | report, last 30 days: first / refresh, s | unanswered | groups | largest | 6 known questions: groups, purity |"
        )
        print("|---|---|---|---|---|---|---|")
        for name, embedder in embedders:
            for threshold in (
                [None if t == "auto" else float(t) for t in args.thresholds.split(",")] if embedder else [0.0]
            ):
                analytics = Analytics(db, embedder, group_threshold=threshold)  # type: ignore[arg-type]
                started = time.perf_counter()
                report = analytics.report(days=30)
                elapsed = time.perf_counter() - started
                started = time.perf_counter()
                analytics.report(days=30)  # a refresh: the questions' embeddings are cached
                again = time.perf_counter() - started
                unanswered = sum(g.count for g in report.questions)
                print(f"| {name} | {'auto' if threshold is None else threshold or '–'} | {elapsed:.2f} / {again:.2f} | {unanswered} | {len(report.questions)} | "
                            f"{report.questions[0].count if report.questions else 0} | "
                      + ("{} groups, {:.3f}".format(*purity(embedder, threshold)) if embedder else "–") + " |")  # fmt: skip


def purity(embedder, threshold: float | None, n: int = 2000, seed: int = 1) -> tuple[int, float]:
    """Group `n` declined questions (6 questions in 6 wordings each) as the report does: how many groups,
    and the share of questions in a group whose most common question is their own (1.0: no group mixes
    two questions; 6 groups would be ideal)."""
    from assistant.backends.clustering import group_by_meaning

    rng = random.Random(seed)
    truth = [rng.randrange(len(QUESTIONS)) for _ in range(n)]
    texts = [rng.choice(WORDINGS).format(q=QUESTIONS[t]) for t in truth]
    groups = group_by_meaning(embedder.embed_queries(texts), threshold=threshold)
    right = sum(max(Counter(truth[i] for i in g).values()) for g in groups)
    return len(groups), right / n


if __name__ == "__main__":
    main()
