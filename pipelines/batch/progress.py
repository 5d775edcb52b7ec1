"""The command's progress bar (rows, rows/s, ETA) on rich, fed unit by unit."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RowsProgress:
    """A rich progress bar over the job's rows (an open bar when the total is unknown:
    CSV and JSONL inputs are not counted before they are read)."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("[bold]scoring"), BarColumn(), MofNCompleteColumn(),
            TextColumn("rows"), TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=False,
        )
        self._task: TaskID | None = None
        self._done_before = 0
        self._rows = 0

    def start(self, total_rows: int | None, done_rows: int) -> None:
        self._bar.start()
        self._done_before = done_rows
        self._task = self._bar.add_task("rows", total=total_rows, completed=done_rows,
                                        rate="")

    def advance(self, rows: int) -> None:
        assert self._task is not None
        self._rows += rows
        elapsed = self._bar.tasks[0].elapsed or 0.0
        rate = f"{self._rows / elapsed:,.0f} rows/s" if elapsed > 0 else ""
        self._bar.update(self._task, advance=rows, rate=rate)

    def stop(self) -> None:
        self._bar.stop()
