"""The live view written to a log (not a terminal) ends its last line, so the next message
starts on a line of its own."""

import io

from rich.console import Console, Group
from rich.text import Text

from streaminfer.pipelines.online.live_view import live_display


def test_a_log_gets_the_last_view_line_terminated() -> None:
    console = Console(file=io.StringIO(), width=80)
    with live_display(console) as live:
        live.update(Group(Text("table"), Text("input shifted")), refresh=True)
    console.print("stopping")
    assert console.file.getvalue().endswith("input shifted\nstopping\n")  # type: ignore[attr-defined]
