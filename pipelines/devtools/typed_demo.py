"""``streaminfer demo --example fraud-mixed|text|tokens``: a typed example model live. The
example's own config (``configs/fraud-mixed.yaml``, ``text-classifier.yaml``,
``text-tokens.yaml``) runs on the embedded broker with a labels topic added (so live accuracy
shows) and its drift watched; a generator (``typed_feeds.py``) sends events, their labels
follow; the books and the screen's common tables are the tabular demo's (``demo_run.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from streaminfer.operators.output_roles import output_field
from streaminfer.pipelines.devtools.demo_run import (
    BROKER_MEMORY_CAP_MB,
    DemoStream,
    books_table,
    class_table,
    pipeline_tables,
    print_summary,
    watch_live,
)
from streaminfer.pipelines.devtools.shipped import config_text
from streaminfer.pipelines.devtools.typed_feeds import TYPED_EXAMPLES, TypedExample, TypedFeed
from streaminfer.pipelines.online.live_view import RateMeter, feedback_table, live_table
from streaminfer.pipelines.spec.config_io import parse_yaml, read_text
from streaminfer.pipelines.spec.loader import parse_spec
from streaminfer.pipelines.spec.schema import PipelineSpec

#: The embedded broker's port for these demos (``streaminfer tail -b 127.0.0.1:19095``) and
#: their metrics port: the other demos' are 19092-19094 and 9464, 9466, 9469.
TYPED_DEMO_PORT, TYPED_DEMO_METRICS_PORT = 19095, 9470


def demo_sections(data: dict[str, Any], example: TypedExample) -> dict[str, Any]:
    """An example's config (YAML as a dict) as its demo runs it: on the embedded broker,
    tuned for it as ``configs/demo.yaml`` (fetch waits, batches every 250 ms, gzip), one
    worker, metrics on their own port, the example's extra outputs published, labels
    joined (live accuracy per class name) and drift watched against the model's training
    profile."""
    name = f"demo-{data['name']}"
    model = dict(data["model"])
    model["outputs"] = {**(model.get("outputs") or {}), **example.outputs}
    classes = (model.get("postprocess") or {}).get("classes")
    return {
        **data, "name": name, "model": model,
        "kafka": {"bootstrap_servers": "embedded", "embedded": {"port": TYPED_DEMO_PORT},
                  "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
        "source": {**data["source"], "fetch_max_wait_ms": 100},
        "batching": {**data.get("batching", {}), "max_wait_ms": 250},
        "sink": {**data["sink"], "compression": "gzip"},
        "workers": {"count": 1, "num_cpus": 0.5},
        "metrics": {**data.get("metrics", {}), "port": TYPED_DEMO_METRICS_PORT},
        "drift": {"window_s": 60, "prediction_threshold": 0.2, "min_events": 500,
                  "alerts_topic": f"{name}-alerts"},
        "feedback": {
            "labels_topic": f"{name}-labels", "training_topic": f"{name}-examples",
            "unmatched_topic": f"{name}-unmatched", "prediction_wait_s": 60,
            "label_wait_s": 60, "max_pending": 200_000, "flush_every_ms": 250,
            "joiners": {"count": 1, "num_cpus": 0.5},
            "live": {"window": 2000, "max_age_s": 300,
                     **({"classes": classes} if classes else {})}},
    }


def load_typed_demo_spec(name: str, config: Path | None) -> tuple[PipelineSpec, str]:
    """Example ``name``'s demo spec (:func:`demo_sections` of ``config``, default the
    example's ``configs/`` file here, else the packaged copy) and where it came from."""
    example = TYPED_EXAMPLES[name]
    if config is None:
        text, source, base = config_text(example.config)
    else:
        text, source, base = read_text(config), str(config), config.resolve().parent
    data = parse_yaml(text, source)
    demo = yaml.safe_dump(demo_sections(data, example), sort_keys=False)
    return parse_spec(demo, source=source, base=base), source


