"""A batch job: plan the units (or take them from the manifest), score the pending ones on a
Ray Data actor pool (or, for one actor and no Ray, in this process: ``batch.runner``), and
record each finished unit in the manifest as its result arrives.

>>> summary = batch("pipeline.yaml", "data/*.parquet", "scored/")   # doctest: +SKIP
>>> summary.rows == summary.predictions + summary.dead_letters       # doctest: +SKIP
True
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from streaminfer.errors import ConfigError, PipelineError, StreamInferError
from streaminfer.operators.batch_manifest import Manifest, ManifestMismatch
from streaminfer.operators.batch_units import Unit
from streaminfer.operators.model_runner import read_model_file, sha256_hex
from streaminfer.operators.topic_ranges import (
    PREFIX,
    RangeError,
    is_topic_source,
    parse_topic_source,
)
from streaminfer.pipelines.batch.actor import RESULT_COLUMNS, Target, UnitScorer
from streaminfer.pipelines.batch.files import plan_files
from streaminfer.pipelines.batch.outputs import (
    OutputFormat,
    dead_letter_folder,
    remove_temporaries,
)
from streaminfer.pipelines.batch.pictures import picture_field
from streaminfer.pipelines.batch.topic_source import plan_topic
from streaminfer.pipelines.lifecycle.resolve import resolve_registry_models
from streaminfer.pipelines.spec.batch_spec import BatchSpec
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.loader import load_spec
from streaminfer.pipelines.spec.schema import PipelineSpec

MANIFEST = "_manifest.json"
ERROR_COLUMN = "error"  # a unit's result: the streaminfer error it failed with, pickled


class Progress(Protocol):
    """What a job reports to: the rows to do (None: unknown) and done, then each unit."""

    def start(self, total_rows: int | None, done_rows: int) -> None: ...

    def advance(self, rows: int) -> None: ...


@dataclass(frozen=True)
class BatchSummary:
    """What a run did (``rows``, ``predictions``, ``dead_letters``: over every finished unit,
    earlier runs included; ``seconds`` and ``rows_this_run``: this run only)."""

    rows: int
    predictions: int
    dead_letters: int
    units: int
    units_done: int
    units_skipped: int
    rows_this_run: int
    seconds: float
    complete: bool
    manifest: str

    @property
    def rejects(self) -> int:
        """The old name of :attr:`dead_letters` (before 2026-12-06), kept for callers."""
        return self.dead_letters

    @property
    def rows_per_s(self) -> float:
        return self.rows_this_run / self.seconds if self.seconds > 0 else 0.0


class BatchJob:
    """One batch job over ``source`` into ``output`` (a folder, or ``kafka:TOPIC``)."""

    def __init__(
        self, spec: PipelineSpec, source: str, output: str, *, input_format: str | None = None,
        output_format: OutputFormat = "parquet", actors: int | None = None,
        manifest: str | Path | None = None, bootstrap_servers: str | None = None,
    ) -> None:
        # models:/NAME@ALIAS paths become checked local files, resolved once, in the driver
        # (as `streaminfer run` does): every actor gets the same version's bytes.
        spec = resolve_registry_models(spec)
        base = spec.batch or BatchSpec()
        self.settings = base.model_copy(update={"actors": actors}) if actors else base
        ray = sys.modules.get("ray")  # not imported: not running here (nor imported for it)
        self.in_process = scores_in_process(
            self.settings, cluster_named=bool(spec.ray.address or os.environ.get("RAY_ADDRESS")),
            ray_running=ray is not None and ray.is_initialized())
        self.spec, self.source, self.output = spec, source, output
        self.input_format, self.output_format = input_format, output_format
        self._servers = bootstrap_servers
        self.models = {m.model_name: read_model_file(m.path, m.sha256) for m in spec.model_specs}
        if is_topic_source(output):
            topic = output[len(PREFIX):]
            default = Path.cwd() / f"batch-{topic}.manifest.json"
            self.manifest_path = Path(manifest) if manifest else default
        else:
            self.manifest_path = Path(manifest) if manifest else Path(output) / MANIFEST

    def kafka(self) -> dict[str, Any]:
        """Client settings for the job's topics (``--bootstrap-servers`` over the YAML's)."""
        servers = self._servers or self.spec.kafka.bootstrap_servers
        if servers == "embedded":
            raise ConfigError("the YAML uses the embedded broker, which lives inside "
                              "`streaminfer run`; pass --bootstrap-servers with its address")
        return client_config(self.spec.kafka, servers)

    def identity(self) -> dict[str, Any]:
        source = self.source if is_topic_source(self.source) or "://" in self.source \
            else os.path.abspath(self.source)
        return {"pipeline": self.spec.name, "input": source, "output": self.output,
                "format": self.output_format,
                "models": sorted(f"{n}:{sha256_hex(d)}" for n, d in self.models.items())}

    def manifest(self) -> Manifest:
        """The job's manifest: the one in the output (checked to be this job's) or a new plan."""
        try:
            found = Manifest.load(self.manifest_path)
            if found is not None:
                found.check_identity(self.identity())
                return found
        except ManifestMismatch as exc:
            raise ConfigError(str(exc)) from None
        manifest = Manifest.new(self.manifest_path, self.identity(), self._plan())
        manifest.save()
        return manifest

    def _plan(self) -> list[Unit]:
        rows = self.settings.unit_rows
        if not is_topic_source(self.source):
            pictures = self.settings.unit_pictures if picture_field(self.spec) else None
            return plan_files(self.source, rows, self.input_format, pictures)
        try:
            request = parse_topic_source(self.source)
        except RangeError as exc:
            raise ConfigError(f"--input: {exc}") from None
        return plan_topic(self.kafka(), request, rows)

    def target(self) -> Target:
        if not is_topic_source(self.output):
            folder = Path(self.output)
            dead_letter_folder(folder).mkdir(parents=True, exist_ok=True)
            remove_temporaries(folder)
            return Target(folder=str(folder.resolve()), fmt=self.output_format)
        topic = self.output[len(PREFIX):]
        if not topic or "?" in topic:
            raise ConfigError(f"--out {self.output}: write kafka:TOPIC")
        from streaminfer.pipelines.kafka.topics import ensure_topics

        config = self.kafka()
        dead = self.spec.sink.dead_letter_topic
        ensure_topics(config, {topic: self.spec.source.partitions,
                               dead: self.spec.source.partitions},
                      create_missing=self.spec.kafka.create_missing_topics)
        return Target(predictions_topic=topic, dead_letter_topic=dead, kafka=config)

    def run(self, *, progress: Progress | None = None,
            stop: threading.Event | None = None) -> BatchSummary:
        """Score every pending unit; returns early (manifest consistent) when ``stop`` is set."""
        from streaminfer.pipelines.runtime.ray_setup import start_ray

        started = time.monotonic()
        if not self.in_process:
            import_ray_data_soon()  # while the plan is made and Ray starts
        manifest = self.manifest()
        pending = manifest.pending()
        skipped = len(manifest.units) - len(pending)
        if progress is not None:
            progress.start(_total_rows(manifest.units), manifest.totals()["rows"])
        done_rows = 0
        if pending:
            if not self.in_process:
                start_ray(self.spec)
            done_rows = self._execute(manifest, pending, progress, stop)
        totals = manifest.totals()
        return BatchSummary(
            rows=totals["rows"], predictions=totals["predictions"],
            dead_letters=totals["dead_letters"],
            units=len(manifest.units), units_done=len(manifest.done), units_skipped=skipped,
            rows_this_run=done_rows, seconds=time.monotonic() - started,
            complete=not manifest.pending(), manifest=str(manifest.path),
        )

    def _execute(self, manifest: Manifest, pending: list[Unit], progress: Progress | None,
                 stop: threading.Event | None) -> int:
        source_kafka = self.kafka() if is_topic_source(self.source) else None
        scorer_args = {"spec": self.spec, "models": self.models, "target": self.target(),
                       "source_kafka": source_kafka, "batch_size": self.settings.batch_size}
        rows = 0
        try:
            found: Any = scored_here(pending, scorer_args) if self.in_process \
                else scoring_dataset(pending, self.settings, scorer_args).iter_rows()
            with contextlib.closing(iter(found)) as results:
                for result in results:
                    raise_failed(result)
                    manifest.mark_done(result["key"], rows=int(result["rows"]),
                                       predictions=int(result["predictions"]),
                                       dead_letters=int(result["dead_letters"]))
                    manifest.save()
                    rows += int(result["rows"])
                    if progress is not None:
                        progress.advance(int(result["rows"]))
                    if stop is not None and stop.is_set():
                        break
        except StreamInferError:
            raise
        except Exception as exc:  # Ray failed (an actor died), or a unit here: in one line
            lines = str(exc).strip().splitlines()
            raise PipelineError(f"batch job failed: {type(exc).__name__}: "
                                f"{lines[-1] if lines else ''}") from None
        return rows


def scores_in_process(settings: BatchSpec, *, cluster_named: bool, ray_running: bool) -> bool:
    """Whether a job scores its units in this process (``batch.runner``; see its
    description): ``auto`` does for one actor without GPUs, no cluster named and no Ray
    running here. Ray Data would add only its start-up to such a job (3-5 s here)."""
    if settings.runner == "process":
        if settings.actors > 1:
            raise ConfigError(f"batch.runner: process scores with one actor, not "
                              f"{settings.actors}; set batch.actors: 1 (or --actors 1), or "
                              f"batch.runner: ray")
        return True
    if settings.runner == "ray":
        return False
    return settings.actors == 1 and settings.num_gpus == 0 and not cluster_named \
        and not ray_running


def scored_here(pending: list[Unit], scorer_args: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The pool's results, scored in this process by one :class:`ReportingScorer`: one
    result row per unit, in the plan's order."""
    scorer = ReportingScorer(**scorer_args)
    for unit in pending:
        result = scorer({"unit": [orjson.dumps(unit.to_dict()).decode()]})
        yield {name: values[0] for name, values in result.items()}


