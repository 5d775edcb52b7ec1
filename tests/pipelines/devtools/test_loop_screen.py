"""The loop demo's screen as a terminal shows it (pure rendering, a fixed console): it fits
40 rows however long the loop's story grows, each title once, the latest steps kept."""

from __future__ import annotations

from rich.console import Console, Group
from rich.text import Text

from streaminfer.pipelines.devtools.loop_story import LoopStory
from streaminfer.pipelines.devtools.loop_view import loop_panels
from streaminfer.pipelines.online.drift_watch import DriftState
from streaminfer.pipelines.online.live_view import drift_table, live_table, rows_of, stats_table
from streaminfer.pipelines.runtime.stats import PipelineStats
from streaminfer.pipelines.runtime.worker_metrics import WorkerStats

START = 1_764_000_000_000


def long_story(loops: int) -> LoopStory:
    """``loops`` rounds of retrain, candidate, shadow, promote, swap: 5 steps each."""
    story = LoopStory(started_ms=START)
    actions = []
    for n in range(loops):
        at = 30_000 + n * 60_000
        version = str(n + 2)
        actions += [{"kind": kind, "version": version, "ts": START + at + i * 1000,
                     "message": f"{kind} of v{version}: a message long enough to be cut at "
                                "eighty columns rather than wrapped onto a second row"}
                    for i, kind in enumerate(("retrain", "candidate", "shadow", "promote",
                                              "swap"))]
    story.update(1.0, shifted=True, serving="1", live={"1": 0.95}, actions=actions)
    return story


def screen(console: Console, story: LoopStory) -> Group:
    """What the demo draws with the loop (demo._view's composition)."""
    head = live_table("streaminfer demo: breast-cancer scoring (read back from the output "
                      "topics)")
    for column in ("produced", "predictions", "dead letters", "events/s"):
        head.add_column(column)
    head.add_row("120,000", "118,800", "1,200", "2,000")
    stats = PipelineStats([WorkerStats(f"demo-worker-{i}", 100 + i, events_in=60_000,
                                       predictions=59_400, recent_latency_ms=[40, 70, 90])
                           for i in range(2)], 2)
    workers = stats_table("workers (their own counts: acknowledged by the broker)", stats,
                          2000.0)
    drift = drift_table([DriftState("bc", "1", rows=0, psi={"mean_texture": 6.94}),
                         DriftState("bc", "2", rows=4000, psi={"mean_texture": 0.31},
                                    alerts=1, drifted=["mean_texture"])],
                        serving={"bc": "2"})
    above = Group(head, workers, drift, Text("input shifted from event 30,000: mean_texture"))
    live = {"1": {"accuracy": 0.81, "examples": 2000}, "2": {"accuracy": 0.98, "examples": 900}}
    return Group(above, loop_panels(story, "bc", "2", live, {"2": "champion, serving"},
                                    fit=(console, console.height - 1 - rows_of(console, above))))


def test_the_loop_screen_fits_40_rows_with_each_title_once() -> None:
    for width in (80, 120):
        console = Console(width=width, height=40, record=True, color_system=None)
        story = long_story(6)  # the shift, then 30 steps
        console.print(screen(console, story))
        lines = console.export_text().rstrip("\n").splitlines()
        assert len(lines) <= 39, (width, len(lines))
        text = "\n".join(lines)
        for title in ("streaminfer demo", "workers (their own counts", "drift (PSI",
                      "live accuracy per version", "the loop"):
            assert text.count(title) == 1, (title, text)
        assert "swap of v7" in text  # the latest step is there
        assert text.count("p50") == 1 and "e2e p50 ms" in text  # one latency, named
        assert "of 31 steps)" in text  # and the title says some are left out
        assert "+5:34.0" in text and "swap" in text.split("+5:34.0")[1]


def test_a_short_story_shows_every_step() -> None:
    console = Console(width=100, height=40, record=True, color_system=None)
    console.print(screen(console, long_story(1)))
    text = console.export_text()
    assert "retrain of v2" in text and "swap of v2" in text and "of 5 steps" not in text


def test_a_retired_version_s_empty_window_shows_no_psi() -> None:
    """After a swap v1's window empties: no row for it (it no longer serves), and never the
    PSI of a window that held its events long ago."""
    console = Console(width=120, record=True, color_system=None)
    states = [DriftState("bc", "1", rows=0, psi={"mean_texture": 6.94}),
              DriftState("bc", "2", rows=4000, psi={"mean_texture": 0.31})]
    console.print(drift_table(states, serving={"bc": "2"}))
    text = console.export_text()
    assert "6.94" not in text and "0.31" in text
    console = Console(width=120, record=True, color_system=None)
    states[0] = DriftState("bc", "1", rows=150, psi={"mean_texture": 1.5})
    console.print(drift_table(states, serving={"bc": "2"}))
    assert "1 (not serving)" in console.export_text()  # its window still holds events
    console = Console(width=120, record=True, color_system=None)
    console.print(drift_table([DriftState("bc", "1", rows=0, psi={"mean_texture": 6.94})]))
    assert "6.94" not in console.export_text()  # an empty window: no PSI to show
