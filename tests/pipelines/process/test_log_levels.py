"""The one verbosity setting: set in the driver, carried to actors, applied there."""

from __future__ import annotations

import logging
import os

import pytest

from streaminfer.pipelines.process.log_levels import (
    RAY_TOKEN_NOTE,
    VERBOSE_ENV,
    actor_options,
    is_verbose,
    set_verbose,
    setup_actor_logging,
)


@pytest.fixture(autouse=True)
def _restore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    for name in ("kafka", "ray", "filelock", "streaminfer", RAY_TOKEN_NOTE):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)


def test_quiet_by_default_and_nothing_to_carry() -> None:
    assert not is_verbose() and actor_options() == {}
    setup_actor_logging()
    assert logging.getLogger("kafka").level == logging.CRITICAL
    assert logging.getLogger("ray").level == logging.WARNING
    assert logging.getLogger("streaminfer").level == logging.WARNING  # actors: what went wrong


def test_verbose_is_carried_to_actors_and_applied_there() -> None:
    set_verbose(True)
    assert os.environ[VERBOSE_ENV] == "1" and logging.getLogger("kafka").level == logging.INFO
    options = actor_options()
    assert options == {"runtime_env": {"env_vars": {VERBOSE_ENV: "1"}}}
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # as a fresh actor process has it
    setup_actor_logging()  # in the actor, with the environment the options gave it
    assert logging.getLogger("kafka").level == logging.INFO
    assert logging.getLogger("streaminfer").level == logging.INFO
    set_verbose(False)
    assert actor_options() == {} and logging.getLogger("kafka").level == logging.CRITICAL


def test_the_cli_flag_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from streaminfer.cli.common import setup_logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # it replaces them
    monkeypatch.setattr(root, "level", root.level)
    setup_logging(True)
    assert is_verbose()
    setup_logging(False)
    assert not is_verbose() and logging.getLogger("kafka").level == logging.CRITICAL


def test_rays_token_authentication_note_only_when_verbose() -> None:
    """Ray's "Token authentication is enabled" warning, at every local start: nothing to do."""
    set_verbose(False)
    assert not logging.getLogger(RAY_TOKEN_NOTE).isEnabledFor(logging.WARNING)
    assert logging.getLogger(RAY_TOKEN_NOTE).isEnabledFor(logging.ERROR)
    set_verbose(True)
    assert logging.getLogger(RAY_TOKEN_NOTE).isEnabledFor(logging.INFO)
