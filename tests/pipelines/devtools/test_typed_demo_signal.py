"""``streaminfer demo --example`` as the command runs it (``run_typed_demo``: the example's
config turned into a demo on its own embedded broker): a SIGTERM drains it, and its books
close exactly, events = predictions + dead letters."""

from __future__ import annotations

import io
import os
import re
import signal
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from streaminfer.pipelines.devtools.typed_demo import TYPED_DEMO_METRICS_PORT, run_typed_demo
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def _predictions_out() -> float:
    """The demo's predictions so far, by its metrics endpoint (0 while it is not up)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{TYPED_DEMO_METRICS_PORT}/metrics",
                                    timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return 0.0
    return sum(float(v) for v in re.findall(
        r"^streaminfer_predictions_out_total\{[^}]*\} (\S+)$", text, re.MULTILINE))


def test_a_sigterm_drains_the_text_demo_and_its_books_close(
    tmp_path: Path, ray_session: None, model_factory: Callable[[str], Path],
) -> None:
    model = model_factory("text_classifier")
    config = tmp_path / "text-classifier.yaml"
    config.write_text((REPO / "configs/text-classifier.yaml").read_text().replace(
        "../models/text_classifier.onnx", str(model)))
    console = Console(file=io.StringIO(), width=140)
    halt = threading.Event()  # the demo ended first: send nothing

    def shown() -> str:
        return console.file.getvalue()  # type: ignore[attr-defined]

    def terminate_once_scored() -> None:
        # predictions out (its metrics): the pipeline scores, events are in flight
        wait_until(lambda: halt.is_set() or _predictions_out() >= 100, 120)
        if not halt.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=terminate_once_scored, daemon=True)
    sender.start()
    try:
        code = run_typed_demo("text", config, events=None, rate=1500, bad_every=20,
                              label_delay_s=0.5, console=console)
    finally:
        halt.set()
        sender.join(30)
    out = shown()
    assert code == 0, out[-3000:]
    assert "stopping: finishing open batches" in out and "all events accounted for" in out
    books = orjson.loads(out[out.rindex("{\n"):])
    assert books["adds_up"] and books["missing"] == books["duplicates"] == 0, books
    assert books["events"] == books["predictions"] + books["dead_letters"] > 0, books
    assert books["dead_letters"] == books["bad_injected"] == books["events"] // 20, books
