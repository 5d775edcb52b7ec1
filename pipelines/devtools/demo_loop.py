"""``streaminfer demo --loop``: the demo on ``models:/NAME@champion`` in a registry of its own,
with retraining, shadow, promotion and rollback switched on, and the loop on screen.

The pipeline does the loop by itself (``retrain.when``, ``rollout.promote``,
``rollout.rollback`` in configs/demo-loop.yaml); this module seeds the registry, and each
refresh reads what the pipeline knows (the version it serves, its candidate, live accuracy
per version, drift, the action alerts) into a :class:`LoopStory` and draws it.
"""

from __future__ import annotations

import time

from rich.console import Console, Group

from streaminfer.pipelines.devtools.loop_registry import seed_registry, store_folder
from streaminfer.pipelines.devtools.loop_story import LoopStory
from streaminfer.pipelines.devtools.loop_view import loop_panels, summary_table
from streaminfer.pipelines.online.pipeline import Pipeline
from streaminfer.pipelines.spec.schema import PipelineSpec


class LoopWatch:
    """The loop demo's part of the demo: its registry, its story, its panels."""

    def __init__(self, spec: PipelineSpec) -> None:
        self.spec = spec
        self.model = spec.model_specs[0].model_name
        self.story: LoopStory | None = None

    def prepare(self, console: Console) -> None:
        """A fresh registry with the demo model as version 1, the champion."""
        folder = store_folder(self.spec)
        console.print(f"model registry: a fresh MLflow store in {folder} (no server) ...")
        _, version = seed_registry(self.spec, folder.parent / "models")
        console.print(f"registered {version.uri} as champion")

    def look(self, pipeline: Pipeline, *, shifted: bool, since_start_s: float,
             fit: tuple[Console, int] | None = None) -> Group:
        """Read the pipeline into the story; the panels to draw (within ``fit``'s rows)."""
        now_ms = int(time.time() * 1000)
        if self.story is None:
            self.story = LoopStory(started_ms=now_ms - int(since_start_s * 1000))
        rollout = next((r for r in pipeline.models() if r.model == self.model), None)
        serving = rollout.version if rollout else None
        feedback = pipeline.feedback()
        live = {version: metrics for (model, version), metrics in
                (feedback.live.items() if feedback else ()) if model == self.model}
        drift = {s.version: f"{s.alerts} drift alert(s): {', '.join(s.drifted) or 'cleared'}"
                 for s in pipeline.drift() if s.model == self.model and s.alerts}
        self.story.update(since_start_s, shifted=shifted, serving=serving,
                          live={v: m["accuracy"] for v, m in live.items() if "accuracy" in m},
                          actions=pipeline.actions(), drift=drift)
        roles: dict[str, str] = {}
        if rollout is not None:
            roles[rollout.version] = "champion, serving"
            if rollout.candidate is not None:
                roles[rollout.candidate] = rollout.mode or "candidate"
        return loop_panels(self.story, self.model, serving, live, roles,
                           retraining=rollout is not None and rollout.retraining, fit=fit)

    def print_summary(self, console: Console) -> None:
        if self.story is not None:
            console.print(summary_table(self.story))
