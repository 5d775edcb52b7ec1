"""The names of every metric the driver's ``/metrics`` endpoint exports, in one place.

Plain strings (no Prometheus here): the exporters create their families under these names,
``streaminfer status`` reads them back, and the Grafana dashboard in ``docker/`` may name
only these (a test checks it). A counter is scraped with ``_total`` added; a histogram as
``_bucket``, ``_sum`` and ``_count``.
"""

from __future__ import annotations

# Per source worker (each worker's own registry; the driver adds a ``worker`` label).
EVENTS_IN = "streaminfer_events_in"
PREDICTIONS_OUT = "streaminfer_predictions_out"
DEAD_LETTERS = "streaminfer_dead_letters"
BATCH_SIZE = "streaminfer_batch_size"
INFERENCE_SECONDS = "streaminfer_inference_seconds"
END_TO_END_LATENCY = "streaminfer_end_to_end_latency_seconds"
CONSUMER_LAG = "streaminfer_consumer_lag"
MODEL_BATCH_FAILURES = "streaminfer_model_batch_failures"
PRODUCE_RETRIES = "streaminfer_produce_retries"
SHADOW_COMPARED = "streaminfer_shadow_compared"
SHADOW_AGREED = "streaminfer_shadow_agreed"
TEXTS_TRUNCATED = "streaminfer_texts_truncated"

# Per feedback joiner (each joiner's own registry; ``worker`` holds the joiner's name).
JOINS = "streaminfer_feedback_joins"
FEEDBACK_RECORDS_IN = "streaminfer_feedback_records_in"
FEEDBACK_INVALID = "streaminfer_feedback_invalid"
EXAMPLES_OUT = "streaminfer_feedback_examples_out"
UNMATCHED_OUT = "streaminfer_feedback_unmatched_out"
PENDING = "streaminfer_feedback_pending"
FEEDBACK_RETRIES = "streaminfer_feedback_produce_retries"

# The driver's own.
WORKERS_ALIVE = "streaminfer_workers_alive"
LIVE_QUALITY = "streaminfer_live_quality"
MODEL_SERVING = "streaminfer_model_serving"
CANARY_SHARE = "streaminfer_model_canary_share"
ROLLOUT_ACTIONS = "streaminfer_rollout_actions"
DRIFT_PSI = "streaminfer_drift_psi"
DRIFT_ALERTS = "streaminfer_drift_alerts"
DRIFT_WINDOW_EVENTS = "streaminfer_drift_window_events"
AUTOSCALER_TARGET = "streaminfer_autoscaler_target_workers"
AUTOSCALER_DESIRED = "streaminfer_autoscaler_desired_workers"
AUTOSCALER_DECISIONS = "streaminfer_autoscaler_decisions"
AUTOSCALER_LAG_PER_WORKER = "streaminfer_autoscaler_lag_per_worker"
GROUP_LAG = "streaminfer_group_lag"
STUCK_PARTITIONS = "streaminfer_stuck_partitions"
DRIVER_THREAD_ERRORS = "streaminfer_driver_thread_errors"
DRIVER_THREAD_LAST_ERROR = "streaminfer_driver_thread_last_error"

#: Every name above.
ALL = frozenset(value for key, value in dict(globals()).items()
                if key.isupper() and isinstance(value, str) and value.startswith("streaminfer_"))
