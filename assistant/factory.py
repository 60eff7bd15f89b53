"""The one place that picks concrete backends from settings.

Stages and commands ask here for an `Embedder` or a `TextGenerator`; nothing else constructs a
backend. Construction is cheap: models load on `warm_up()` or first use.
"""

from __future__ import annotations

import logging
from typing import Any

from assistant.model_preparation import require_model
from assistant.schema import ModelRole
from assistant.settings import PACKAGED, Settings

logger = logging.getLogger(__name__)


def build_embedder(settings: Settings, role: ModelRole = ModelRole.EMBEDDER, *, use_fine_tuned: bool = True):
    """The sentence-transformers embedder for `role` (multilingual by default): the promoted retriever
    run's encoder when there is one and `use_fine_tuned`, else the prepared model."""
    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.backends.embedding_cache import model_fingerprint
    from assistant.training.registry import active_run
    from assistant.training.retriever import active_retriever_encoder

    tuned = active_retriever_encoder(settings.paths.artifacts_dir) if role == ModelRole.EMBEDDER else None
    tuned = tuned if use_fine_tuned else None
    reference = str(tuned) if tuned else require_model(role, settings.paths, settings.models)
    embedder = SentenceTransformerEmbedder(
        reference,
        device=settings.models.device,
        batch_size=settings.models.embedding_batch_size,
    )
    if tuned:  # a promoted retriever run: the index re-embeds everything for it (`python -m assistant index`)
        embedder.index_tag = f"retriever:{active_run(settings.paths.artifacts_dir, 'retriever')}"
    elif getattr(settings.models, role.value) != PACKAGED:
        # A model named in the settings (a folder or hub id) is part of the index's content hashes: after
        # `models.embedder` changes, `index` re-embeds the shop instead of keeping vectors of the old model
        # (which queries of the new one would search, wrongly or with a dimension error). The packaged
        # model keeps the empty tag, so the indexes built with it stay valid. The fingerprint (the folder's
        # files, or the hub id's cached revision) catches a model replaced under the same name.
        embedder.index_tag = f"model:{reference}@{model_fingerprint(reference)[:16]}"
    return embedder


def is_fine_tuned_retriever(embedder: object) -> bool:
    """Whether `embedder` is a fine-tuned retriever run's encoder (search only; intent heads were fit on
    the base model)."""
    return str(getattr(embedder, "index_tag", "") or "").startswith("retriever:")


def generation_mode(settings: Settings) -> str:
    """The resolved `generation.mode`: "model" or "templates". With "auto", the model writes when an
    endpoint is configured or a CUDA GPU is present; on a CPU-only machine without an endpoint the
    grounded replies are used (the in-process model takes seconds per turn there and is rarely kept)."""
    if settings.generation.mode != "auto":
        return settings.generation.mode
    if settings.models.generator_endpoint != "none":
        return "model"
    from assistant.backends.device import resolve_device
    from assistant.errors import BackendError

    try:
        return "model" if resolve_device(settings.models.device) == "cuda" else "templates"
    except BackendError:  # an unusable device setting is reported when the models load, not here
        return "templates"


def build_generator(settings: Settings):  # -> TextGenerator
    """The reply generator: the OpenAI-compatible endpoint when `models.generator_endpoint` names one, else
    the in-process transformers model (the promoted generator run's when there is one, else the prepared
    model: SmolLM2 unless settings name another)."""
    from assistant.training.generator import active_generator

    tuned = active_generator(settings.paths.artifacts_dir)
    m = settings.models
    if m.generator_endpoint != "none":
        import os

        from assistant.backends.endpoint_generation import OpenAIEndpointTextGenerator

        if tuned:
            logger.warning("generator run %s is promoted but replies come from %s: serve that folder on the "
                           "engine to use it", tuned, m.generator_endpoint)  # fmt: skip
        return OpenAIEndpointTextGenerator(
            m.generator_endpoint,
            model=m.generator_endpoint_model,
            # A secret stays out of the settings tree (runs write their settings to disk), so it is read here.
            api_key=os.environ.get(m.generator_api_key_env) or None,
            timeout_s=m.generator_timeout_s,
            connect_timeout_s=m.generator_connect_timeout_s,
            retries=m.generator_retries,
            max_concurrency=m.generator_max_concurrency,
        )
    from assistant.backends.text_generation import TransformersTextGenerator

    reference = str(tuned) if tuned else require_model(ModelRole.GENERATOR, settings.paths, settings.models)
    return TransformersTextGenerator(reference, device=settings.models.device)


