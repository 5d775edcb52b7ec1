"""The batch manifest: saved atomically, reloaded, checked to belong to the same job."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streaminfer.operators.batch_manifest import Manifest, ManifestMismatch
from streaminfer.operators.batch_units import Unit

UNITS = [Unit(f"part-0000{i}", "topic", "t", partition=0, start=i * 10, end=i * 10 + 10,
              rows=10) for i in range(3)]


def test_a_saved_manifest_reloads_with_its_progress(tmp_path: Path) -> None:
    path = tmp_path / "out" / "_manifest.json"
    manifest = Manifest.new(path, {"input": "kafka:t"}, UNITS)
    manifest.mark_done("part-00001", rows=10, predictions=9, dead_letters=1)
    manifest.save()
    again = Manifest.load(path)
    assert again is not None
    assert again.units == UNITS
    assert [u.key for u in again.pending()] == ["part-00000", "part-00002"]
    assert again.totals() == {"rows": 10, "predictions": 9, "dead_letters": 1}
    assert [p.name for p in path.parent.iterdir()] == ["_manifest.json"]  # no temporary left


def test_a_manifest_from_before_the_rename_reads_its_rejects_as_dead_letters(
    tmp_path: Path,
) -> None:
    path = tmp_path / "_manifest.json"
    manifest = Manifest.new(path, {"input": "kafka:t"}, UNITS)
    manifest.mark_done("part-00001", rows=10, predictions=9, dead_letters=1)
    manifest.save()
    path.write_bytes(path.read_bytes().replace(b'"dead_letters"', b'"rejects"'))
    assert b'"rejects": 1' in path.read_bytes()  # as streaminfer wrote it before 2026-12-06
    again = Manifest.load(path)
    assert again is not None
    again.mark_done("part-00002", rows=10, predictions=10, dead_letters=0)
    assert again.totals() == {"rows": 20, "predictions": 19, "dead_letters": 1}


def test_no_manifest_is_none_and_garbage_is_refused(tmp_path: Path) -> None:
    assert Manifest.load(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("{half")
    with pytest.raises(ManifestMismatch, match="not a manifest"):
        Manifest.load(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text('{"version": 0}')
    with pytest.raises(ManifestMismatch, match="version-1"):
        Manifest.load(tmp_path / "old.json")


def test_another_job_in_the_same_output_is_refused(tmp_path: Path) -> None:
    manifest = Manifest.new(tmp_path / "m.json", {"input": "a.parquet", "pipeline": "p"}, UNITS)
    manifest.check_identity({"input": "a.parquet", "pipeline": "p"})
    with pytest.raises(ManifestMismatch, match=re.escape("input was 'a.parquet', now 'b.parquet'")):
        manifest.check_identity({"input": "b.parquet", "pipeline": "p"})
