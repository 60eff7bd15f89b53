"""The shop's analytics, A/B tests and operators' metrics, on the fakes-built assistant of the demo shop:
figures counted from real conversations through `ShopperChat` and `AgentDesk`, the arms' comparison
with its intervals, the candidate arm built from a real training run folder, and /metrics."""

from __future__ import annotations

import csv
import io
import math
import shutil
from pathlib import Path

import pytest
from assistant_fixtures import train_head
from fastapi.testclient import TestClient
from web_fixtures import fake_assistant, web_settings

from assistant.analytics import DAY_COLUMNS, Analytics, Figures
from assistant.chat_service import AgentDesk, ShopperChat
from assistant.errors import ConfigError
from assistant.experiments import CANDIDATE, CONTROL, Experiment, compare_arms, newcombe, wilson
from assistant.factory import build_experiment
from assistant.settings import load_settings
from assistant.store.models import utcnow

MARS = "What is the weather on Mars tomorrow?"


@pytest.fixture
def assistant(tmp_path: Path):
    return fake_assistant(tmp_path)


def talk(chat: ShopperChat, *messages: str, language: str = "en") -> str:
    session = chat.start(language=language)  # type: ignore[arg-type]
    for message in messages:
        chat.send(session.conversation_id, session.token, message)
    return session.conversation_id


def test_the_figures_count_what_happened(assistant) -> None:
    chat, desk = ShopperChat(assistant), AgentDesk(assistant)
    contained = chat.start()
    chat.send(contained.conversation_id, contained.token, "How long does shipping to Canada take?")
    reply = chat.history(contained.conversation_id, contained.token)[-1]
    chat.rate(contained.conversation_id, contained.token, message_id=reply.id, is_helpful=True)
    handed = talk(chat, "Can I return shoes I have worn once?")
    desk.take_over(handed, "alice")
    suggestion = desk.suggestions(handed, k=2)
    desk.send(handed, "alice", suggestion[0].text, suggestion=suggestion[0], rank=1)
    desk.send(handed, "alice", suggestion[0].text + " Anything else?", suggestion=suggestion[0], rank=1)
    desk.reject(handed, "alice", suggestion[-1], reason="off topic", rank=2)
    talk(chat, "寄到加拿大要多久？", language="zh")
    talk(chat, MARS)
    talk(chat, MARS.lower() + "?")
    talk(chat, '=HYPERLINK("http://x") what is this')
    chat.start()  # opened, never written in: counted as a conversation, not in containment

    report = Analytics(assistant.conversations.db, assistant.embedder).report(days=7)
    t = report.totals
    assert t.conversations == 7 and t.turns == 6
    assert (t.contained, t.handed_off) == (5, 1) and math.isclose(t.containment or 0, 5 / 6)
    assert (t.thumbs_up, t.thumbs_down, t.satisfaction) == (1, 0, 1.0)
    assert (t.suggestions_accepted, t.suggestions_edited, t.suggestions_rejected, t.replies_written) == (
        1,
        1,
        1,
        0,
    )
    assert t.acceptance_rate == 1.0
    assert t.percentile(50) is not None and 0 < t.percentile(50) <= t.percentile(95)
    assert report.handoff_reasons == {"an agent took over": 1}
    assert report.intents["out_of_scope"] == 2 and sum(report.intents.values()) == 6
    today = utcnow().date().isoformat()
    assert {k for k in report.days} == {(today, "en"), (today, "zh"), (today, "all")}
    assert report.days[(today, "zh")].conversations == 1 and report.days[(today, "all")].conversations == 7

    groups = report.questions
    mars = next(g for g in groups if g.question.lower().startswith("what is the weather on mars"))
    assert mars.count == 2 and mars.reasons == {"out of scope": 2} and groups[0] is mars  # largest first
    assert len(set(mars.conversation_ids)) == 2

    rows = list(csv.DictReader(io.StringIO(report.days_csv())))
    assert tuple(rows[0]) == DAY_COLUMNS and len(rows) == 3
    everything = next(r for r in rows if r["language"] == "all")
    assert everything["conversations"] == "7" and float(everything["containment"]) == pytest.approx(
        5 / 6, abs=1e-4
    )
    questions = list(csv.reader(io.StringIO(report.questions_csv())))
    assert any(cell.startswith("'=HYPERLINK") for row in questions for cell in row)  # never a live formula
    assert not any(cell.startswith("=") for row in questions for cell in row)

    only_zh = Analytics(assistant.conversations.db).report(days=7, language="zh")
    assert only_zh.totals.conversations == 1 and only_zh.totals.contained == 1
    as_json = report.as_dict()
    assert as_json["totals"]["containment"] == pytest.approx(5 / 6, abs=1e-4)
    assert as_json["questions_not_answered"][0]["count"] == 2