def build_reranker(settings: Settings):  # -> Reranker | None
    """The promoted reranker run's cross-encoder, or None (fused retrieval order is kept)."""
    from assistant.backends.reranking import TransformersCrossEncoder
    from assistant.training.reranker import active_reranker

    folder = active_reranker(settings.paths.artifacts_dir)
    return TransformersCrossEncoder(str(folder), device=settings.models.device) if folder else None


def agent_candidates(settings: Settings) -> int:
    """Model drafts per agent suggestion request: the setting, or with 0 (auto) 4 from an endpoint or on CUDA
    and 1 on a CPU."""
    if settings.generation.agent_candidates > 0:
        return settings.generation.agent_candidates
    if generation_mode(settings) != "model":
        return 1
    if settings.models.generator_endpoint != "none":
        return 4
    from assistant.backends.device import resolve_device
    from assistant.errors import BackendError

    try:
        return 4 if resolve_device(settings.models.device) == "cuda" else 1
    except BackendError:  # an unusable device setting is reported when the models load, not here
        return 1


def database_url(settings: Settings) -> str:
    """The store's SQLAlchemy URL ("auto": SQLite in the data folder)."""
    if settings.store.database_url == "auto":
        return f"sqlite:///{(settings.paths.data_dir / 'assistant.db').resolve()}"
    return settings.store.database_url


def build_vector_store(settings: Settings):  # -> VectorStore
    """chromadb: embedded in the data folder, or a chroma server when `retrieval.chroma_host` names one."""
    from assistant.backends.vector_store import ChromaVectorStore

    if settings.retrieval.chroma_host != "embedded":
        return ChromaVectorStore(host=settings.retrieval.chroma_host, port=settings.retrieval.chroma_port)
    return ChromaVectorStore(settings.paths.index_dir)


def shop_languages(settings: Settings, languages: tuple[str, ...]) -> tuple[str, ...]:
    """The shop's languages that the settings allow (an English-only shop never answers in Chinese)."""
    return tuple(code for code in languages if code in settings.assistant.languages) or languages[:1]


def intent_english_features(settings: Settings, languages: tuple[str, ...] | None = None) -> bool:
    """Whether a new intent head reads messages with the English embedder beside the multilingual one
    (`models.intent_english_features`; "auto": when the shop speaks English only, by default the shop's
    languages that the settings allow). Beside it, a Chinese message's English-embedder half is noise to a
    head fitted mostly on English examples: on the demo shop's turns at 5 per intent Chinese accuracy fell
    from 0.71 to 0.47, so a shop that also serves other languages keeps the multilingual embedder alone."""
    setting = settings.models.intent_english_features
    if setting != "auto":
        return setting == "on"
    if languages is None:
        from assistant.shop import load_profile

        languages = shop_languages(settings, load_profile(settings.paths.shop_dir).languages)
    return tuple(languages) == ("en",)


def with_english_features(settings: Settings, embedder: Any) -> Any:
    """`embedder` with the prepared English embedder beside it (`JoinedEmbedder`)."""
    from assistant.backends.embedding import JoinedEmbedder

    return JoinedEmbedder((embedder, build_embedder(settings, ModelRole.ENGLISH_EMBEDDER)))


def build_intent_training_embedder(settings: Settings, *, languages: tuple[str, ...] | None = None) -> Any:
    """What `train intent` and `eval intents` fit a head on: the prepared embedder (never a fine-tuned
    retriever), with the English embedder beside it when `intent_english_features` says so."""
    embedder = build_embedder(settings, use_fine_tuned=False)
    joined = intent_english_features(settings, languages)
    return with_english_features(settings, embedder) if joined else embedder


