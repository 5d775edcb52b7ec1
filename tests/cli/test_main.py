"""``main``: a StreamInferError, or a Kafka error no command expected, is one line, exit 2."""

from __future__ import annotations

import sys

import pytest
from kafka.errors import KafkaTimeoutError

from streaminfer.cli import commands as cli_main
from streaminfer.errors import BrokerError


@pytest.mark.parametrize("error", [BrokerError("topic t is missing"),
                                   KafkaTimeoutError("metadata")])
def test_a_failure_is_one_line_on_stderr(
    error: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail() -> None:
        raise error

    monkeypatch.setattr(cli_main, "app", fail)
    monkeypatch.setattr(sys, "argv", ["streaminfer", "produce"])
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main()
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
