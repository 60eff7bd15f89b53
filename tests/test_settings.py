"""Settings precedence, coercion and the errors for unknown keys and bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.settings import Settings, load_settings, settings_to_toml, valid_keys


def test_defaults_when_nothing_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.models.device == "auto"
    assert settings.paths.models_dir == Path("data") / "models"


def test_precedence_defaults_toml_env_cli(tmp_path: Path) -> None:
    config = tmp_path / "shop.toml"
    config.write_text(
        '[models]\ndevice = "cpu"\nembedding_batch_size = 8\n[generation]\nmax_new_tokens = 50\n'
    )
    env = {"ASSISTANT_GENERATION__MAX_NEW_TOKENS": "70", "ASSISTANT_MODELS__EMBEDDING_BATCH_SIZE": "16"}
    settings = load_settings(config_file=config, environ=env, overrides=["generation.max_new_tokens=90"])
    assert settings.models.device == "cpu"  # TOML over default
    assert settings.models.embedding_batch_size == 16  # env over TOML
    assert settings.generation.max_new_tokens == 90  # CLI over env
    assert settings.generation.temperature == 0.0  # default kept


def test_config_file_from_environment_variable(tmp_path: Path) -> None:
    config = tmp_path / "a.toml"
    config.write_text('[paths]\ndata_dir = "/srv/shop"\n')
    settings = load_settings(environ={"ASSISTANT_CONFIG": str(config)})
    assert settings.paths.data_dir == Path("/srv/shop")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"overrides": ["models.devise=cpu"]}, "did you mean 'device'"),
        ({"overrides": ["modles.device=cpu"]}, "valid sections: paths, models"),
        ({"environ": {"ASSISTANT_MODELS__NOPE": "1"}}, "valid keys in [models]"),
        ({"environ": {"ASSISTANT_DEVICE": "cpu"}}, "ASSISTANT_<SECTION>__<FIELD>"),
        ({"overrides": ["models.device=gpu"]}, "valid: one of: auto, cpu, cuda"),
        ({"overrides": ["generation.max_new_tokens=many"]}, "valid integer"),
        ({"overrides": ["generation.max_new_tokens=-3"]}, "valid: a whole number from 1 to 4096"),
        ({"overrides": ["models.embedding_batch_size=0"]}, "models.embedding_batch_size='0'"),
        ({"overrides": ["retrieval.top_k=0"]}, "retrieval.top_k='0' (from --set) is not valid"),
        ({"overrides": ["web.port=70000"]}, "valid: a whole number from 1 to 65535"),
        ({"environ": {"ASSISTANT_WEB__PORT": "0"}}, "web.port='0' (from environment)"),
        ({"overrides": ["web.rate_limit_burst=0"]}, "web.rate_limit_burst"),
        ({"overrides": ["web.max_body_bytes=10"]}, "from 1024 to"),
        ({"overrides": ["generation.temperature=9"]}, "from 0.0 to 2.0"),
        ({"overrides": ["assistant.escalate_sentiment=-2"]}, "from -1.0 to 1.0"),
        ({"overrides": ["assistant.in_scope_score_set_aside=0.9"]}, "from 0.0 to 0.5"),
        ({"overrides": ["assistant.out_of_scope_recall=1.5"]}, "from 0.0 to 1.0"),
        ({"overrides": ["assistant.in_scope_score_set_aside_max=0.7"]}, "from 0.0 to 0.5"),
        ({"overrides": ["assistant.in_scope_score_set_aside_min=-0.1"]}, "from 0.0 to 0.5"),
        (
            {"overrides": ["assistant.in_scope_score_set_aside_min=0.2"]},
            "assistant.in_scope_score_set_aside_min=0.2 is larger than assistant.in_scope_score_set_aside_max",
        ),
        ({"overrides": ["assistant.supported_languages=en,fr"]}, "en, zh"),
        (
            {"overrides": ["assistant.supported_languages=zh"]},
            "assistant.default_language='en' is not one of",
        ),
        ({"overrides": ["retrieval.top_k=40"]}, "top_k must be at most candidates"),
        ({"overrides": ["verification.max_failures_per_order=0"]}, "verification.max_failures_per_order"),
        ({"overrides": ["web.allowed_origins=shop.example.com"]}, "not an origin"),
        ({"overrides": ["web.frame_ancestors=*"]}, "web.frame_ancestors"),
        ({"overrides": ["web.public_url=help.example.com"]}, "http(s) URL"),
        ({"overrides": ["store.database_url=/tmp/x.db"]}, "SQLAlchemy"),
        ({"overrides": ["paths.data_dir="]}, "paths.data_dir"),
        ({"overrides": ["web.agent_accounts=alice:plain-password"]}, "agents hash-password"),
        ({"overrides": ["models.generator= "]}, "models.generator"),
        (
            {"overrides": ["models.generator_endpoint=localhost:8000"]},
            "base URL, such as http://127.0.0.1:8000/v1",
        ),
        ({"overrides": ["models.generator_api_key_env=MY-KEY"]}, "models.generator_api_key_env"),
        ({"overrides": ["models.generator_timeout_s=0"]}, "models.generator_timeout_s"),
        ({"overrides": ["models.generator_max_concurrency=0"]}, "models.generator_max_concurrency"),
        ({"overrides": ["generation.mode=gpu"]}, "one of: auto, model, templates"),
        ({"overrides": ["models.intent_english_features=yes"]}, "one of: auto, on, off"),
        ({"overrides": ["no-equals-sign"]}, "section.field=value"),
    ],
)
def test_bad_settings_fail_with_the_valid_choices(kwargs: dict, expected: str) -> None:
    kwargs.setdefault("environ", {})
    with pytest.raises(ConfigError, match=None) as info:
        load_settings(**kwargs)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    "toml",
    [
        "[web]\nport = true\n",
        "[web]\nport = 8080.5\n",
        "[web]\nport = '80x'\n",
        "[retrieval]\ntop_k = -1\n",
        "[generation]\nmode = 3\n",
    ],
)
def test_bad_toml_values_name_the_key_and_the_file(tmp_path: Path, toml: str) -> None:
    config = tmp_path / "shop.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=config, environ={})
    section = toml.split("]")[0].strip("[")
    assert f"{section}." in str(info.value) and "valid" in str(info.value)


def test_typed_values_are_coerced_and_stripped() -> None:
    settings = load_settings(
        environ={"ASSISTANT_WEB__PORT": "8080", "ASSISTANT_GENERATION__TEMPERATURE": "0.5"},
        overrides=[
            "web.frame_ancestors=https://shop.example.com,  self",
            "assistant.supported_languages= zh ,en",
        ],
    )
    assert settings.web.port == 8080 and settings.generation.temperature == 0.5
    assert settings.web.frame_ancestors == "https://shop.example.com self"
    assert settings.assistant.languages == ("zh", "en")


def test_valid_ranges_are_listed_for_every_number() -> None:
    from assistant.settings import valid_range

    for key in valid_keys():
        text = valid_range(key)
        assert text and "None" not in text, key
    assert valid_range("web.port") == "a whole number from 1 to 65535"


def test_unknown_key_in_toml_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[models]\nembeder = 'x'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=config, environ={})
    assert str(config) in str(info.value)
    assert "embedder" in str(info.value)


@pytest.mark.parametrize("content", [b"[models\ndevice=", b"\xff\xfe\x00binary", b"device = 'cpu'\n"])
def test_malformed_toml_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    config = tmp_path / "broken.toml"
    config.write_bytes(content)
    with pytest.raises(ConfigError):
        load_settings(config_file=config, environ={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(config_file=tmp_path / "absent.toml", environ={})


def test_toml_round_trip(tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides=["models.device=cpu", "paths.data_dir=/x/y"])
    written = tmp_path / "resolved.toml"
    written.write_text(settings_to_toml(settings))
    assert load_settings(config_file=written, environ={}) == settings


def test_every_key_is_listed() -> None:
    assert "models.embedder" in valid_keys()
    assert "paths.data_dir" in valid_keys()


def test_generation_mode_auto_follows_what_is_present(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant import factory

    assert Settings().generation.mode == "auto"
    cpu = load_settings(environ={}, overrides=["models.device=cpu"])
    assert factory.generation_mode(cpu) == "templates" and factory.agent_candidates(cpu) == 1
    served = load_settings(environ={}, overrides=["models.device=cpu",
                                                  "models.generator_endpoint=http://127.0.0.1:8000/v1/"])  # fmt: skip
    assert served.models.generator_endpoint == "http://127.0.0.1:8000/v1"
    assert factory.generation_mode(served) == "model" and factory.agent_candidates(served) == 4
    monkeypatch.setattr("assistant.backends.device.resolve_device", lambda setting: "cuda")
    assert factory.generation_mode(load_settings(environ={})) == "model"
    forced = load_settings(environ={}, overrides=["generation.mode=templates"])
    assert factory.generation_mode(forced) == "templates" and factory.agent_candidates(forced) == 1


def test_the_endpoint_backend_reads_its_key_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.backends.endpoint_generation import OpenAIEndpointTextGenerator
    from assistant.factory import build_generator

    settings = load_settings(environ={}, overrides=["models.generator_endpoint=http://127.0.0.1:8000/v1",
                                                    "models.generator_api_key_env=SHOP_LLM_KEY",
                                                    "models.generator_timeout_s=4", "models.generator_retries=0"])  # fmt: skip
    monkeypatch.setenv("SHOP_LLM_KEY", "k-123")
    generator = build_generator(settings)
    assert isinstance(generator, OpenAIEndpointTextGenerator)
    assert (
        generator.base_url == "http://127.0.0.1:8000/v1"
        and generator.timeout_s == 4
        and generator.retries == 0
    )
    assert generator._api_key == "k-123"
    assert "k-123" not in settings_to_toml(settings)  # the key never lands in a settings file


def test_the_generator_key_variable_is_not_read_as_a_setting() -> None:
    """The default `models.generator_api_key_env` lies under the settings' prefix; it holds a secret, not a
    setting, so setting it must not stop the settings from loading (a typo of a setting still does)."""
    settings = load_settings(
        environ={"ASSISTANT_GENERATOR_API_KEY": "sk-test", "ASSISTANT_WEB__WORKERS": "2"}
    )
    assert settings.web.workers == 2
    with pytest.raises(ConfigError, match="ASSISTANT_<SECTION>__<FIELD>"):
        load_settings(environ={"ASSISTANT_WEB_PORT": "8080"})