def import_ray_data_soon() -> None:
    """Import ``ray.data`` (~0.6-2 s here) in a thread, so that it overlaps planning and
    starting Ray; the dataset's own import then finds it done or waits for it."""
    global _IMPORTING
    if _IMPORTING is None and "ray.data" not in sys.modules:
        _IMPORTING = threading.Thread(target=importlib.import_module, args=("ray.data",),
                                      daemon=True, name="import-ray-data")
        _IMPORTING.start()


_IMPORTING: threading.Thread | None = None


def scoring_dataset(pending: list[Unit], settings: BatchSpec, scorer_args: dict[str, Any]) -> Any:
    """The Ray Data pipeline: one row per unit, scored by a fixed pool of actors."""
    import ray.data
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # Our own progress bar replaces Ray Data's; its notice that they are off says nothing.
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    # Importing ray.data sets its loggers to DEBUG: where Ray logs only warnings (the CLI
    # without --verbose), so does Ray Data ("Dataset ... execution finished": our summary).
    if not logging.getLogger("ray").isEnabledFor(logging.INFO):
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    items = [{"unit": orjson.dumps(unit.to_dict()).decode()} for unit in pending]
    units = ray.data.from_items(items, override_num_blocks=len(items))
    with warnings.catch_warnings():  # max_restarts has no named parameter in 2.60
        warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated")
        return _pool(units, settings, scorer_args, len(items))


