"""``streaminfer batch``: bad input is one line on stderr and exit 2, before Ray starts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from streaminfer.cli import commands


def _run(argv: list[str], monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    monkeypatch.setattr(sys, "argv", ["streaminfer", "batch", *argv])
    with pytest.raises(SystemExit) as exit_info:
        commands.main()
    code = exit_info.value.code
    return int(code) if code is not None else 0, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(("extra", "words"), [
    (["--input", "missing/*.parquet"], "matches no data file"),
    (["--input", "missing.parquet"], "does not exist"),
    (["--input", "kafka:events?start=soon"], "expected earliest, latest"),
    (["--input", "x.parquet", "--output-format", "xml"], "use parquet or jsonl"),
])
def test_bad_options_are_one_line(
    extra: list[str], words: str, write_pipeline: Callable[..., Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_pipeline()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    code, lines = _run([str(config), "--out", str(tmp_path / "out"), *extra],
                       monkeypatch, capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines


@pytest.mark.parametrize(("out", "words"), [
    (["--output", "a"], "matches no data file"),  # the old name still works
    (["-o", "a"], "matches no data file"),
    (["--out", "a", "--output", "b"], "--output is the old name of --out: give --out only"),
    ([], "give --out: a folder for the part files, or kafka:TOPIC"),
])
def test_out_and_its_old_name(
    out: list[str], words: str, write_pipeline: Callable[..., Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_pipeline()
    monkeypatch.chdir(tmp_path)
    code, lines = _run([str(config), "--input", "missing/*.parquet", *out], monkeypatch, capsys)
    assert code == 2
    assert len(lines) == 1 and words in lines[0], lines


def test_the_progress_bar_shows_rows_rate_and_eta() -> None:
    import io

    from rich.console import Console

    from streaminfer.pipelines.batch.progress import RowsProgress

    sink = io.StringIO()
    bar = RowsProgress(Console(file=sink, force_terminal=True, width=160))
    bar.start(total_rows=1_000, done_rows=200)  # resumed: 200 rows were done before
    bar.advance(300)
    bar.stop()
    shown = sink.getvalue()
    assert "500/1000" in shown and "rows/s" in shown and "ETA" in shown, shown
