"""The rollout moments of a validation timeline: when versions changed roles.

Two sources, both pure here: the alerts of automatic actions and monitoring (docs/contracts.md,
"Alert": retrain, candidate, shadow, canary, promote, swap, rollback, drift), and the data
itself (the first and the last time each version served a row), which is always there.

>>> alerts = [{"kind": "promote", "model": "bc", "version": "2", "ts": 2000, "message": "m"},
...           {"kind": "drift", "model": "bc", "version": "1", "ts": 1500, "message": "a"},
...           {"kind": "drift", "model": "bc", "version": "1", "ts": 1600, "message": "b"}]
>>> [m.label for m in moments_from_alerts(alerts, start_ms=1000, end_ms=3000)]
['drift v1', 'v2 promoted']
>>> [m.label for m in moments_from_data(["1", "1", "2"], [1000, 1900, 2100])]
['v1 first served', 'v1 last served', 'v2 first served', 'v2 last served']
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
import pyarrow as pa

from streaminfer.pipelines.lifecycle.versions import version_label

#: The alert kinds drawn on the timeline, in the order a loop goes through them.
ALERT_KINDS = ("drift", "retrain", "candidate", "shadow", "canary", "promote", "swap",
               "rollback")

#: How each kind reads on the plot (``{v}`` is the version: ``v2``).
LABELS = {
    "drift": "drift {v}", "retrain": "retrain", "shadow": "shadow {v}", "canary": "canary {v}",
    "promote": "{v} promoted", "swap": "{v} serving", "rollback": "{v} rolled back",
}


@dataclass(frozen=True)
class Moment:
    """One moment of the timeline: when, what, which version, and where it was learnt."""

    ts_ms: int
    kind: str  # an alert kind, or "first_served" / "last_served"
    version: str
    label: str
    source: str  # "alerts" | "data"
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"ts": self.ts_ms, "kind": self.kind, "version": self.version,
                "label": self.label, "source": self.source, "message": self.message}


def alert_label(kind: str, version: str, message: str = "") -> str:
    """What an alert says on the plot; a candidate's from its message (passed, rejected,
    failed).

    >>> alert_label("candidate", "2", "gate passed: accuracy 0.97 vs 0.81")
    'v2 passed the gate'
    >>> alert_label("rollback", "3")
    'v3 rolled back'
    """
    v = version_label(version) if version else "?"
    if kind != "candidate":
        return LABELS.get(kind, kind + " {v}").format(v=v)
    text = message.lower()
    if "reject" in text:
        return f"{v} rejected by the gate"
    if "fail" in text:
        return "retraining failed"
    if "pass" in text:
        return f"{v} passed the gate"
    return f"{v} candidate"


def decode_alerts(values: Iterable[bytes | None]) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects among ``values`` and how many were not (skipped)."""
    alerts: list[dict[str, Any]] = []
    skipped = 0
    for value in values:
        try:
            decoded = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            skipped += 1
            continue
        if isinstance(decoded, dict):
            alerts.append(decoded)
        else:
            skipped += 1
    return alerts, skipped


def moments_from_alerts(
    alerts: Iterable[Mapping[str, Any]], *, start_ms: float, end_ms: float,
    models: Collection[str] | None = None,
) -> list[Moment]:
    """The alerts of the timeline's kinds between ``start_ms`` and ``end_ms`` (inclusive), of
    ``models`` (all when ``None``), in time order. Drift fires once per metric: only the
    first drift alert of each version is kept."""
    found: list[Moment] = []
    drifted: set[tuple[str, str]] = set()
    for alert in alerts:
        kind, ts, model = alert.get("kind"), alert.get("ts"), str(alert.get("model", ""))
        if kind not in ALERT_KINDS or not isinstance(ts, (int, float)) or isinstance(ts, bool):
            continue
        if not start_ms <= ts <= end_ms or (models is not None and model not in models):
            continue
        version = str(alert.get("version") or "")
        if kind == "drift":
            if (model, version) in drifted:
                continue
            drifted.add((model, version))
        message = str(alert.get("message", ""))
        found.append(Moment(int(ts), kind, version, alert_label(kind, version, message),
                            "alerts", message))
    return sorted(found, key=lambda m: (m.ts_ms, ALERT_KINDS.index(m.kind)))


def moments_from_data(versions: Sequence[Any], times: Sequence[float]) -> list[Moment]:
    """The first and the last time each version served a row (``times``: when each row was
    predicted), in time order."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for version, ts in zip(versions, times, strict=True):
        key = str(version)
        first[key] = min(first.get(key, ts), ts)
        last[key] = max(last.get(key, ts), ts)
    found = []
    for key in first:
        v = version_label(key)
        found.append(Moment(int(first[key]), "first_served", key, f"{v} first served", "data"))
        found.append(Moment(int(last[key]), "last_served", key, f"{v} last served", "data"))
    return sorted(found, key=lambda m: (m.ts_ms, m.kind != "first_served"))


@dataclass(frozen=True)
class Timeline:
    """The moments to mark, and which alerts they were read from."""

    moments: list[Moment]
    alerts_from: tuple[str, ...] = ()
    alerts_read: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"alerts_from": list(self.alerts_from), "alerts_read": self.alerts_read,
                "moments": [m.as_dict() for m in self.moments]}


def timeline(table: pa.Table, alerts: Sequence[Mapping[str, Any]] = (),
             alerts_from: tuple[str, ...] = ()) -> Timeline | None:
    """The moments of labelled rows that say which version served them and when
    (``model_version``, ``predicted_at``; else ``None``): from the data, and from the
    ``alerts`` of the rows' models within the rows' time span (their predictions to their
    last label)."""
    names = table.column_names
    if "model_version" not in names or "predicted_at" not in names:
        return None
    versions = table.column("model_version").to_pylist()
    times = [float(t) for t in table.column("predicted_at").to_pylist()]
    if not times:
        return None
    end = max(times)
    if "labelled_at" in names:
        end = max([end, *(float(t) for t in table.column("labelled_at").to_pylist()
                          if t is not None)])
    models = {str(m) for m in table.column("model").to_pylist()} if "model" in names else None
    moments = moments_from_data(versions, times) + moments_from_alerts(
        alerts, start_ms=min(times), end_ms=end, models=models)
    return Timeline(sorted(moments, key=lambda m: m.ts_ms), alerts_from, len(alerts))


def utc(ts_ms: float) -> str:
    """An epoch-ms time as ``2026-12-02 06:10:03.250``.

    >>> utc(0)
    '1970-01-01 00:00:00.000'
    """
    stamp = datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d}"
