"""The stall watch: pure logic over (time, events read, lag) samples."""

from streaminfer.pipelines.online.stall import Stall, StallWatch, stall_message


def feed(watch: StallWatch, samples: list[tuple[float, int, int]]) -> list[Stall | None]:
    return [watch.update(t, events_in, lag) for t, events_in, lag in samples]


def test_reading_nothing_while_events_wait_is_a_stall_after_the_window():
    watch = StallWatch(after_s=30)
    seen = feed(watch, [(float(t), 500, 200 + t) for t in range(0, 41, 10)])
    assert seen[:3] == [None, None, None]
    assert seen[3] == Stall(seconds=30.0, read=0, waiting=230)
    assert seen[4] == Stall(seconds=30.0, read=0, waiting=240)  # the window slides


def test_a_trickle_far_below_what_waits_is_a_stall_too():
    watch = StallWatch(after_s=30, min_share=0.01)
    # 110 events in 30 s while ~25,000 wait: the embedded broker's frozen partition
    assert feed(watch, [(0.0, 0, 25_000), (30.0, 110, 24_900)])[1] == Stall(30.0, 110, 24_900)


def test_a_pipeline_that_reads_fast_but_falls_behind_is_not_stalled():
    watch = StallWatch(after_s=30)
    samples = [(float(t), t * 5_000, 100_000 + t * 1_000) for t in range(0, 61, 10)]
    assert feed(watch, samples) == [None] * len(samples)


def test_idle_is_not_a_stall_and_the_window_starts_when_events_wait():
    watch = StallWatch(after_s=30)
    assert feed(watch, [(0.0, 7, 0), (100.0, 7, 0), (101.0, 7, 3), (125.0, 7, 3)]) == [None] * 4
    assert watch.update(131.0, 7, 3) == Stall(30.0, 0, 3)
    assert watch.update(132.0, 7, 0) is None and watch.stall is None  # read meanwhile


def test_reading_again_ends_the_stall():
    watch = StallWatch(after_s=10)
    assert feed(watch, [(0.0, 0, 50), (10.0, 0, 60)])[1] is not None
    assert watch.update(20.0, 60, 10) is None


def test_the_message_names_the_numbers_and_what_to_do():
    embedded = stall_message(Stall(31.0, 0, 12_345), embedded=True)
    assert embedded.startswith("no events read in 31s while 12,345 wait in the source topics")
    assert "Restart the pipeline" in embedded and "docker compose" in embedded
    kafka = stall_message(Stall(45.0, 7, 900), embedded=False)
    assert kafka.startswith("only 7 events read in 45s while 900 wait")
    assert "Restart" not in kafka and "docs/operations.md" in kafka
