"""``streaminfer demo --pictures``: the essay's example live. Pictures of apples and oranges,
drawn as they are sent (``example_pictures.draw_fruit``), go through the pipeline as base64
PNGs in JSON events; the CNN names the fruit; each picture's true fruit follows on the labels
topic, so live accuracy shows; after ``shift_after`` pictures the light fades and the
prediction drifts while the accuracy falls. The books and the screen's common tables are the
tabular demo's (``demo_run.py``).
"""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import numpy as np
import orjson
from rich.console import Console, Group

from streaminfer.operators.output_roles import output_field
from streaminfer.pipelines.devtools.demo_run import (
    BROKER_MEMORY_CAP_MB,
    DemoStream,
    Event,
    books_table,
    class_table,
    event_key,
    pipeline_tables,
    print_summary,
    watch_live,
)
from streaminfer.pipelines.devtools.example_pictures import CLASSES, draw_fruit
from streaminfer.pipelines.devtools.shipped import load_demo_spec
from streaminfer.pipelines.online.live_view import RateMeter, feedback_table
from streaminfer.pipelines.spec.schema import PipelineSpec

#: Pictures a second by default: one worker decoded and scored ~680 a second on this
#: project's busy 2-core machine, the generator (drawing and encoding each picture) ~200,
#: and both share the cores with the broker (docs/decisions.md, 2026-12-06).
PICTURE_RATE = 100.0
#: The picture the light starts fading at, by default (30 s at the default rate).
PICTURE_SHIFT_AFTER = 3_000
#: How dark the pictures get after the shift (``draw_fruit``'s ``darkness``: 0-1).
DARKNESS = 0.85

#: Malformed pictures the generator slips in, one kind after the other: the dead letters'
#: reasons name each (docs/inputs.md, "Pictures").
BAD_PICTURES = (
    b'{"id": "%s", "image": "not base64 at all!"}',                           # invalid_base64
    b'{"id": "%s", "image": "' + base64.b64encode(b"plain text, no picture") + b'"}',
    b'{"id": "%s", "note": "no picture"}',                                    # missing field
)


def png(picture: np.ndarray) -> bytes:
    """A picture (uint8 ``[H, W, 3]``) as PNG bytes."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(picture, "RGB").save(out, "PNG")
    return out.getvalue()


class PictureFeed:
    """Apples and oranges drawn at random (seeded), as JSON events carrying a base64 PNG in
    ``image``; every ``bad_every``-th one malformed (a truncated PNG among them); from
    ``shift_from`` on, drawn with ``darkness``. Each good event's label is its fruit."""

    model = "apples_oranges"

    def __init__(self, *, bad_every: int, shift_from: int | None = None,
                 darkness: float = DARKNESS, seed: int = 0) -> None:
        self.bad_every, self.shift_from, self.darkness = bad_every, shift_from, darkness
        self.shift_note = f"the light fades (darkness {darkness:.0%})"
        self._rng = np.random.default_rng(seed)

    def event(self, index: int) -> Event:
        key = event_key(index)
        fruit = int(self._rng.integers(len(CLASSES)))
        dark = self.shift_from is not None and index >= self.shift_from
        picture = png(draw_fruit(self._rng, fruit, self.darkness if dark else 0.0))
        if self.bad_every and index % self.bad_every == self.bad_every - 1:
            kind = (index // self.bad_every) % (len(BAD_PICTURES) + 1)
            if kind == len(BAD_PICTURES):  # truncated_picture
                cut = base64.b64encode(picture[: len(picture) // 2]).decode()
                return Event(key, orjson.dumps({"id": key.decode(), "image": cut}), bad=True)
            return Event(key, BAD_PICTURES[kind] % key, bad=True)
        event = {"id": key.decode(), "ts": int(time.time() * 1000),
                 "image": base64.b64encode(picture).decode()}
        return Event(key, orjson.dumps(event), label=CLASSES[fruit])


class PictureRun(DemoStream):
    """The pictures demo: :class:`PictureFeed` through the pipeline, counting the fruit the
    predictions name."""

    def __init__(self, spec: PipelineSpec, *, events: int | None, rate: float = PICTURE_RATE,
                 bad_every: int = 100, shift_after: int | None = PICTURE_SHIFT_AFTER,
                 darkness: float = DARKNESS, label_delay_s: float = 5.0,
                 broker_memory_cap_mb: float | None = BROKER_MEMORY_CAP_MB) -> None:
        feed = PictureFeed(bad_every=bad_every, shift_from=shift_after or None,
                           darkness=darkness)
        label = output_field("label", spec.model_specs[0].outputs)
        super().__init__(spec, feed, events=events, rate=rate, label_delay_s=label_delay_s,
                         label_field=label, broker_memory_cap_mb=broker_memory_cap_mb)


def picture_view(run: DemoStream, meter: RateMeter) -> Group:
    """The pictures demo's screen: the books, the fruit predicted, the workers (images/s,
    end-to-end p50/p99), the drift of the prediction and the live accuracy."""
    head, rate = books_table(run, meter, "streaminfer demo --pictures: apples and oranges "
                             "(read back from the output topics)", unit="images")
    workers, drift = pipeline_tables(run, rate)
    feedback = run.pipeline.feedback()
    return Group(head, class_table(run, "what the CNN sees (its predictions)", "fruit"),
                 workers, drift,
                 feedback_table(feedback) if feedback is not None else "", run.shift_line())


def run_picture_demo(
    config_path: Path | None, *, events: int | None, rate: float = PICTURE_RATE,
    bad_every: int = 100, workers: int | None = None, console: Console | None = None,
    shift_after: int | None = PICTURE_SHIFT_AFTER, label_delay_s: float = 5.0,
    broker_memory_cap_mb: float | None = BROKER_MEMORY_CAP_MB,
) -> int:
    """Run the pictures demo; with ``events`` it stops by itself and returns 0 only if all
    add up. ``config_path`` None: ``configs/demo-pictures.yaml`` here, else the packaged
    copy. SIGINT and SIGTERM drain it, as the tabular demo (``demo.run_demo``)."""
    console = console or Console()
    spec, source = load_demo_spec(config_path, pictures=True)
    spec = spec.with_overrides(workers=workers)
    console.print(f"pipeline {source}")
    run = PictureRun(spec, events=events, rate=rate, bad_every=bad_every,
                     shift_after=shift_after, label_delay_s=label_delay_s,
                     broker_memory_cap_mb=broker_memory_cap_mb)
    meter = RateMeter()
    summary = watch_live(run, console, lambda: picture_view(run, meter))
    if summary is None:
        return 1
    return print_summary(console, summary, bounded=events is not None, unit="images")
