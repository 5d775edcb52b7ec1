"""The tour's files in examples/ are what tour_files writes: the fraud model's features, the
breast-cancer rows with their labels (so they cannot drift from the example models)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streaminfer.pipelines.devtools.example_models import FRAUD_FEATURES, breast_cancer
from streaminfer.pipelines.devtools.tour_files import BAD_EVERY, EVENTS, write_tour_files

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "examples"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tour")
    write_tour_files(folder)
    return folder


@pytest.mark.parametrize("name", ["events.jsonl", "labelled.csv"])
def test_the_shipped_text_files_are_the_generators(written: Path, name: str) -> None:
    assert (SHIPPED / name).read_bytes() == (written / name).read_bytes()


def test_the_shipped_history_is_the_generators(written: Path) -> None:
    from pyarrow import parquet

    shipped = sorted(path.name for path in (SHIPPED / "history").glob("*.parquet"))
    assert shipped == sorted(path.name for path in (written / "history").glob("*.parquet"))
    for name in shipped:
        table = parquet.read_table(SHIPPED / "history" / name)
        assert table.equals(parquet.read_table(written / "history" / name))
        assert set(FRAUD_FEATURES) <= set(table.column_names)


def test_events_carry_the_fraud_features_and_one_bad_amount_in_a_hundred(written: Path) -> None:
    events = [orjson.loads(line) for line in (written / "events.jsonl").read_bytes().splitlines()]
    assert len(events) == EVENTS and len({e["txn_id"] for e in events}) == EVENTS
    assert all(set(FRAUD_FEATURES) <= set(event) for event in events)
    bad = [e for e in events if isinstance(e["amount"], str)]
    assert len(bad) == EVENTS // BAD_EVERY


def test_labelled_rows_are_the_breast_cancer_rows(written: Path) -> None:
    import pandas as pd

    data = breast_cancer()
    frame = pd.read_csv(written / "labelled.csv")
    assert list(frame.columns) == [*data.features, "label"]
    assert (frame[data.features].to_numpy() == data.X).all()
    assert (frame["label"].to_numpy() == data.y).all()