def test_a_hand_off_by_the_bot_counts_with_its_rule_and_eval_conversations_do_not(assistant) -> None:
    chat = ShopperChat(assistant)
    session = chat.start()
    chat.send(session.conversation_id, session.token, "Can I return shoes I have worn once?")
    chat.request_human(session.conversation_id, session.token)
    assistant.conversations.create("c_eval_1", owner_hash=None, channel="eval")
    assistant.respond("c_eval_1", "How long does shipping to Canada take?")
    report = Analytics(assistant.conversations.db).report(days=1)
    assert report.totals.conversations == 1 and report.totals.handed_off == 1
    assert report.handoff_reasons == {"shopper pressed talk to a human": 1}
    with pytest.raises(ValueError):
        Analytics(assistant.conversations.db).report(days=0)


def test_wilson_and_newcombe_intervals_match_the_published_examples() -> None:
    low, high = wilson(81, 263)  # Newcombe (1998), table I: 0.2553 to 0.3662
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    low, high = newcombe(
        48, 80, 56, 70
    )  # Newcombe (1998), table II example: 56/70 − 48/80 → 0.0524 to 0.3339
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    assert wilson(0, 0) == (0.0, 1.0)


def _arm(conversations: int, contained: int, up: int, down: int, reply_ms: float) -> Figures:
    return Figures(conversations=conversations, turns=conversations * 2, contained=contained,
                   handed_off=conversations - contained, thumbs_up=up, thumbs_down=down,
                   reply_ms=[reply_ms + i % 7 for i in range(conversations)])  # fmt: skip


def test_compare_arms_reads_the_intervals() -> None:
    arms = {"old/control": _arm(10, 5, 1, 1, 100), "t/control": _arm(400, 240, 60, 40, 300),
            "t/candidate": _arm(400, 320, 80, 20, 200)}  # fmt: skip
    comparison = compare_arms(arms)
    assert comparison is not None and comparison.experiment == "t"  # the one with both arms
    verdicts = {r.name: r.verdict for r in comparison.rates}
    assert verdicts["containment"] == "candidate better" and verdicts["hand-off rate"] == "candidate better"
    assert verdicts["satisfaction (👍 of rated)"] == "candidate better"
    assert (
        comparison.reply_ms is not None
        and comparison.reply_ms[0] == pytest.approx(-100)
        and comparison.reply_ms[2] < 0
    )
    assert not comparison.is_too_early and not comparison.is_worse
    assert "95% CI" in comparison.summary() and "| containment |" in comparison.markdown()

    worse = compare_arms(
        {"t/control": _arm(400, 320, 80, 20, 200), "t/candidate": _arm(400, 240, 60, 40, 200)}
    )
    assert worse is not None and worse.is_worse
    early = compare_arms({"t/control": _arm(12, 6, 1, 1, 100), "t/candidate": _arm(9, 8, 1, 0, 100)})
    assert early is not None and early.is_too_early and early.reply_ms is not None
    assert compare_arms({"t/control": _arm(10, 5, 1, 1, 100)}) is None


