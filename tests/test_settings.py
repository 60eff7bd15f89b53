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
        ({"overrides": ["models.device=gpu"]}, "choose one of: auto, cpu, cuda"),
        ({"overrides": ["generation.max_new_tokens=many"]}, "must be int"),
        ({"overrides": ["generation.max_new_tokens=-3"]}, "must not be negative"),
        ({"overrides": ["no-equals-sign"]}, "section.field=value"),
    ],
)
def test_bad_settings_fail_with_the_valid_choices(kwargs: dict, expected: str) -> None:
    kwargs.setdefault("environ", {})
    with pytest.raises(ConfigError, match=None) as info:
        load_settings(**kwargs)
    assert expected in str(info.value)


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
