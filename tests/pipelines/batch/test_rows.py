"""CSV files read as the batch reads them: a bad cell makes a dead letter of its row only,
naming its field and line; a row with the wrong number of columns is one with its line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pcsv

from streaminfer.operators.batch_units import Unit
from streaminfer.operators.dead_letter import DeadLetter
from streaminfer.pipelines.batch.rows import read_table
from streaminfer.pipelines.devtools.example_models import Dataset
from tests.pipelines.batch.conftest import dataset_rows


def headers(letter: DeadLetter) -> dict[str, str]:
    return {k: v.decode() for k, v in letter.headers}


def test_a_bad_cell_dead_letters_its_row_only_and_names_its_field(
    dataset_factory: Callable[[str], Dataset], tmp_path: Path,
) -> None:
    dataset = dataset_factory("breast_cancer")
    rows = dataset_rows(dataset, 2_000)
    path = tmp_path / "rows.csv"
    pcsv.write_csv(pa.Table.from_pylist(rows), path)
    lines = path.read_text().splitlines()  # lines[0] is line 1, the header; row e<i> is line i + 2
    third, fifth = dataset.features[2], dataset.features[4]

    def cell(line: str, column: int, text: str) -> str:
        cells = line.split(",")
        cells[column] = text
        return ",".join(cells)

    at = {name: lines[0].split(",").index(f'"{name}"') for name in (third, fifth)}
    lines[10] = cell(lines[10], at[third], "n/a?")  # row e9
    lines[1500] = cell(lines[1500], at[third], "1.2.3")  # row e1499
    lines[700] = cell(lines[700], at[fifth], "abc")  # row e699
    lines[300] = lines[300] + ",7"  # row e299: one column too many
    path.write_text("\n".join(lines) + "\n")

    table, first, letters = read_table(Unit("u", "csv", str(path)), 0,
                                       numeric=dataset.features)

    assert first == 0 and table.num_rows == 1_996
    assert all(pa.types.is_floating(table.schema.field(f).type) for f in (third, fifth))
    kept = table.column("id").to_pylist()
    assert "e9" not in kept and "e699" not in kept and "e1499" not in kept and "e299" not in kept
    row = table.to_pylist()[kept.index("e10")]
    assert row[third] == rows[10][third] and row[fifth] == rows[10][fifth]
    found = sorted((int(headers(r)["source.offset"]), headers(r)["error.type"],
                    headers(r).get("error.field", "")) for r in letters)
    assert found == [(11, "non_numeric_feature", third), (301, "invalid_csv_row", ""),
                     (701, "non_numeric_feature", fifth), (1501, "non_numeric_feature", third)]
    by_line = {int(headers(r)["source.offset"]): r for r in letters}
    assert f"feature '{fifth}' is 'abc' on line 701, not a number" in \
        headers(by_line[701])["error.message"]
    assert orjson.loads(by_line[701].value or b"")[fifth] == "abc"
    assert (by_line[301].value or b"").decode().endswith(",7")