def test_the_arm_is_drawn_once_per_conversation_and_serves_its_turns(assistant) -> None:
    candidate = assistant.with_parts()
    served: list[tuple[str, str]] = []
    for name, which in ((CONTROL, assistant), (CANDIDATE, candidate)):
        original = which.respond_stream

        def tagged(conversation_id, message, _original=original, _name=name, **kwargs):
            served.append((conversation_id, _name))
            yield from _original(conversation_id, message, **kwargs)

        which.respond_stream = tagged
    experiment = Experiment("intent:run-b", "intent", "run-b", 0.3)
    chat = ShopperChat(assistant, experiment=(experiment, candidate))
    sessions = [chat.start() for _ in range(200)]
    arms = {
        s.conversation_id: assistant.conversations.load_state(s.conversation_id).experiment_arm
        for s in sessions
    }
    share = sum(a == "intent:run-b/candidate" for a in arms.values()) / len(arms)
    assert 0.2 < share < 0.4 and set(arms.values()) == {"intent:run-b/control", "intent:run-b/candidate"}
    for s in sessions[:12]:
        chat.send(s.conversation_id, s.token, "How long does shipping to Canada take?")
        chat.send(s.conversation_id, s.token, "And to Japan?")
    for conversation_id, arm in served:
        assert arms[conversation_id] == experiment.label(arm)  # every turn on the conversation's own arm
    assert all(
        experiment.arm_for(c) == a.rsplit("/", 1)[1] for c, a in arms.items()
    )  # the same in any worker
    report = Analytics(assistant.conversations.db).report(days=1)
    assert report.arms.keys() == {"intent:run-b/control", "intent:run-b/candidate"}
    assert sum(f.conversations for f in report.arms.values()) == 200


