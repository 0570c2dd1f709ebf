"""The command line: options checked before anything starts, and its help."""

from __future__ import annotations

import pytest

from segue.serve.cli import (
    KEEP_ALIVE_S,
    WORKER_TIMEOUT_S,
    build_parser,
    main,
    settings_from_args,
    uvicorn_options,
)


def test_bad_arguments_fail_before_starting(tmp_path, capsys, monkeypatch):
    assert main([str(tmp_path / "missing.pt")]) == 2
    assert "model: nothing at" in capsys.readouterr().err
    model = tmp_path / "m.pt"
    model.write_bytes(b"")
    assert main([str(model), "--api-key-file", str(tmp_path / "nope")]) == 2
    assert "--api-key-file: no file" in capsys.readouterr().err
    monkeypatch.setenv("SEGUE_API_KEY", "short")
    assert main([str(model)]) == 2
    assert "at least 16" in capsys.readouterr().err
    monkeypatch.delenv("SEGUE_API_KEY")
    assert main([str(model), "--max-queue", "0"]) == 2
    assert "max_queue must be > 0" in capsys.readouterr().err
    assert main([str(model), "--workers", "2", "--worker-timeout-s", "0"]) == 2
    assert "--worker-timeout-s must be > 0, got 0" in capsys.readouterr().err


def test_uvicorn_accepts_the_options_and_waits_long_enough_for_a_worker(tmp_path):
    uvicorn = pytest.importorskip("uvicorn")
    model = tmp_path / "m.pt"
    model.write_bytes(b"")
    options = uvicorn_options(build_parser().parse_args([str(model), "--workers", "2"]))
    config = uvicorn.Config("segue.serve.app:app_from_env", **options)
    # uvicorn's 5 s let a rolling restart give up on a worker still loading its model.
    assert config.timeout_worker_healthcheck == WORKER_TIMEOUT_S >= 30
    assert config.workers == 2 and config.timeout_keep_alive == KEEP_ALIVE_S
    args = build_parser().parse_args([str(model), "--worker-timeout-s", "90"])
    assert uvicorn.Config("x:y", **uvicorn_options(args)).timeout_worker_healthcheck == 90


def test_options_become_settings(tmp_path):
    model = tmp_path / "m.pt"
    model.write_bytes(b"")
    args = build_parser().parse_args(
        [str(model), "--workers", "3", "--redis-url", "redis://127.0.0.1:1/0", "--max-batch", "8"]
    )
    settings = settings_from_args(args)
    assert settings.supervised and settings.max_batch == 8 and settings.model == str(model)
    assert settings.redis_url == "redis://127.0.0.1:1/0" and settings.read_auth == "open"
    assert settings.int8_screen is None  # auto: by catalogue size
    assert settings.deadline_headroom == 0.1  # the settings' default
    assert settings.access_log  # on unless --no-access-log (which once was parsed and ignored)
    assert not settings_from_args(
        build_parser().parse_args([str(model), "--no-access-log"])
    ).access_log
    args = build_parser().parse_args(
        [str(model), "--deadline-headroom", "0.25", "--switch-interval-ms", "2"]
    )
    assert settings_from_args(args).deadline_headroom == 0.25
    assert settings_from_args(args).switch_interval_ms == 2.0 and settings.switch_interval_ms == 0.5
    for flag, value in (("on", True), ("off", False), ("auto", None)):
        args = build_parser().parse_args([str(model), "--int8-screen", flag])
        assert settings_from_args(args).int8_screen is value


def test_help_lists_the_main_options(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for option in (
        "--host",
        "--port",
        "--workers",
        "--worker-timeout-s",
        "--api-key-file",
        "--redis-url",
        "--deadline-ms",
        "--max-queue",
    ):
        assert option in text
