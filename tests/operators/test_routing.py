"""Router: by field value with a default, or a weighted split fixed by the event id."""

from __future__ import annotations

from collections import Counter

import pytest

from streaminfer.operators.records import RecordError
from streaminfer.operators.routing import Router


def test_a_field_value_picks_its_model_and_others_take_the_default() -> None:
    router = Router(field="country", routes={"US": "us", "DE": "eu", "7": "seven"},
                    default="rest")
    assert router.route({"country": "US"}, "e1") == "us"
    assert router.route({"country": "DE"}, "e2") == "eu"
    assert router.route({"country": 7}, "e3") == "seven"  # values compare as text
    assert router.route({"country": "FR"}, "e4") == "rest"
    assert router.route({}, "e5") == "rest"


def test_without_a_default_an_unrouted_event_is_a_record_error_naming_the_field() -> None:
    router = Router(field="country", routes={"US": "us"})
    with pytest.raises(RecordError) as caught:
        router.route({"country": "FR"}, "e1")
    error = caught.value
    assert (error.error_type, error.stage, error.field) == ("no_route", "validate", "country")
    assert "country='FR'" in error.message


def test_a_weighted_split_is_stable_per_id_and_close_to_the_weights() -> None:
    router = Router(weights={"a": 3, "b": 1, "off": 0})
    picks = [router.route({}, f"id-{i}") for i in range(20_000)]
    assert picks == [router.route({}, f"id-{i}") for i in range(20_000)]  # same id, same model
    counts = Counter(picks)
    assert set(counts) == {"a", "b"}  # a zero weight never wins
    assert counts["a"] / len(picks) == pytest.approx(0.75, abs=0.02)


def test_one_rule_exactly() -> None:
    with pytest.raises(ValueError):
        Router()
    with pytest.raises(ValueError):
        Router(field="x", weights={"a": 1})