def test_the_candidate_arm_is_built_from_a_training_run_folder(assistant, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    head = train_head(assistant.embedder, limit=600, epochs=40)
    head.save(artifacts / "intent" / "run-b")

    def settings(*overrides: str):
        return load_settings(overrides=[f"paths.artifacts_dir={artifacts}", *overrides])

    assert build_experiment(settings(), assistant) is None
    experiment, candidate = build_experiment(
        settings("experiment.component=intent", "experiment.candidate_run=run-b", "experiment.share=0.25"),
        assistant,
    )
    assert experiment == Experiment("intent:run-b", "intent", "run-b", 0.25)
    assert candidate.understander.head is not assistant.understander.head
    assert candidate.understander.head.labels == head.labels
    assert candidate.retriever is assistant.retriever and candidate.writer is assistant.writer  # shared
    assert candidate.respond("c_probe", "How long does shipping to Canada take?").text
    with pytest.raises(ConfigError, match="no such intent run"):
        build_experiment(settings("experiment.component=intent", "experiment.candidate_run=nope"), assistant)
    with pytest.raises(ConfigError, match="candidate_run is empty"):
        build_experiment(settings("experiment.component=reranker"), assistant)
    (artifacts / "intent" / "ACTIVE").write_text("run-b\n")
    with pytest.raises(ConfigError, match="already the active"):
        build_experiment(settings("experiment.component=intent", "experiment.candidate_run=run-b"), assistant)


def test_metrics_for_operators(tmp_path: Path) -> None:
    from ui.app import create_app

    assistant = fake_assistant(tmp_path)
    closed = TestClient(create_app(web_settings(tmp_path), assistant))
    assert closed.get("/metrics").status_code == 403  # loopback only by default (the test client is not)
    client = TestClient(create_app(web_settings(tmp_path, "web.metrics_allow_ips=*"), assistant))
    created = client.post("/api/v1/conversations", json={}).json()
    headers = {"X-Session-Token": created["session_token"]}
    for message in ("How long does shipping to Canada take?", MARS):
        client.post(f"/api/v1/conversations/{created['conversation_id']}/messages", json={"message": message},
                    headers=headers)  # fmt: skip
    client.post(f"/api/v1/conversations/{created['conversation_id']}/handoff", headers=headers)
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'assistant_turns_total{action="decline_out_of_scope",language="en"}' in text
    assert 'assistant_turn_seconds_count{language="en"}' in text
    assert 'assistant_conversations_total{channel="api",language="en"} 1.0' in text
    assert 'assistant_queue_conversations{state="waiting_for_a_person"} 1.0' in text
    assert "assistant_handoffs_total" in text and "Canada" not in text  # never customer text


def test_promote_cites_the_ab_test(assistant, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dataclasses import replace

    from assistant.__main__ import main

    artifacts = tmp_path / "artifacts"
    for run, f1 in (("run-a", 0.80), ("run-b", 0.85)):
        (artifacts / "intent" / run).mkdir(parents=True)
        (artifacts / "intent" / run / "metrics.json").write_text(f'{{"dev_macro_f1": {f1}}}')
    (artifacts / "intent" / "ACTIVE").write_text("run-a\n")
    args = ["--set", f"paths.data_dir={tmp_path}", "--set", f"paths.artifacts_dir={artifacts}"]
    promote = [*args, "promote", "intent", "run-b", "--ab"]

    assert main(promote) == 1
    assert "no A/B traffic for intent:run-b" in capsys.readouterr().out

    store = assistant.conversations
    chat = ShopperChat(assistant)

    def arm(label: str, handed_off: bool) -> None:
        session = chat.start()
        store.save_state(replace(store.load_state(session.conversation_id), experiment_arm=label))
        chat.send(session.conversation_id, session.token, "How long does shipping to Canada take?")
        if handed_off:
            chat.request_human(session.conversation_id, session.token)

    for n in range(40):  # the candidate hands off far more often: clearly worse
        arm("intent:run-b/control", handed_off=n < 4)
        arm("intent:run-b/candidate", handed_off=n < 20)
    assert main(promote) == 1
    out = capsys.readouterr().out
    assert "containment: control 36/40" in out and "candidate worse" in out and "not promoted" in out
    assert (artifacts / "intent" / "ACTIVE").read_text().strip() == "run-a"
    record = (artifacts / "intent" / "run-b" / "ab.json").read_text()
    assert '"verdict": "candidate worse"' in record

    assert main([*promote, "--force"]) == 0  # an override stays possible, and is said
    assert "promoted: forced" in capsys.readouterr().out


def test_the_web_serves_both_arms_and_the_analytics_compare_them(tmp_path: Path) -> None:
    from ui.app import create_app

    assistant = fake_assistant(tmp_path)
    experiment = Experiment("reranker:r2", "reranker", "r2", 0.5)
    app = create_app(web_settings(tmp_path), assistant, experiment=(experiment, assistant.with_parts()))
    app.state.accounts.add("alice", "correct horse")
    client = TestClient(app)
    for _ in range(24):
        created = client.post("/api/v1/conversations", json={}).json()
        r = client.post(f"/api/v1/conversations/{created['conversation_id']}/messages",
                        json={"message": "How long does shipping to Canada take?"},
                        headers={"X-Session-Token": created["session_token"]})  # fmt: skip
        assert r.status_code == 200
    token = client.post(
        "/api/v1/agent/sessions", json={"username": "alice", "password": "correct horse"}
    ).json()
    report = client.get(
        "/api/v1/analytics?days=1", headers={"Authorization": f"Bearer {token['token']}"}
    ).json()
    assert set(report["arms"]) == {"reranker:r2/control", "reranker:r2/candidate"}
    assert sum(a["conversations"] for a in report["arms"].values()) == 24
    comparison = compare_arms(Analytics(assistant.conversations.db).report(days=1).arms)
    assert comparison is not None and comparison.is_too_early and "Too early" in comparison.markdown()


def test_a_candidate_retriever_searches_its_own_vectors(assistant, tmp_path: Path) -> None:
    from tiny_models import build_tiny_sentence_transformer

    from assistant.backends.vector_store import NamespacedStore
    from assistant.factory import build_candidate_retrieval
    from assistant.indexing.builder import build_index

    artifacts = tmp_path / "artifacts"
    shutil.copytree(
        build_tiny_sentence_transformer(tmp_path / "tiny"), artifacts / "retriever" / "run-r" / "encoder"
    )
    settings = load_settings(overrides=[f"paths.artifacts_dir={artifacts}", "experiment.component=retriever",
                                        "experiment.candidate_run=run-r"])  # fmt: skip
    with pytest.raises(ConfigError, match="has no index yet"):
        build_experiment(settings, assistant)
    active = {c: assistant.retriever.store.count(c) for c in ("knowledge", "products")}
    embedder, store = build_candidate_retrieval(settings, assistant.retriever.store)  # as `index` does
    build_index(assistant.shop, settings.paths.shop_dir, store, embedder, max_replies=20)
    experiment, candidate = build_experiment(settings, assistant)
    assert experiment.component == "retriever" and candidate.embedder.index_tag == "retriever:run-r"
    assert isinstance(candidate.retriever.store, NamespacedStore) and candidate.retriever.store.count(
        "knowledge"
    )
    assert {c: assistant.retriever.store.count(c) for c in ("knowledge", "products")} == active  # untouched
    assert candidate.understander is assistant.understander  # intent keeps its own encoder
    reply = candidate.respond("c_retriever_probe", "How long does shipping to Canada take?")
    assert reply.text and reply.trace.knowledge
