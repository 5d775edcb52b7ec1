"""The pure comparison rules: loss, tolerance, Pareto front, fastest accepted."""

from __future__ import annotations

import math

from streaminfer.pipelines.optimize.compare import (
    accepted,
    fastest,
    pareto_front,
    relative_loss,
)


def test_loss_is_relative_and_follows_the_metric_direction() -> None:
    assert math.isclose(relative_loss(0.8, 0.76, direction=1), 0.05)
    assert math.isclose(relative_loss(0.8, 0.84, direction=1), -0.05)  # better: negative loss
    assert math.isclose(relative_loss(10.0, 11.0, direction=-1), 0.1)  # RMSE up: a loss
    assert math.isnan(relative_loss(math.nan, 0.5, direction=1))


def test_the_tolerance_includes_its_edge_and_refuses_nan() -> None:
    assert accepted(0.005, 0.005) and accepted(-0.2, 0.0)
    assert not accepted(0.0051, 0.005)
    assert not accepted(math.nan, 1.0)


def test_the_pareto_front_holds_the_points_nothing_beats_in_both() -> None:
    points = {"slow-best": (1.0, 0.99), "fast-worse": (3.0, 0.90), "dominated": (0.9, 0.98),
              "middle": (2.0, 0.95), "tie-slower": (2.0, 0.94)}
    assert pareto_front(points) == {"slow-best", "fast-worse", "middle"}
    assert pareto_front({"a": (1.0, 1.0), "b": (1.0, 1.0)}) == {"a", "b"}  # equals: both stay
    assert pareto_front({}) == set()


def test_fastest_picks_among_the_allowed_only() -> None:
    speeds = {"a": 10.0, "b": 30.0, "c": 20.0}
    assert fastest(speeds, {"a", "c"}) == "c"
    assert fastest(speeds, set()) is None
