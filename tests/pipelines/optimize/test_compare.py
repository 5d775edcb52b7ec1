"""The pure comparison rules: loss, tolerance, Pareto front, fastest accepted."""

from __future__ import annotations

import math

import pytest

from streaminfer.operators.metric_table import Metric
from streaminfer.pipelines.optimize.compare import (
    MIN_GAIN,
    accepted,
    choose,
    fastest,
    loss_words,
    oriented,
    pareto_front,
    relative_loss,
    tolerance_edge,
)
from tests.fixtures.metrics import EVERY_METRIC, better_worse


def test_loss_is_relative_and_follows_the_metric_direction() -> None:
    assert math.isclose(relative_loss("accuracy", 0.8, 0.76), 0.05)
    assert math.isclose(relative_loss("accuracy", 0.8, 0.84), -0.05)  # better: negative loss
    assert math.isclose(relative_loss("rmse", 10.0, 11.0), 0.1)  # RMSE up: a loss
    assert math.isnan(relative_loss("accuracy", math.nan, 0.5))


@pytest.mark.parametrize("metric", EVERY_METRIC)
def test_every_metric_accepts_a_better_variant_and_rejects_a_worse_one(metric: Metric) -> None:
    better, worse = better_worse(metric, step=0.2)
    assert accepted(relative_loss(metric.name, worse, better), 0.0)
    assert not accepted(relative_loss(metric.name, better, worse), 0.1)
    edge = tolerance_edge(metric.name, better, 0.1)  # the worst value still accepted
    assert math.isclose(relative_loss(metric.name, better, edge), 0.1)
    beyond = edge + (-0.001 if metric.higher_is_better else 0.001)
    assert not accepted(relative_loss(metric.name, better, beyond), 0.1)
    # the Pareto front's quality axis: higher is better whatever the metric
    assert oriented(metric.name, better) > oriented(metric.name, worse)
    points = {"better": (1.0, oriented(metric.name, better)),
              "worse": (1.0, oriented(metric.name, worse))}
    assert pareto_front(points) == {"better"}


def test_a_gain_is_worded_as_a_gain() -> None:
    assert loss_words(-0.0003, "accuracy") == "gains 0.03% accuracy"
    assert loss_words(0.0022, "accuracy") == "loses 0.22% accuracy"
    assert loss_words(0.0, "rmse") == "loses 0.00% rmse"
    assert loss_words(math.nan, "r2") == "r2 not defined"


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


SPEEDS = {"original": 1000.0, "within": 1040.0, "beyond": 1080.0, "rejected": 2000.0}


def test_a_variant_within_the_noise_margin_is_not_chosen_and_the_report_says_why() -> None:
    chosen, why = choose(SPEEDS, {"within"}, "original")
    assert chosen is None
    assert "within, the fastest accepted variant, is 4.0% faster" in why
    assert "not more than the 5.0% margin" in why and "original is kept" in why
    # only just above the margin: chosen; a slower variant never is
    assert choose({"original": 100.0, "v": 100.0 * (1 + MIN_GAIN) + 0.01}, {"v"},
                  "original")[0] == "v"
    assert choose({"original": 100.0, "v": 100.0 * (1 + MIN_GAIN) - 0.01}, {"v"},
                  "original")[0] is None
    chosen, why = choose({"original": 100.0, "v": 90.0}, {"v"}, "original")
    assert chosen is None and "10.0% slower" in why


def test_the_fastest_allowed_variant_beyond_the_margin_is_chosen() -> None:
    chosen, why = choose(SPEEDS, {"within", "beyond"}, "original")
    assert chosen == "beyond"  # "rejected" is faster but not allowed
    assert "8.0% faster" in why and "more than the 5.0% margin" in why


def test_a_larger_measured_spread_widens_the_margin() -> None:
    # either timing's spread counts: the original's or the variant's
    for spreads in ({"original": 0.1}, {"beyond": 0.1}):
        chosen, why = choose(SPEEDS, {"beyond"}, "original", spreads)
        assert chosen is None and "10.0% margin" in why, spreads
    assert choose(SPEEDS, {"beyond"}, "original", {"original": 0.02})[0] == "beyond"
    assert choose(SPEEDS, {"within"}, "original", min_gain=0.01)[0] == "within"


def test_nothing_to_choose_says_so() -> None:
    assert choose(SPEEDS, set(), "original") == (
        None, "no accepted variant was timed; the original is kept")
    chosen, why = choose({"v": 10.0}, {"v"}, "original")
    assert chosen is None and "original's speed was not measured" in why
