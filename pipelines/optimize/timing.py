"""Speed of model variants with ONNX Runtime: load time, latency at batch 1 and rows/s at
larger batches, each variant timed in turn within every round (so a slow moment of a shared
machine hits all of them alike; the order rotates from round to round), the best round of each
kept (other processes only ever slow a run down)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streaminfer.operators.providers import CPU, CUDA, cuda_status


@dataclass(frozen=True)
class Speed:
    """One variant on one provider."""

    load_ms: float
    latency_ms_b1: float
    rows_per_s: dict[int, float]
    #: Per batch size, how far the median round is from the best one (0.04: 4% slower):
    #: the timing's noise, which a variant's speed-up must exceed to count.
    spread: dict[int, float] = field(default_factory=dict)


def cuda_usable() -> bool:
    """Whether ONNX Runtime has the CUDA provider and a GPU is usable."""
    import onnxruntime as ort

    return CUDA in ort.get_available_providers() and cuda_status().usable


def providers_for(device: str) -> list[str]:
    return [CUDA, CPU] if device == "cuda" else [CPU]


def open_session(model: bytes, device: str = "cpu", threads: int = 1) -> tuple[Any, float]:
    """An ONNX Runtime session (as a pipeline worker opens it: ``threads`` intra-op threads)
    and how long it took to open, in ms."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    start = time.perf_counter()
    session = ort.InferenceSession(model, options, providers=providers_for(device))
    return session, (time.perf_counter() - start) * 1000


def batch_of(feed: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """``size`` rows of every input of ``feed``, repeated as needed.

    >>> batch_of({"x": np.arange(4).reshape(2, 2)}, 3)["x"].tolist()
    [[0, 1], [2, 3], [0, 1]]
    """
    return {name: np.ascontiguousarray(np.resize(rows, (size, *rows.shape[1:])))
            for name, rows in feed.items()}


def _named(session: Any, feed: dict[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
    """A feed by input name; a matrix feeds the session's one input, as float32."""
    if isinstance(feed, dict):
        return feed
    return {session.get_inputs()[0].name: feed.astype(np.float32)}


def _seconds_per_run(session: Any, feed: dict[str, np.ndarray], block_s: float) -> float:
    """Mean seconds per run over at least ``block_s`` (and three runs)."""
    runs, start = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - start < block_s:
        session.run(None, feed)
        runs += 1
    return (time.perf_counter() - start) / runs


def time_sessions(
    sessions: dict[str, tuple[Any, float]], feed: dict[str, np.ndarray] | np.ndarray,
    batches: Sequence[int], *, rounds: int = 5, block_s: float = 0.2,
) -> dict[str, Speed]:
    """Speed of each ``name -> (session, load_ms)`` on rows of ``feed`` (every input by
    name, or the rows of a model's one input): batch 1 latency and rows/s per batch."""
    sizes = sorted({1, *batches})
    inputs = {name: {size: batch_of(_named(session, feed), size) for size in sizes}
              for name, (session, _) in sessions.items()}
    seen: dict[str, dict[int, list[float]]] = {name: {s: [] for s in sizes} for name in sessions}
    for name, (session, _) in sessions.items():  # warm up
        session.run(None, inputs[name][max(sizes)])
    names = list(sessions)
    for turn in range(rounds):
        for name in names[turn % len(names):] + names[: turn % len(names)]:  # rotated
            session = sessions[name][0]
            for size in sizes:
                seen[name][size].append(_seconds_per_run(session, inputs[name][size], block_s))
    return {name: Speed(
        load_ms=round(sessions[name][1], 2),
        latency_ms_b1=round(min(seen[name][1]) * 1000, 4),
        rows_per_s={size: round(size / min(seen[name][size]), 1) for size in sizes if size > 1},
        spread={size: round(spread(seen[name][size]), 4) for size in sizes if size > 1},
    ) for name in sessions}


def spread(seconds: Sequence[float]) -> float:
    """How much slower the median round is than the best, relative to the best; 0 with
    fewer than three rounds (their "median" is the worst round: one round slowed by
    anything else on the machine would make it a margin no variant passes).

    >>> spread([1.0, 1.1, 1.02])
    0.02
    >>> spread([1.0, 1.64])
    0.0
    """
    if len(seconds) < 3:
        return 0.0
    ordered = sorted(seconds)
    return round(ordered[len(ordered) // 2] / ordered[0] - 1, 6)
