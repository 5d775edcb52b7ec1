"""Part files appear whole or not at all; dead letters keep the original value and the
reasons, in ``dead_letters/`` (``rejects/`` where an older job made it)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from streaminfer.operators.dead_letter import DeadLetter, dead_letter
from streaminfer.operators.records import RecordError, SourceRecord
from streaminfer.pipelines.batch.outputs import (
    OutputFormat,
    PartFiles,
    TopicUnit,
    dead_letter_line,
    remove_temporaries,
)
from streaminfer.pipelines.kafka.memory import MemorySink
from streaminfer.pipelines.kafka.sink import SinkError
from streaminfer.pipelines.spec.delivery_spec import DeliverySpec

PREDICTIONS = [(None, orjson.dumps({"id": f"e{i}", "label": i % 2})) for i in range(5)]


def _letter(value: bytes | None) -> DeadLetter:
    record = SourceRecord("f.jsonl", 0, 7, 0, b"k", value)
    return dead_letter(record, RecordError("invalid_json", "not valid JSON", "decode"))


def test_parts_are_hidden_until_commit_then_renamed(tmp_path: Path) -> None:
    formats: tuple[OutputFormat, ...] = ("parquet", "jsonl")
    for index, fmt in enumerate(formats):
        part = PartFiles(tmp_path, f"part-0000{index}", fmt)
        part.add(PREDICTIONS, [_letter(b"{oops")])
        assert not part.final.exists() and not part.dead_letters_final.exists()
        part.commit()
        assert not part.temp.exists() and not part.dead_letters_temp.exists()
        if fmt == "parquet":
            assert pq.read_table(part.final).column("id").to_pylist() == [
                f"e{i}" for i in range(5)]
        else:
            assert [orjson.loads(line)["id"] for line in part.final.read_bytes().splitlines()] \
                == [f"e{i}" for i in range(5)]
        (line,) = part.dead_letters_final.read_bytes().splitlines()
        assert orjson.loads(line)["value"] == "{oops"
        assert part.dead_letters_final.parent == tmp_path / "dead_letters"


def test_an_output_an_older_job_started_keeps_its_rejects_folder(tmp_path: Path) -> None:
    (tmp_path / "rejects").mkdir()  # as streaminfer named it before 2026-12-06
    (tmp_path / "rejects" / ".part-00000.jsonl.tmp-1").write_bytes(b"half")
    part = PartFiles(tmp_path, "part-00001", "jsonl")
    part.add(PREDICTIONS, [_letter(b"{oops")])
    part.commit()
    assert part.dead_letters_final == tmp_path / "rejects" / "part-00001.jsonl"
    assert part.dead_letters_final.exists() and not (tmp_path / "dead_letters").exists()
    assert remove_temporaries(tmp_path) == [tmp_path / "rejects" / ".part-00000.jsonl.tmp-1"]


def test_an_aborted_or_abandoned_part_leaves_nothing_under_a_final_name(tmp_path: Path) -> None:
    aborted = PartFiles(tmp_path, "part-00000", "jsonl")
    aborted.add(PREDICTIONS, [_letter(b"x")])
    aborted.abort()
    abandoned = PartFiles(tmp_path, "part-00001", "jsonl")  # a killed process leaves it
    abandoned.add(PREDICTIONS, [_letter(b"x")])
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        [abandoned.temp.name, abandoned.dead_letters_temp.name])
    assert sorted(remove_temporaries(tmp_path)) == sorted([abandoned.temp,
                                                           abandoned.dead_letters_temp])
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_dead_letter_line_holds_the_value_and_the_dead_letter_headers() -> None:
    line = orjson.loads(dead_letter_line(_letter(b"\xff\xfe")))
    assert line["key"] == "k" and "value" not in line and line["value_base64"] == "//4="
    assert line["headers"]["error.type"] == "invalid_json"
    assert line["headers"]["source.offset"] == "7"
    assert orjson.loads(dead_letter_line(_letter(None)))["value"] is None


def test_a_topic_unit_is_sent_again_in_full_after_a_refusal_then_acknowledged() -> None:

    sink = MemorySink()
    unit = TopicUnit(sink, "preds", "rejects", DeliverySpec(attempts=3, backoff_s=(0.0,)))
    unit.add(PREDICTIONS[:3], [_letter(b"nope")])
    unit.add(PREDICTIONS[3:], [])
    sink.refuse(2)
    unit.commit()
    assert sink.values("preds") == [v for _, v in PREDICTIONS]  # each once: refused = lost
    assert sink.values("rejects") == [b"nope"] and sink.waits == 3


def test_a_topic_unit_sends_again_only_what_was_not_acknowledged() -> None:

    sink = MemorySink()
    unit = TopicUnit(sink, "preds", "rejects", DeliverySpec(attempts=3, backoff_s=(0.0,)))
    unit.add(PREDICTIONS[:3], [_letter(b"nope")])
    sink.refuse(1, where=lambda sent: sent.value == PREDICTIONS[1][1])
    unit.add(PREDICTIONS[3:], [])
    unit.commit()
    assert sorted(sink.values("preds")) == sorted(v for _, v in PREDICTIONS)  # each once
    assert sink.values("rejects") == [b"nope"] and sink.waits == 2 and sink.refused == 1
    assert dict(sink.topics["rejects"][0].headers)["error.type"] == b"invalid_json"


def test_a_topic_unit_still_refused_after_the_policys_attempts_fails() -> None:

    sink = MemorySink()
    unit = TopicUnit(sink, "preds", "rejects", DeliverySpec(attempts=2, backoff_s=(0.0,)))
    unit.add(PREDICTIONS, [])
    sink.refuse(None)
    with pytest.raises(SinkError):
        unit.commit()
    assert sink.waits == 2 and sink.values("preds") == []
