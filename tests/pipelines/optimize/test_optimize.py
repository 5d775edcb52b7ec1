"""``optimize`` on real models: every reported number is recomputed from the variant's file,
destructive pruning is rejected, fp16 is valid though untimed, and the linear model's
inapplicable techniques say why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from streaminfer.operators.labelled_rows import LabelledRows
from streaminfer.operators.model_runner import read_model_file, sha256_hex
from streaminfer.operators.quality import classifier_metrics
from streaminfer.pipelines.optimize.registration import register_variant
from streaminfer.pipelines.optimize.report import reasons, table, write_json, write_png
from streaminfer.pipelines.optimize.run import Report, register_best
from streaminfer.pipelines.optimize.timing import Speed

Run = tuple[Report, Path, LabelledRows]
# int8 and fp16 probabilities sum to one only roughly; scikit-learn's log loss says so.
pytestmark = pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")
TECHNIQUES = {"none", "graph-optimization", "int8-dynamic", "int8-static", "fp16",
              "magnitude-pruning", "structured-pruning"}


def recomputed(path: str, rows: LabelledRows, classes: list[int]) -> tuple[dict, np.ndarray]:
    """The file's metrics on the rows (checked against its .sha256) and its probabilities."""
    session = ort.InferenceSession(read_model_file(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = dict(zip(names, session.run(None, {session.get_inputs()[0].name: rows.X}),
                      strict=True))
    proba = values["probabilities"].astype(np.float64)
    return classifier_metrics(rows.y, proba, classes), proba


@pytest.mark.parametrize("run_name", ["digits_run", "linear_run"])
def test_every_reported_delta_and_agreement_equals_a_recomputation(
    run_name: str, request: pytest.FixtureRequest
) -> None:
    report, _, rows = request.getfixturevalue(run_name)
    assert {v.technique for v in report.variants} == TECHNIQUES
    classes = sorted(np.unique(rows.y).tolist())
    base, base_proba = recomputed(report.variant("original").file, rows, classes)
    checked = 0
    for v in report.variants:
        if v.status in ("skipped", "failed"):
            continue
        metrics, proba = recomputed(v.file, rows, classes)
        for name in ("accuracy", "roc_auc", "f1"):
            if not np.isnan(base[name]):
                assert v.delta[name] == pytest.approx(metrics[name] - base[name], abs=1e-12)
        expected = np.mean(np.argmax(proba, 1) == np.argmax(base_proba, 1))
        assert v.agreement == pytest.approx(expected, abs=1e-12), v.name
        assert v.size_bytes == Path(v.file).stat().st_size
        assert v.sha256 == sha256_hex(Path(v.file).read_bytes())
        checked += 1
    assert checked >= 5


def test_the_mlp_gets_every_technique_and_destructive_pruning_is_rejected(digits_run: Run) -> None:
    report, _, _ = digits_run
    assert report.kind == "classifier" and report.primary_metric == "accuracy"
    statuses = {v.name: v.status for v in report.variants}
    assert not [n for n, s in statuses.items() if s in ("skipped", "failed")], reasons(report)
    destroyed = report.variant("structured-95")
    assert destroyed.status == "rejected" and destroyed.loss > report.max_loss
    assert "loses" in destroyed.reason
    assert destroyed.size_bytes < report.variant("original").size_bytes / 10  # really shrunk
    for v in report.variants:
        if v.status in ("accepted", "rejected"):
            assert (v.status == "accepted") == (v.loss <= report.max_loss), v.name
    assert any(v.pareto for v in report.variants)


def test_fp16_is_valid_and_marked_not_measured_without_a_gpu(digits_run: Run) -> None:
    report, _, _ = digits_run
    v = report.variant("fp16")
    onnx.checker.check_model(onnx.load(v.file))
    assert v.metrics and isinstance(v.speed["cpu"], str)
    if "cuda" not in report.devices:
        assert "not measured here" in str(v.speed["cuda"])


def test_speeds_cover_batch_one_and_the_ranking_batch(digits_run: Run) -> None:
    report, _, _ = digits_run
    original = report.variant("original").speed["cpu"]
    assert isinstance(original, Speed)
    assert original.latency_ms_b1 > 0 and original.rows_per_s[256] > 0
    assert report.variant("original").speedup == 1.0


def test_the_linear_model_skips_what_cannot_apply_and_says_why(linear_run: Run) -> None:
    report, _, _ = linear_run
    for v in report.variants:
        if v.technique in ("int8-dynamic", "int8-static", "magnitude-pruning"):
            assert v.status == "skipped" and "no MatMul/Gemm" in v.reason, v
        elif v.technique == "structured-pruning":
            assert v.status == "skipped" and "hidden layer" in v.reason
        else:
            assert v.status in ("original", "accepted"), (v.name, v.reason)
            assert v.agreement == 1.0 or v.technique == "fp16"


def test_report_json_png_and_table(digits_run: Run, tmp_path: Path) -> None:
    report, _, _ = digits_run
    written = json.loads(write_json(report, tmp_path / "r.json").read_text())
    assert [v["name"] for v in written["variants"]] == [v.name for v in report.variants]
    assert written["variants"][0]["speed"]["cpu"]["rows_per_s"]["256"] > 0
    png = write_png(report, tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert table(report).row_count == len(report.variants)


def test_register_stores_a_variant_with_its_lineage_and_counts_versions(
    digits_run: Run,
) -> None:
    report, _, _ = digits_run
    variant = report.variant("int8-dynamic")
    measured = {"agreement": variant.agreement, "delta": variant.delta}
    where = Path(register_variant("digits-test", Path(variant.file), parent="digits@sha256:ab",
                                  technique=variant.technique, settings=variant.settings,
                                  measured=measured))
    assert where.read_bytes() == Path(variant.file).read_bytes()
    read_model_file(where)  # its .sha256 file matches
    meta = json.loads((where.parent / "metadata.json").read_text())
    assert meta["lineage"] == {"parent": "digits@sha256:ab", "technique": "int8-dynamic",
                               "settings": {"per_channel": False}, "source_file": variant.file}
    assert meta["measured"] == json.loads(json.dumps(measured))
    assert meta["sha256"] == variant.sha256 and where.parent.name == meta["version"]
    again = Path(register_variant("digits-test", Path(variant.file), parent="p", technique="t",
                                  settings={}, measured={}))
    assert int(again.parent.name) == int(where.parent.name) + 1


def test_register_best_takes_the_chosen_variant_or_nothing(digits_run: Run) -> None:
    report, _, _ = digits_run
    accepted = {v.name: v.speedup for v in report.variants if v.status == "accepted"}
    faster = {name for name, speedup in accepted.items() if speedup and speedup > 1.0}
    assert (report.chosen is None) == (not faster)
    where = register_best(report, "digits-best")
    if report.chosen is None:
        assert where is None
    else:
        assert report.chosen in faster
        assert accepted[report.chosen] == max(accepted[n] for n in faster)
        meta = json.loads((Path(where).parent / "metadata.json").read_text())
        assert meta["lineage"]["parent"] == f"{report.model}@sha256:{report.model_sha256}"
        assert meta["lineage"]["technique"] == report.variant(report.chosen).technique
