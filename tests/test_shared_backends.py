"""The store, the index and the API against real servers as well as the embedded defaults.

`database` runs each store test on an SQLite file and on a PostgreSQL server; `vectors` runs each index
test on embedded chromadb and on a chroma server (`chroma run`). Both servers are started by the tests
themselves (`tests/servers.py`) on 127.0.0.1; CI installs PostgreSQL with `make services`.
What several worker processes share (rate limits, verification locks, agent sessions,
per-conversation leases) is exercised from separate processes.
"""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from assistant_fixtures import SHOP, build_test_assistant, order_with, shop, train_head
from servers import create_database
from sqlalchemy import create_engine, inspect, text

from assistant.errors import RateLimitedError

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind (a new PostgreSQL database per test on the session's server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'assistant.db'}"
    server = request.getfixturevalue("postgres_server_url")
    return create_database(server, f"test_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["embedded", "server"])
def vectors(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    from assistant.backends.vector_store import ChromaVectorStore

    if request.param == "embedded":
        yield ChromaVectorStore(tmp_path / "chroma")
        return
    host, port = request.getfixturevalue("chroma_server_address")
    store = ChromaVectorStore(host=host, port=port)
    store.warm_up()
    for collection in store._client.list_collections():  # each test starts from an empty server
        store._client.delete_collection(collection.name)
    yield store


# --- the database: migrations ---------------------------------------------------------------------------------


def test_migrations_from_empty_build_exactly_the_models(database_url: str) -> None:
    """Every migration in order, from an empty database, gives the schema the models define (alembic's
    comparison finds nothing to add, drop or alter); a new database made from the models is stamped at head."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from assistant.store.database import Database, current_revision, head_revision, migrate
    from assistant.store.models import Base

    engine = create_engine(database_url)
    assert migrate(engine, revision="0001") == "0001"
    assert "rate_buckets" not in inspect(engine).get_table_names()
    assert migrate(engine) == head_revision()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       Base.metadata)  # fmt: skip
    assert differences == []
    engine.dispose()
    db = Database(database_url)  # opening an up-to-date database changes nothing
    assert current_revision(db.engine) == head_revision()


def test_a_database_from_before_migrations_is_completed_and_upgraded(database_url: str) -> None:
    """A database an older version made with create_all (no alembic_version, a column and a table missing)
    gets the baseline's missing parts, keeps its rows, and is upgraded to head."""
    from assistant.store.database import Database, current_revision, head_revision

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE conversations (id VARCHAR(64) PRIMARY KEY, created_at TIMESTAMP, "
                                "updated_at TIMESTAMP, language VARCHAR(8), handoff BOOLEAN, state JSON, "
                                "owner_hash VARCHAR(64), channel VARCHAR(16))"))  # fmt: skip
        connection.execute(text("INSERT INTO conversations VALUES ('c_old', '2026-01-01 10:00:00', "
                                "'2026-01-01 10:00:00', 'en', false, '{}', NULL, 'web')"))  # fmt: skip
    engine.dispose()
    db = Database(database_url)
    assert current_revision(db.engine) == head_revision()
    columns = {c["name"] for c in inspect(db.engine).get_columns("conversations")}
    assert "assigned_agent" in columns
    assert {"messages", "rate_buckets", "conversation_leases"} <= set(inspect(db.engine).get_table_names())
    from assistant.store.conversations import ConversationStore

    store = ConversationStore(db)
    assert store.exists("c_old")
    store.append_message("c_old", "customer", "still here")
    assert [m.text for m in store.messages("c_old")] == ["still here"]


def test_workers_opening_a_new_database_together_migrate_it_once(database_url: str) -> None:
    """Four processes open the same empty database at once (workers starting together): one migrates, the
    others wait for it, and none fails."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        revisions = pool.map(_open_database, [database_url] * 4)
    from assistant.store.database import head_revision

    assert revisions == [head_revision()] * 4


def _open_database(url: str) -> str:
    from assistant.store.database import Database, current_revision

    return current_revision(Database(url).engine) or ""


# --- the database: what the pipeline stores -------------------------------------------------------------------


def test_conversations_feedback_and_store_records(database_url: str) -> None:
    from assistant.store.conversations import ConversationStore
    from assistant.store.database import Database, seed_store
    from assistant.store.orders import OrderRepository

    db = Database(database_url)
    assert seed_store(db, SHOP) is True
    assert seed_store(db, SHOP) is False  # the same files: not reloaded
    order = order_with("delivered")
    assert OrderRepository(db).get(order["id"], customer_id=order["customer_id"]) is not None
    store = ConversationStore(db)
    store.create("c_1", owner_hash="h" * 64, channel="api", language="zh")
    first = store.append_message("c_1", "customer", "我的订单在哪里？ my e-mail is ana@example.com")
    store.append_message("c_1", "assistant", "请提供订单号。", {"intent": "order_status"})
    from dataclasses import replace

    store.save_state(replace(store.load_state("c_1"), handoff=True, turn_count=1))
    assert store.load_state("c_1").handoff is True
    messages = store.messages("c_1")
    assert [m.role for m in messages] == ["customer", "assistant"]
    assert "ana@example.com" not in messages[0].text  # redacted before it is stored
    assert store.messages("c_1", after_id=first)[0].meta == {"intent": "order_status"}
    store.add_feedback("c_1", "thumbs", value="down", message_id=first + 1)
    assert [f.value for f in store.feedback("c_1")] == ["down"]
    assert [s.id for s in store.queue()] == ["c_1"]


def test_agent_sessions_and_verification_locks_hold_across_workers(database_url: str) -> None:
    """Two `Database` objects on one database stand for two worker processes: a token issued by one is
    accepted by the other, and failed identity checks recorded by one lock the order for the other."""
    from assistant.accounts import AgentAccounts
    from assistant.settings import VerificationSettings
    from assistant.store.database import Database
    from assistant.store.verification import VerificationLedger

    first, second = Database(database_url), Database(database_url)
    AgentAccounts(first).add("alice", "correct horse")
    token = AgentAccounts(first).sign_in("alice", "correct horse")
    assert AgentAccounts(second).identify(token) == "alice"
    AgentAccounts(second).sign_out(token)
    assert AgentAccounts(first).identify(token) is None

    limits = VerificationSettings(max_failures_per_order=3, max_failures_per_conversation=10)
    for worker in (first, second, first):
        VerificationLedger(worker, limits).record_failure(
            conversation_id="c_a", order_id="A-1001", client="10.0.0.9"
        )
    assert (
        VerificationLedger(second, limits).locked_scope(conversation_id="c_b", order_id="a-1001") == "order"
    )


def test_rate_limits_hold_across_processes(database_url: str) -> None:
    """Three processes spend from one bucket of 5 at once: exactly 5 requests pass, whichever process
    asks (the in-process limiter would let each process pass 5)."""
    from assistant.store.database import Database

    Database(database_url)  # migrated before the workers start, as `serve` does
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        passed = pool.starmap(_spend, [(database_url, 4)] * 3)
    assert sum(passed) == 5, passed


def _spend(url: str, requests: int) -> int:
    from assistant.rate_limit import SharedRateLimiter
    from assistant.store.database import Database

    limiter = SharedRateLimiter(Database(url), per_minute=1, burst=5, name="test")
    passed = 0
    for _ in range(requests):
        try:
            limiter.check("address:198.51.100.7")
            passed += 1
        except RateLimitedError:
            pass
    return passed


def test_shared_rate_limit_refills_and_stores_no_addresses(database_url: str) -> None:
    from assistant.rate_limit import SharedRateLimiter
    from assistant.store.database import Database

    db = Database(database_url)
    limiter = SharedRateLimiter(db, per_minute=600, burst=2, name="m")  # 10 a second
    limiter.check("address:203.0.113.5")
    limiter.check("address:203.0.113.5")
    with pytest.raises(RateLimitedError) as raised:
        limiter.check("address:203.0.113.5")
    assert 0 < raised.value.retry_after_s <= 0.1 + 1e-6
    time.sleep(0.15)
    limiter.check("address:203.0.113.5")  # refilled
    limiter.check("address:198.51.100.1")  # another key has its own bucket
    with db.engine.connect() as connection:
        keys = [row[0] for row in connection.execute(text("SELECT key FROM rate_buckets"))]
    assert len(keys) == 2 and not any("203.0.113" in key or "198.51" in key for key in keys)


def test_one_turn_at_a_time_per_conversation_across_processes(database_url: str) -> None:
    """A lease held by one process makes another wait, then give up with a clear message; it is free again
    when released, and a crashed holder's lease lapses."""
    from assistant.store.database import Database
    from assistant.store.leases import ConversationBusyError, ConversationLeases

    db = Database(database_url)
    context = multiprocessing.get_context("spawn")
    holding, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lease, args=(database_url, "c_busy", holding, release))
    holder.start()
    try:
        assert holding.wait(60)
        leases = ConversationLeases(db, wait_s=0.3)
        started = time.monotonic()
        with pytest.raises(ConversationBusyError, match="still being answered"), leases.hold("c_busy"):
            pass
        assert time.monotonic() - started >= 0.3
        with leases.hold("c_other"):  # other conversations are not held up
            pass
    finally:
        release.set()
        holder.join(30)
    with ConversationLeases(db, wait_s=5).hold("c_busy"):
        pass
    lapsing = ConversationLeases(db, ttl_s=0.2, wait_s=0)
    lapsing._try_acquire("c_crashed", "dead-worker")  # taken and never released
    time.sleep(0.3)
    with ConversationLeases(db, wait_s=1).hold("c_crashed"):
        pass


def _hold_lease(url: str, conversation_id: str, holding, release) -> None:
    from assistant.store.database import Database
    from assistant.store.leases import ConversationLeases

    with ConversationLeases(Database(url)).hold(conversation_id):
        holding.set()
        release.wait(30)


# --- the vector index ------------------------------------------------------------------------------------------


def test_index_build_incremental_sync_and_filtered_search(vectors, tmp_path: Path) -> None:
    """The index command's sync on each chroma back end: a first build embeds everything, a second embeds
    nothing, a changed product is re-embedded alone; filtered dense search matches the filter."""
    from dataclasses import replace

    from assistant.backends.embedding import HashingEmbedder
    from assistant.indexing.builder import build_index
    from assistant.stages.retrieval import Retriever

    embedder = HashingEmbedder(dimension=256)
    knowledge = shop()
    first = {r.collection: r for r in build_index(knowledge, SHOP, vectors, embedder, max_replies=200,
                                                  lexical_dir=tmp_path / "lexical")}  # fmt: skip
    assert first["products"].embedded == first["products"].total == 2 * len(knowledge.products) > 0
    again = build_index(knowledge, SHOP, vectors, embedder, max_replies=200, lexical_dir=tmp_path / "lexical")
    assert [r.embedded for r in again] == [0, 0, 0]
    product = next(iter(knowledge.products.values()))
    description = {**product["description"], "en": product["description"]["en"] + " Now waterproof."}
    edited = replace(
        knowledge, products={**knowledge.products, product["id"]: {**product, "description": description}}
    )
    report = build_index(edited, SHOP, vectors, embedder, max_replies=200, lexical_dir=tmp_path / "lexical")
    assert report[0].embedded == 1 and report[0].deleted == 0
    assert "waterproof" in vectors.get("products", [f"{product['id']}:en"])[0].text
    # the unchanged check is a fingerprint stored with the collection; a document removed behind the index
    # command's back changes the count, and the full comparison puts it back
    assert vectors.fingerprint("products")
    vectors.delete("products", [f"{product['id']}:zh"])
    repaired = build_index(edited, SHOP, vectors, embedder, max_replies=200, lexical_dir=tmp_path / "lexical")
    assert [r.embedded for r in repaired] == [1, 0, 0]

    retriever = Retriever(vectors, lexical_dir=tmp_path / "lexical")
    query = "a lamp for reading"
    category = product["category"][0]
    hits = retriever.search("product", query, embedder.embed_queries([query])[0], top_k=5,
                            where={"category": category})  # fmt: skip
    assert hits and all(hit.metadata["category"] == category for hit in hits)
    assert vectors.count("products") == 2 * len(knowledge.products)


def test_embedded_and_server_give_the_same_nearest_documents(tmp_path: Path, chroma_server_address) -> None:
    """The same documents in embedded chroma and in the chroma server: the same nearest ids for the same
    queries, filtered or not."""
    from assistant.backends.embedding import HashingEmbedder
    from assistant.backends.vector_store import ChromaVectorStore
    from assistant.indexing.builder import product_documents, sync_collection

    embedder = HashingEmbedder(dimension=256)
    embedded = ChromaVectorStore(tmp_path / "chroma")
    server = ChromaVectorStore(host=chroma_server_address[0], port=chroma_server_address[1])
    name = f"products_{uuid.uuid4().hex[:8]}"
    documents = product_documents(shop())
    for store in (embedded, server):
        sync_collection(store, embedder, name, documents)
    # HNSW is approximate and two graphs built apart may order near-ties differently at the tail: the head
    # of each ranking must agree exactly, the rest almost entirely.
    for query in ("warm light for a bedroom", "outdoor solar lantern", "gift under 30"):
        vector = embedder.embed_queries([query])[0]
        ours, theirs = embedded.query(name, vector, top_k=8), server.query(name, vector, top_k=8)
        assert [d.id for d in ours][:5] == [d.id for d in theirs][:5]
        assert len({d.id for d in ours} & {d.id for d in theirs}) >= 7
        where = {"category": documents[0].metadata["category"]}
        filtered = [
            {d.id for d in store.query(name, vector, top_k=5, where=where)} for store in (embedded, server)
        ]
        assert len(filtered[0] & filtered[1]) >= 4
        nearest = [[i for i, _ in store.nearest(name, vector, top_k=20)] for store in (embedded, server)]
        assert nearest[0][:5] == nearest[1][:5] and len(set(nearest[0]) & set(nearest[1])) >= 18
    assert np.isfinite(server.count(name))


# --- the API on PostgreSQL and the chroma server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server_backed_client(
    tmp_path_factory: pytest.TempPathFactory, postgres_server_url, chroma_server_address
):
    """The whole web app on PostgreSQL and the chroma server (the embedded defaults are what the other
    API tests use)."""
    from fastapi.testclient import TestClient
    from web_fixtures import web_settings

    from assistant.backends.embedding import HashingEmbedder
    from assistant.backends.language_detection import ScriptLanguageIdentifier
    from assistant.backends.sentiment import KeywordSentimentScorer
    from assistant.backends.vector_store import ChromaVectorStore
    from ui.app import create_app

    tmp = tmp_path_factory.mktemp("served")
    embedder = HashingEmbedder(dimension=512)
    store = ChromaVectorStore(host=chroma_server_address[0], port=chroma_server_address[1])
    store.warm_up()
    for collection in store._client.list_collections():
        store._client.delete_collection(collection.name)
    url = create_database(postgres_server_url, f"api_{uuid.uuid4().hex[:12]}")
    assistant = build_test_assistant(tmp, embedder=embedder, store=store, identifier=ScriptLanguageIdentifier(),
                                     head=train_head(embedder), sentiment=KeywordSentimentScorer(),
                                     database_url=url)  # fmt: skip
    settings = web_settings(tmp, "web.new_conversations_per_minute=6")
    app = create_app(settings, assistant)
    app.state.accounts.add("alice", "correct horse")
    return TestClient(app), assistant


