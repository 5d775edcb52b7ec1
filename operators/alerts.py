"""The alert contract (docs/contracts.md, "Alert"): what monitoring and automatic actions
publish to the alerts topic, once per event worth telling.
Published by ``pipelines/kafka/alert_publisher.py``.

>>> a = alert("drift", "m", "v1", "psi:x", 0.41, 0.2, "300s", 1000, "feature 'x' drifted")
>>> a["window"], a["value"]
('300s', 0.41)
"""

from __future__ import annotations

from typing import Any


def alert(kind: str, model: str, version: str | None, metric: str | None,
          value: float | None, threshold: float | None, window: str | None, ts_ms: int,
          message: str) -> dict[str, Any]:
    """One alert: ``{kind, model, version, metric, value, threshold, window, ts, message}``;
    ``window`` says what the value was measured over (``"300s"``, ``"500 examples"``); an
    action without a number (a swap, a failed retraining) gives ``None`` where it has none.

    >>> alert("swap", "m", "2", None, None, None, None, 5, "version 1 -> 2")["value"] is None
    True
    """
    return {"kind": kind, "model": model, "version": version, "metric": metric,
            "value": None if value is None else round(float(value), 6),
            "threshold": threshold,
            "window": window, "ts": ts_ms, "message": message}
