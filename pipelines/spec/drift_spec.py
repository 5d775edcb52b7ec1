"""The ``drift:`` section: live traffic against each model's training profile (PSI)."""

from __future__ import annotations

from pydantic import Field, model_validator

from streaminfer.operators.drift import PREDICTION
from streaminfer.pipelines.spec.base import FrozenModel, TopicName


class DriftSpec(FrozenModel):
    """Population stability index (PSI) of live features and predictions against the model's
    training profile (``<model file>.profile.json``, written by ``streaminfer build-models``).
    A crossing logs a warning and publishes one alert to ``alerts_topic``."""

    enabled: bool = Field(True, description="Compute drift (models without a profile skip it).")
    window_s: float = Field(
        300.0, gt=0, le=86_400,
        description="Sliding window of live traffic compared with the profile, in seconds.",
    )
    feature_threshold: float = Field(
        0.2, gt=0, description="PSI of one feature above which it has drifted (0.1: some "
        "shift, 0.2: a significant one, by the usual rule of thumb).",
    )
    feature_thresholds: dict[str, float] = Field(
        default_factory=dict, description="Per-feature thresholds (feature name -> PSI) that "
        "replace feature_threshold for those features.",
    )
    prediction_threshold: float = Field(
        0.2, gt=0, description="PSI of the prediction (score or class shares) above which the "
        "model's output has drifted.",
    )
    min_events: int = Field(
        500, ge=1, description="Fewest events in the window before PSI is computed (few events "
        "give a noisy PSI).",
    )
    rearm_below: float = Field(
        0.75, gt=0, le=1, description="After an alert, the metric alerts again only once it "
        "fell below this share of its threshold (hysteresis: no alert per batch).",
    )
    alerts_topic: TopicName = Field(
        "streaminfer-alerts", description="Topic that receives one alert per crossing.",
    )

    @model_validator(mode="after")
    def _positive_thresholds(self) -> DriftSpec:
        bad = sorted(name for name, value in self.feature_thresholds.items() if value <= 0)
        if bad:
            raise ValueError(f"feature_thresholds must be above 0 (see {', '.join(bad)})")
        return self

    def threshold(self, metric: str) -> float:
        """The threshold of one feature's name, or of ``prediction``."""
        if metric == PREDICTION:
            return self.prediction_threshold
        return self.feature_thresholds.get(metric, self.feature_threshold)
