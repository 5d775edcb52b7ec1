"""The alert contract (docs/contracts.md, "Alert"): what monitoring publishes per crossing.

>>> a = alert("drift", "m", "v1", "psi:x", 0.41, 0.2, 300, 1000, "feature 'x' drifted")
>>> a["window"], a["value"]
('300s', 0.41)
"""

from __future__ import annotations

from typing import Any


def alert(kind: str, model: str, version: str, metric: str, value: float, threshold: float,
          window_s: float, ts_ms: int, message: str) -> dict[str, Any]:
    """One alert: ``{kind, model, version, metric, value, threshold, window, ts, message}``."""
    return {"kind": kind, "model": model, "version": version, "metric": metric,
            "value": round(float(value), 6), "threshold": threshold,
            "window": f"{window_s:g}s", "ts": ts_ms, "message": message}