def build_intent_model(settings: Settings, embedder: Any = None, *, languages: tuple[str, ...] | None = None):
    """(embedder for intent, the active intent head), as the assistant understands messages: the active run's
    fine-tuned encoder when it has one, else the prepared embedder (`embedder` when given and not a fine-tuned
    retriever); with no run trained on the shop's logs, the engine's default model (fit on first use, for
    `languages`: by default the shop's that the settings allow)."""
    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.training.default_intent import embedder_reference, ensure_default_intent_model
    from assistant.training.intent import DEFAULT_PREFIX, active_intent_encoder, load_active_intent_head
    from assistant.training.registry import active_run

    if embedder is None:
        embedder = build_embedder(settings)  # constructing it loads nothing yet
    if languages is None:
        from assistant.shop import load_profile

        languages = shop_languages(settings, load_profile(settings.paths.shop_dir).languages)
    # An intent run with a fine-tuned encoder embeds messages for intent with that encoder; a head-only run
    # was fit on the prepared embedder, which a promoted retriever replaces for search only.
    intent_encoder = active_intent_encoder(settings.paths.artifacts_dir)
    if intent_encoder is not None:
        intent_embedder = SentenceTransformerEmbedder(
            str(intent_encoder),
            device=settings.models.device,
            batch_size=settings.models.embedding_batch_size,
        )
    elif is_fine_tuned_retriever(embedder):
        intent_embedder = build_embedder(settings, use_fine_tuned=False)
    else:
        intent_embedder = embedder
    # No model trained on the shop's logs yet: the engine's default (cold start).
    active = active_run(settings.paths.artifacts_dir, "intent")
    if active is None or active.startswith(DEFAULT_PREFIX):
        ensure_default_intent_model(intent_embedder, settings.paths.artifacts_dir,
                                    embedder_reference=embedder_reference(intent_embedder), languages=languages)  # fmt: skip
    intent_head = load_active_intent_head(settings.paths.artifacts_dir)
    if "english_embedder" in intent_head.features:  # the head was fit with the English embedder beside it
        intent_embedder = with_english_features(settings, intent_embedder)
    return intent_embedder, intent_head


def build_assistant(settings: Settings, *, embedder=None, generator=None, store=None):  # -> Assistant
    """The whole assistant from settings; pass backends to override (tests, benchmarks)."""
    from datetime import date

    from assistant.backends.language_detection import LangdetectIdentifier
    from assistant.backends.sentiment import LexiconSentimentScorer
    from assistant.catalog import load_shop_knowledge
    from assistant.pipeline import Assistant
    from assistant.stages.actions import ActionRunner
    from assistant.stages.generation import ReplyGenerator
    from assistant.stages.guard import Guard
    from assistant.stages.language import LanguageDetector
    from assistant.stages.policy import PolicyMaker
    from assistant.stages.recommendation import Recommender
    from assistant.stages.retrieval import Retriever
    from assistant.stages.slots import SlotExtractor, Vocabulary
    from assistant.stages.understanding import Understander
    from assistant.store.conversations import ConversationStore
    from assistant.store.database import Database, seed_store
    from assistant.store.orders import OrderRepository
    from assistant.store.verification import VerificationLedger

    a = settings.assistant
    shop = load_shop_knowledge(settings.paths.shop_dir)
    languages = shop_languages(settings, shop.languages)
    embedder = embedder or build_embedder(settings)
    if generator is None and generation_mode(settings) == "model":
        generator = build_generator(settings)
    db = Database(database_url(settings))
    seed_store(db, settings.paths.shop_dir)
    vocabulary = Vocabulary.of_shop(shop)
    intent_embedder, intent_head = build_intent_model(settings, embedder, languages=languages)
    return Assistant(
        shop=shop,
        embedder=embedder,
        guard=Guard(max_chars=a.max_message_chars),
        language=LanguageDetector(
            LangdetectIdentifier(languages),
            supported=languages,
            default=a.default_language if a.default_language in languages else languages[0],  # type: ignore[arg-type]
            min_chars=a.min_detect_chars,
        ),
        understander=Understander(
            intent_embedder,
            intent_head,
            SlotExtractor(vocabulary),
            LexiconSentimentScorer(),
            similarity_check=a.out_of_scope_by_similarity,
        ),
        policy=PolicyMaker(escalate_below=a.escalate_sentiment),
        retriever=Retriever(
            store or build_vector_store(settings),
            candidates=settings.retrieval.candidates,
            rrf_k=settings.retrieval.rrf_k,
            reranker=build_reranker(settings),
            rerank_candidates=settings.retrieval.rerank_candidates,
            # A store passed in (tests, benchmarks) was filled by its caller: its lexical index is built from it.
            lexical_dir=settings.paths.lexical_dir if store is None else None,
        ),
        recommender=Recommender(shop),
        actions=ActionRunner(
            OrderRepository(db),
            shop,
            ledger=VerificationLedger(db, settings.verification),
            today=shop.today or date.today(),
        ),
        writer=ReplyGenerator(
            shop,
            generator,
            max_new_tokens=settings.generation.max_new_tokens,
            temperature=settings.generation.temperature,
        ),
        conversations=ConversationStore(db, public_contacts=shop.public_contacts()),
        top_k=settings.retrieval.top_k,
        history_turns=a.history_turns,
        agent_candidates=agent_candidates(settings),
    )


