"""``optimize`` on real models: every reported number is recomputed from the variant's file,
destructive pruning is rejected, fp16 is valid though untimed, and the linear model's
inapplicable techniques say why."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from streaminfer.errors import ConfigError, RegistryError
from streaminfer.operators.labelled_rows import LabelledRows
from streaminfer.operators.model_runner import OnnxModel, read_model_file, sha256_hex
from streaminfer.operators.profile import Profile, profile_path
from streaminfer.operators.quality import classifier_metrics
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Registry
from streaminfer.pipelines.online.drift_monitor import load_profile
from streaminfer.pipelines.optimize.compare import MIN_GAIN
from streaminfer.pipelines.optimize.plot import write_png
from streaminfer.pipelines.optimize.recipes import Inputs, Recipe
from streaminfer.pipelines.optimize.registration import open_model, register_best
from streaminfer.pipelines.optimize.report import reasons, table, write_json
from streaminfer.pipelines.optimize.run import Report
from streaminfer.pipelines.optimize.timing import Speed
from streaminfer.pipelines.optimize.variants import build_variant
from streaminfer.pipelines.spec.model_spec import ModelSpec

Run = tuple[Report, Path, LabelledRows]
# int8 and fp16 probabilities sum to one only roughly; scikit-learn's log loss says so.
pytestmark = pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")
TECHNIQUES = {"none", "graph-optimization", "int8-dynamic", "int8-static", "fp16",
              "magnitude-pruning", "structured-pruning", "channel-pruning"}


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
    assert checked >= (5 if run_name == "digits_run" else 4)  # the linear: original, graph-*


def test_the_mlp_gets_every_technique_and_destructive_pruning_is_rejected(digits_run: Run) -> None:
    report, _, _ = digits_run
    assert report.kind == "classifier" and report.primary_metric == "accuracy"
    statuses = {v.name: v.status for v in report.variants if v.technique != "channel-pruning"}
    assert not [n for n, s in statuses.items() if s in ("skipped", "failed")], reasons(report)
    for v in report.variants:  # an MLP has no convolution
        if v.technique == "channel-pruning":
            assert v.status == "skipped" and "no convolution" in v.reason
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
        elif v.technique == "channel-pruning":
            assert v.status == "skipped" and "no convolution" in v.reason
        elif v.technique == "fp16":
            assert v.status == "skipped" and "no float16 kernels" in v.reason
        else:
            assert v.status in ("original", "accepted"), (v.name, v.reason)
            assert v.agreement == 1.0


def test_a_variant_that_does_not_load_leaves_no_file(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset],
    tmp_path: Path,
) -> None:
    def broken(model: bytes, inputs: Inputs) -> bytes:  # a valid graph ONNX Runtime refuses
        proto = onnx.load_model_from_string(model)
        proto.graph.node[0].op_type = "NoSuchOperator"
        return bytes(proto.SerializeToString())

    X = dataset_factory("breast_cancer").X[:20].astype(np.float32)
    built = build_variant(Recipe("broken", "none", make=broken),
                          model_factory("breast_cancer").read_bytes(),
                          Inputs({"X": X}), {"X": X}, tmp_path, threads=1)
    assert built.status == "failed" and built.reason.startswith("does not run on ONNX Runtime")
    assert built.path is None and list(tmp_path.iterdir()) == []


def test_report_json_png_and_table(digits_run: Run, tmp_path: Path) -> None:
    report, _, _ = digits_run
    written = json.loads(write_json(report, tmp_path / "r.json").read_text())
    assert [v["name"] for v in written["variants"]] == [v.name for v in report.variants]
    assert written["variants"][0]["speed"]["cpu"]["rows_per_s"]["256"] > 0
    png = write_png(report, tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert table(report).row_count == len(report.variants)


def test_register_puts_a_variant_into_the_registry_with_its_lineage(
    digits_run: Run, registry: Registry,
) -> None:
    report, _, _ = digits_run
    origin = open_model(report.model, registry)  # a file: its sha256 in the lineage
    assert (origin.sha256, origin.name, origin.version) == (report.model_sha256, "digits_mlp",
                                                           None)
    chosen = replace(report, chosen="int8-dynamic")
    variant = chosen.variant("int8-dynamic")
    version = register_best(chosen, origin, registry, "digits-test")
    assert version is not None and chosen.registered == version.uri == "models:/digits-test/1"
    found = registry.resolve("digits-test", "challenger")
    assert (found.version, found.sha256) == ("1", variant.sha256)
    assert found.tags["produced_by"] == "optimize" and "parent_version" not in found.tags
    assert found.tags["parent_file"] == str(Path(report.model).resolve())
    assert found.tags["parent_sha256"] == report.model_sha256
    assert found.tags["technique"] == "int8-dynamic" and found.tags["gate"] == "passed"
    assert json.loads(found.tags["settings"]) == variant.settings == {"per_channel": False}
    metrics = registry.metrics(found)
    cpu = variant.speed["cpu"]
    assert isinstance(cpu, Speed) and variant.loss is not None
    assert metrics["accuracy"] == variant.metrics["accuracy"]
    assert metrics["delta.accuracy"] == variant.delta["accuracy"]
    assert (metrics["loss"], metrics["agreement"]) == (variant.loss, variant.agreement)
    assert metrics["size_bytes"] == variant.size_bytes
    assert metrics["cpu.rows_per_s.b256"] == cpu.rows_per_s[256]
    assert metrics["cpu.latency_ms.b1"] == cpu.latency_ms_b1
    fetched = registry.fetch(found)
    assert fetched.read_bytes() == Path(variant.file).read_bytes()
    # the original's training profile, addressed to the variant: drift works for it
    profile = Profile.read(profile_path(fetched))
    assert profile.model_sha256 == variant.sha256
    assert profile.features == Profile.read(profile_path(report.model)).features
    assert profile.extra["profiled_model_sha256"] == report.model_sha256
    served = ModelSpec(path=fetched)
    assert load_profile(served, OnnxModel.load(fetched).info, None) == profile
    again = register_best(chosen, origin, registry, "digits-test", alias=None)
    assert again is not None and again.version == "2"
    assert registry.aliases("digits-test") == {"challenger": "1"}


def test_a_bad_model_reference_is_one_line(registry: Registry) -> None:
    with pytest.raises(ConfigError, match="is not a registry reference"):
        open_model("models:/digits", registry)
    with pytest.raises(RegistryError, match="models:/nothing@champion"):
        open_model("models:/nothing@champion", registry)


def test_register_best_takes_the_chosen_variant_or_nothing(
    digits_run: Run, registry: Registry,
) -> None:
    report, _, _ = digits_run
    accepted = {v.name: v.speedup for v in report.variants if v.status == "accepted"}
    # faster than the original by more than the noise margin (compare.choose)
    faster = {name for name, speedup in accepted.items() if speedup and speedup > 1 + MIN_GAIN}
    if not faster:
        assert report.chosen is None and "the original is kept" in report.why
    origin = open_model(report.model, registry)
    version = register_best(replace(report), origin, registry, "digits-best")
    if report.chosen is None:
        assert version is None and registry.names() == []
    else:
        assert version is not None
        assert report.chosen in faster
        assert accepted[report.chosen] == max(s or 0.0 for s in accepted.values())
        assert f"{report.chosen}, the fastest accepted variant" in report.why
        assert version.tags["variant"] == report.chosen
        assert version.tags["technique"] == report.variant(report.chosen).technique