class TypedRun(DemoStream):
    """A typed example's demo: :class:`TypedFeed` through the pipeline, counting the classes
    the predictions name."""

    def __init__(self, spec: PipelineSpec, example: TypedExample, *, events: int | None,
                 rate: float, bad_every: int = 100, label_delay_s: float = 5.0,
                 broker_memory_cap_mb: float | None = BROKER_MEMORY_CAP_MB) -> None:
        feed = TypedFeed(example, id_field=spec.source.id_field, bad_every=bad_every)
        self.example = example
        label = output_field("label", spec.model_specs[0].outputs)
        super().__init__(spec, feed, events=events, rate=rate, label_delay_s=label_delay_s,
                         label_field=label, broker_memory_cap_mb=broker_memory_cap_mb)


def _vector(value: Any, shown: int = 3) -> str:
    """A float list, its first ``shown`` values and its length."""
    if not isinstance(value, list):
        return str(value)
    head = ", ".join(f"{v:.2f}" for v in value[:shown])
    return f"[{head}{', ...' if len(value) > shown else ''}] ({len(value)} floats)"


def predictions_table(run: TypedRun) -> Table:
    """The latest predictions: the class named, its score, the top k, the extra outputs."""
    assert run.collector is not None
    with run.collector.lock:
        samples = list(run.collector.outcomes.samples)
    model = run.spec.model_specs[0]
    label = output_field("label", model.outputs)
    scores = output_field("probabilities", model.outputs)
    post = model.postprocess
    top_k = post.top_k_field if post is not None and post.top_k else None
    extra = list(run.example.outputs.values())
    table = live_table("latest predictions")
    for column in ("id", label or "label", "score", *([top_k] if top_k else []), *extra,
                   "latency ms"):
        table.add_column(str(column), overflow="fold")
    for p in samples:
        probabilities = p.get(scores or "", [])
        best = f"{max(probabilities):.3f}" if probabilities else "-"
        cells = [str(p["id"]), str(p.get(label or "", "-")), best]
        if top_k:
            cells.append(", ".join(f"{k['label']} {k['score']:.2f}" for k in p[top_k]))
        cells += [_vector(p.get(name)) for name in extra]
        table.add_row(*map(escape, cells), str(p["latency_ms"]))
    return table


def typed_view(run: TypedRun, meter: RateMeter, name: str) -> Group:
    """The screen: the books, the classes named, the latest predictions, the workers,
    drift and live accuracy."""
    head, rate = books_table(run, meter, f"streaminfer demo --example {name}: "
                             f"{run.example.title} (read back from the output topics)")
    label = run.label_field or "label"
    workers, drift = pipeline_tables(run, rate)
    feedback = run.pipeline.feedback()
    return Group(head, class_table(run, f"what the model answers ({label})", label),
                 predictions_table(run), workers, drift,
                 feedback_table(feedback) if feedback is not None else "")


def run_typed_demo(
    name: str, config_path: Path | None, *, events: int | None, rate: float | None = None,
    bad_every: int = 100, workers: int | None = None, console: Console | None = None,
    label_delay_s: float = 5.0, broker_memory_cap_mb: float | None = BROKER_MEMORY_CAP_MB,
) -> int:
    """Run example ``name``'s demo (:data:`~.typed_feeds.TYPED_EXAMPLES`); with ``events``
    it stops by itself and returns 0 only if all add up. SIGINT and SIGTERM drain it: every
    event produced comes back before the books are printed (a second signal aborts)."""
    console = console or Console()
    example = TYPED_EXAMPLES[name]
    spec, source = load_typed_demo_spec(name, config_path)
    spec = spec.with_overrides(workers=workers)
    console.print(f"pipeline {source} (on the embedded broker, with labels)")
    run = TypedRun(spec, example, events=events, rate=rate or example.rate,
                   bad_every=bad_every, label_delay_s=label_delay_s,
                   broker_memory_cap_mb=broker_memory_cap_mb)
    meter = RateMeter()
    # A signal drains it: every event produced is waited for, so the books add up.
    summary = watch_live(run, console, lambda: typed_view(run, meter, name),
                         drain_on_signal=True)
    if summary is None:
        return 1
    return print_summary(console, summary, bounded=events is not None)
