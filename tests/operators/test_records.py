"""RecordError crosses process boundaries (Serve replicas return them per row)."""

from __future__ import annotations

import pickle

from streaminfer.operators.records import RecordError


def test_a_record_error_survives_pickling_with_every_field() -> None:
    error = RecordError("model_error", "boom", "model", field="x")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, RecordError)
    assert (copy.error_type, copy.message, copy.stage, copy.field) == (
        "model_error", "boom", "model", "x")
    assert str(copy) == "boom"