def build_experiment(settings: Settings, assistant):  # -> tuple[Experiment, Assistant] | None
    """The A/B test of `settings.experiment`: the experiment and the candidate arm's assistant (sharing every
    stage of `assistant` but the component under test), or None when no test is configured."""
    import copy

    from assistant.errors import ConfigError
    from assistant.experiments import Experiment
    from assistant.training.registry import active_run

    e = settings.experiment
    if e.component == "none":
        return None
    if not e.candidate_run:
        raise ConfigError(f"experiment.component is {e.component!r} but experiment.candidate_run is empty: name "
                          f"a run from `python -m assistant list {e.component}`")  # fmt: skip
    folder = settings.paths.artifacts_dir / e.component / e.candidate_run
    if not folder.is_dir():
        raise ConfigError(f"experiment.candidate_run {e.candidate_run!r}: no such {e.component} run under "
                          f"{folder.parent}; see `python -m assistant list {e.component}`")  # fmt: skip
    if active_run(settings.paths.artifacts_dir, e.component) == e.candidate_run:
        raise ConfigError(f"experiment.candidate_run {e.candidate_run!r} is already the active {e.component} "
                          "run: there is nothing to compare it with")  # fmt: skip
    name = f"{e.component}:{e.candidate_run}" if e.name == "auto" else e.name
    if e.component == "retriever":
        embedder, store = build_candidate_retrieval(settings, assistant.retriever.store)
        if not any(store.count(c) for c in ("knowledge", "products")):
            raise ConfigError(f"the candidate retriever {e.candidate_run!r} has no index yet: run "
                              "`python -m assistant index` with this [experiment] setting")  # fmt: skip
        retriever = copy.copy(assistant.retriever)  # shares the loaded lexical indexes (same documents)
        retriever.store = store
        candidate = assistant.with_parts(embedder=embedder, retriever=retriever)
    elif e.component == "intent":
        from assistant.backends.embedding import SentenceTransformerEmbedder
        from assistant.stages.intent_head import IntentHead

        understander = copy.copy(assistant.understander)
        understander.head = IntentHead.load(folder)
        if (folder / "encoder").is_dir():
            understander.embedder = SentenceTransformerEmbedder(str(folder / "encoder"), device=settings.models.device,
                                                                batch_size=settings.models.embedding_batch_size)  # fmt: skip
        candidate = assistant.with_parts(understander=understander)
    elif e.component == "reranker":
        from assistant.backends.reranking import TransformersCrossEncoder

        if not (folder / "encoder").is_dir():
            raise ConfigError(f"reranker run {e.candidate_run!r} has no encoder folder (an unfinished run?)")
        retriever = copy.copy(assistant.retriever)  # shares the store and the loaded lexical indexes
        retriever.reranker = TransformersCrossEncoder(str(folder / "encoder"), device=settings.models.device)
        candidate = assistant.with_parts(retriever=retriever)
    else:  # generator
        from assistant.backends.text_generation import TransformersTextGenerator

        if not (folder / "model").is_dir():
            raise ConfigError(f"generator run {e.candidate_run!r} has no model folder (an unfinished run?)")
        writer = copy.copy(assistant.writer)
        writer.generator = TransformersTextGenerator(str(folder / "model"), device=settings.models.device)
        candidate = assistant.with_parts(writer=writer)
    logger.info("A/B test %s: the candidate serves %.0f%% of new conversations", name, e.share * 100)
    return Experiment(name, e.component, e.candidate_run, e.share), candidate


def build_candidate_retrieval(settings: Settings, store):  # -> tuple[Embedder, VectorStore]
    """The A/B candidate retriever's encoder and the collections of its own vectors in `store`."""
    from assistant.backends.embedding import SentenceTransformerEmbedder
    from assistant.backends.vector_store import NamespacedStore
    from assistant.errors import ConfigError
    from assistant.experiments import candidate_index_suffix

    run = settings.experiment.candidate_run
    encoder = settings.paths.artifacts_dir / "retriever" / run / "encoder"
    if not encoder.is_dir():
        raise ConfigError(f"retriever run {run!r} has no encoder folder (an unfinished run?)")
    embedder = SentenceTransformerEmbedder(str(encoder), device=settings.models.device,
                                           batch_size=settings.models.embedding_batch_size)  # fmt: skip
    embedder.index_tag = f"retriever:{run}"
    return embedder, NamespacedStore(store, candidate_index_suffix(run))