def test_api_on_postgresql_and_the_chroma_server(server_backed_client) -> None:
    client, assistant = server_backed_client
    assert assistant.conversations.db.dialect == "postgresql"
    assert assistant.retriever.store.host is not None
    started = client.post("/api/v1/conversations", json={"language": "en"})
    assert started.status_code == 201
    cid, token = started.json()["conversation_id"], {"X-Session-Token": started.json()["session_token"]}
    answer = client.post(f"/api/v1/conversations/{cid}/messages", json={"message": "How long does shipping to Canada take?"},
                         headers=token).json()  # fmt: skip
    assert "business days" in answer["reply"]["text"] and answer["reply"]["sources"]
    order = order_with("shipped")
    postcode = order["shipping_address"]["postcode"]
    reply = client.post(f"/api/v1/conversations/{cid}/messages",
                        json={"message": f"Where is my order {order['id']}? My postcode is {postcode}"},
                        headers=token).json()["reply"]  # fmt: skip
    assert order["tracking_number"] in reply["text"]
    # the streamed variant goes through the same lease and store
    streamed = client.post(f"/api/v1/conversations/{cid}/messages?stream=true", json={"message": "thanks!"},
                           headers=token)  # fmt: skip
    assert streamed.status_code == 200 and "event: reply" in streamed.text
    history = client.get(f"/api/v1/conversations/{cid}/messages", headers=token).json()["messages"]
    assert len(history) == 6

    signed_in = client.post("/api/v1/agent/sessions", json={"username": "alice", "password": "correct horse"})
    agent = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    client.post(f"/api/v1/conversations/{cid}/handoff", headers=token)
    queue = client.get("/api/v1/agent/queue", headers=agent).json()
    assert cid in json.dumps(queue)

    # the new-conversation limit (6 a minute, burst 3) is kept in PostgreSQL
    codes = [client.post("/api/v1/conversations", json={}).status_code for _ in range(4)]
    assert codes.count(429) >= 1 and codes[0] == 201