def _pool(units: Any, settings: BatchSpec, scorer_args: dict[str, Any], count: int) -> Any:
    from ray.data import ActorPoolStrategy

    return units.map_batches(
        ReportingScorer, fn_constructor_kwargs=scorer_args, batch_size=1, batch_format="numpy",
        compute=ActorPoolStrategy(size=min(settings.actors, count)),
        num_cpus=settings.num_cpus, num_gpus=settings.num_gpus,
        # A failed actor fails the job, which resumes from the manifest when run again;
        # restarts would need the constructor arguments kept (ray-project/ray#53727).
        max_restarts=0,
    )


class ReportingScorer:
    """:class:`UnitScorer` for ``map_batches`` that hands a streaminfer error back as data.

    Ray Data passes a failed UDF's exception on as text only (a ``UserCodeException`` whose
    cause is gone), so a unit that fails with a :class:`StreamInferError` (or an actor whose
    models do not load) answers one result row carrying that exception, pickled, in
    ``error``; :func:`raise_failed` raises it again in the driver, type and message intact.
    Any other exception fails the Ray task as before.
    """

    def __init__(self, **scorer_args: Any) -> None:
        self.failed: StreamInferError | None = None
        try:
            self.scorer: UnitScorer | None = UnitScorer(**scorer_args)
        except StreamInferError as exc:
            self.scorer, self.failed = None, exc

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        failed = self.failed
        if self.scorer is not None:
            try:
                results = self.scorer(batch)
                return {**results, ERROR_COLUMN: [b""] * len(results["key"])}
            except StreamInferError as exc:
                failed = exc
        assert failed is not None
        key = orjson.loads(batch["unit"][0])["key"]
        return {**{name: [0] for name in RESULT_COLUMNS}, "key": [key],
                ERROR_COLUMN: [pickle.dumps(failed)]}


def raise_failed(result: dict[str, Any]) -> None:
    """Raise the error a unit's result row carries (:class:`ReportingScorer`), if any."""
    failed = result.get(ERROR_COLUMN)
    if failed:
        raise pickle.loads(failed)


def _total_rows(units: list[Unit]) -> int | None:
    counts = [unit.rows for unit in units]
    return None if any(c is None for c in counts) else sum(c or 0 for c in counts)


def batch(
    config: str | Path | PipelineSpec, input: str, output: str, *,
    progress: Progress | None = None, stop: threading.Event | None = None, **options: Any,
) -> BatchSummary:
    """Score ``input`` (files, or ``kafka:TOPIC?start=..&end=..``) into ``output`` (a folder
    of part files, or ``kafka:TOPIC``) with the pipeline ``config``; resumes a stopped job.
    ``options``: ``input_format``, ``output_format``, ``actors``, ``manifest``,
    ``bootstrap_servers``, ``address`` (a Ray cluster)."""
    spec = config if isinstance(config, PipelineSpec) else load_spec(config)
    address = options.pop("address", None)
    spec = spec.with_overrides(ray_address=address)
    return BatchJob(spec, input, output, **options).run(progress=progress, stop=stop)
