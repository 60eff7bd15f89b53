"""The command line: help, settings, status and clear errors (no ML library loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.__main__ import build_parser, main


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("models", "generate", "settings"):
        assert command in out


def test_models_help_lists_actions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["models", "--help"])
    out = capsys.readouterr().out
    for action in ("prepare", "status", "verify", "check"):
        assert action in out


def test_settings_show_applies_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--set", "models.device=cpu", "settings", "show"]) == 0
    assert 'device = "cpu"' in capsys.readouterr().out


def test_bad_setting_is_a_message_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--set", "models.device=tpu", "settings", "show"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "Traceback" not in err


def test_status_reports_unprepared_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--set", f"paths.data_dir={tmp_path}", "models", "status"])
    out = capsys.readouterr().out
    assert code == 1
    assert "embedder" in out
    assert "run: python -m assistant models prepare" in out


def test_status_says_where_replies_come_from(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    main(["--set", f"paths.data_dir={tmp_path}", "--set", "models.device=cpu", "models", "status"])
    assert "templates: grounded templates (no language model)" in capsys.readouterr().out
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    main(["--set", f"paths.data_dir={tmp_path}", "--set", f"models.generator_endpoint=http://127.0.0.1:{port}/v1",
          "--set", "models.generator_retries=0", "models", "status"])  # fmt: skip
    out = capsys.readouterr().out
    assert f"model: endpoint http://127.0.0.1:{port}/v1 is down" in out and "Connection refused" in out


def test_generate_refuses_an_empty_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--set", f"paths.data_dir={tmp_path}", "generate", "   "]) == 2
    assert "empty" in capsys.readouterr().err


def test_generate_without_prepared_model_says_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolated = [
        "--set",
        f"paths.data_dir={tmp_path}",
        "--set",
        f"paths.artifacts_dir={tmp_path / 'artifacts'}",
    ]
    assert main([*isolated, "generate", "hi"]) == 2  # (a promoted generator run would be used otherwise)
    assert "models prepare" in capsys.readouterr().err


def test_parser_rejects_unknown_role() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["models", "prepare", "--role", "reranker-x"])
