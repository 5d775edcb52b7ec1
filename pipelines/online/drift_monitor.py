"""Drift in the running pipeline: find each model's profile, publish alerts and gauges.

The decisions are :class:`DriftWatch`'s; this holds the resources around it: the alerts
producer and the Prometheus gauges. :class:`PoolMonitor` calls :meth:`DriftMonitor.look`
with each reading of the workers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from streaminfer.errors import DataError
from streaminfer.operators import metric_names as names
from streaminfer.operators.input_profile import input_mismatch
from streaminfer.operators.model_runner import ModelInfo
from streaminfer.operators.profile import Profile, profile_path
from streaminfer.pipelines.kafka.alert_publisher import AlertPublisher
from streaminfer.pipelines.online.drift_watch import DriftState, DriftWatch
from streaminfer.pipelines.runtime.worker_metrics import WorkerStats
from streaminfer.pipelines.spec.drift_spec import DriftSpec
from streaminfer.pipelines.spec.schema import ModelSpec, PipelineSpec

log = logging.getLogger(__name__)


def load_profile(model: ModelSpec, info: ModelInfo, feature_names: tuple[str, ...] | None,
                 ) -> Profile | None:
    """The profile beside the model file, if it is there and fits the model, reading the
    prediction under the field the model publishes it as (``model.outputs``); else ``None``
    with one log line saying why drift is off for this model."""
    path = profile_path(model.path)
    name = model.model_name
    if not path.is_file():
        log.info("drift off for model %s: no training profile at %s (streaminfer "
                 "build-models writes one)", name, path)
        return None
    try:
        profile = Profile.read(path)
    except DataError as exc:
        log.warning("drift off for model %s: %s", name, exc)
        return None
    if profile.model_sha256 not in (None, info.sha256):
        log.warning("drift off for model %s: %s profiles another model file (sha256 %s...)",
                    name, path, str(profile.model_sha256)[:12])
        return None
    mismatch = input_mismatch(profile, info)
    if mismatch is not None:
        log.warning("drift off for model %s: %s %s", name, path, mismatch)
        return None
    width = info.input_width
    if info.bindings is None and ((width is not None and len(profile.features) != width) or (
            feature_names is not None and profile.feature_names != feature_names)):
        log.warning("drift off for model %s: %s has features %s, the source gives %s",
                    name, path, ", ".join(profile.feature_names),
                    ", ".join(feature_names or ()) or f"{width} values")
        return None
    published = profile.published(info.outputs)
    if profile.prediction is not None and published.prediction is None:
        log.info("prediction drift off for model %s: it does not publish output %r, which "
                 "its profile bins (model.outputs); feature drift stays on", name,
                 profile.prediction.output)
    return published


def load_profiles(spec: PipelineSpec, infos: Mapping[str, ModelInfo]) -> dict[str, Profile]:
    """Profiles by model name, for the models that have a fitting one."""
    found = {}
    for model in spec.model_specs:
        profile = load_profile(model, infos[model.model_name], spec.source.features)
        if profile is not None:
            found[model.model_name] = profile
    return found


class DriftMetrics:
    """The driver's drift metrics: ``streaminfer_drift_psi``, ``streaminfer_drift_alerts``
    (a counter: ``_total`` when scraped) and ``streaminfer_drift_window_events``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.psi = Gauge(names.DRIFT_PSI, "PSI of live traffic against the training "
                         "profile, over drift.window_s ('prediction': the model's output).",
                         ["model", "version", "feature"], registry=registry)
        self.alerts = Counter(names.DRIFT_ALERTS, "Drift alerts published (one per "
                              "crossing).", ["model", "version", "feature"], registry=registry)
        self.rows = Gauge(names.DRIFT_WINDOW_EVENTS, "Events in the drift window.",
                          ["model", "version"], registry=registry)


class DriftMonitor:
    """Evaluates drift on each look, publishes alerts and ``streaminfer_drift_*`` metrics."""

    def __init__(self, spec: DriftSpec, profiles: Mapping[str, Profile],
                 kafka_config: dict[str, Any], registry: CollectorRegistry | None) -> None:
        self.spec = spec
        self.watch = DriftWatch(spec, profiles)
        self._alerts = AlertPublisher(kafka_config, spec.alerts_topic)
        self._lock = threading.Lock()
        self._metrics = DriftMetrics(registry) if registry is not None else None

    def look(self, answered: Mapping[str, WorkerStats]) -> None:
        """One reading of the workers: update the windows, alert on new crossings."""
        now, now_ms = time.monotonic(), int(time.time() * 1000)
        with self._lock:
            self.watch.observe(answered, now)
            alerts = self.watch.evaluate(now, now_ms)
            states = list(self.watch.states.values())
        self._export(states)
        for each in alerts:
            log.warning("drift: model %s version %s: %s", each["model"], each["version"],
                        each["message"])
            if self._metrics is not None:
                self._metrics.alerts.labels(each["model"], each["version"],
                                            str(each["metric"]).removeprefix("psi:")).inc()
            self._alerts.publish(each)

    def serve(self, model: str, version: str, profile: Profile | None) -> None:
        """A rollout serves ``version`` of ``model`` from now on: its traffic is compared
        with ``profile`` (``None``: not at all) in a window of its own, started afresh."""
        with self._lock:
            self.watch.use((model, version), profile)
        log.info("drift: model %s version %s %s", model, version,
                 "against its own training profile" if profile is not None
                 else "has no training profile: no drift for it")

    def states(self) -> list[DriftState]:
        """The latest evaluation per model version."""
        with self._lock:
            return [DriftState(s.model, s.version, s.rows, dict(s.psi), s.alerts,
                               list(s.drifted)) for s in self.watch.states.values()]

    def _export(self, states: list[DriftState]) -> None:
        if self._metrics is None:
            return
        for state in states:
            self._metrics.rows.labels(state.model, state.version).set(state.rows)
            for feature, value in state.psi.items():
                self._metrics.psi.labels(state.model, state.version, feature).set(value)

    def close(self) -> None:
        self._alerts.close()
