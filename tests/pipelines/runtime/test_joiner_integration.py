"""The joiner on a real broker and a real Ray, behind a real pipeline scoring a real model:
every join case with exact counts, examples equal to their prediction and label, live metrics
equal to scikit-learn's, ``streaminfer status``, and a partition mismatch refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml
from sklearn import metrics as skm
from typer.testing import CliRunner

from streaminfer import Pipeline
from streaminfer.cli.commands import app
from streaminfer.errors import ConfigError
from streaminfer.pipelines.feedback.status import fetch_metrics, parse_status
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration


def by_id(records: list[Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        value = orjson.loads(record.value)
        out.setdefault(value["id"], []).append(value)
    return out


def test_every_join_case_is_handled_and_counted_exactly(
    feedback_pipeline: Any, produce: Any, make_events: Any, dataset_factory: Any,
    read_topic: Any, tmp_path: Path, label_records: Any, summary_of: Any,
) -> None:
    # short windows, so that expiry happens within the test (a join here takes < 1 s)
    rp = feedback_pipeline(prediction_wait_s=6, label_wait_s=6,
                           unmatched_topic=f"unmatched-{rp_tag()}")
    fb, pipe = rp.spec.feedback, rp.pipeline
    data = dataset_factory("breast_cancer")
    truth = {f"e{i}": int(data.y[i % len(data.y)]) for i in range(40)}

    # label before prediction: e20..e29's labels are read before their events are even sent
    early = [f"e{i}" for i in range(20, 30)]
    produce(fb.labels_topic, *label_records(early, [truth[i] for i in early]))
    assert wait_until(lambda: summary_of(pipe).records_in.get("label", 0) >= 10, 60)
    keys, values = make_events(data, 40)
    produce(rp.source_topic, values, keys)
    predictions = by_id(read_topic(rp.predictions_topic, 40))
    assert sorted(predictions) == sorted(truth)
    assert wait_until(lambda: summary_of(pipe).records_in.get("prediction", 0) >= 40, 60)

    # label after prediction: e0..e19; then a second, different label for e0..e4 (first wins);
    # labels for ids never predicted; and none at all for e30..e39
    late = [f"e{i}" for i in range(20)]
    produce(fb.labels_topic, *label_records(late, [truth[i] for i in late]))
    dupes = [f"e{i}" for i in range(5)]
    ghosts = [f"ghost{i}" for i in range(5)]
    produce(fb.labels_topic, *label_records(dupes + ghosts, [1 - truth[i] for i in dupes]
                                            + [1] * 5))
    produce(fb.labels_topic, [b"not json", b'{"id": "e7"}', b'["e8", 1]'],
            [b"e6", b"e7", b"e8"])  # counted as invalid, skipped, holding nothing back

    expected = {"label_after_prediction": 20, "label_before_prediction": 10,
                "expired_prediction": 10, "label_without_prediction": 5, "duplicate_label": 5}
    assert wait_until(lambda: all(summary_of(pipe).cases[c] >= n for c, n in expected.items()),
                      90), summary_of(pipe).cases
    summary = summary_of(pipe)
    assert {c: n for c, n in summary.cases.items() if n} == expected
    assert summary.pending == {"prediction": 0, "label": 0}
    assert summary.invalid == {"prediction": 0, "label": 3}
    assert wait_until(lambda: summary_of(pipe).examples_out == 30, 30)

    examples = by_id(read_topic(fb.training_topic, 30))
    assert sorted(examples) == sorted(late + early)
    check_examples(examples, predictions, truth, data)
    unmatched = by_id(read_topic(fb.unmatched_topic, 10))
    assert sorted(unmatched) == [f"e{i}" for i in range(30, 40)]
    assert all(unmatched[i] == predictions[i] for i in unmatched)
    check_live_metrics(rp, [e[0] for e in examples.values()], summary_of, tmp_path)


def check_examples(examples: dict[str, list[Any]], predictions: dict[str, list[Any]],
                   truth: dict[str, int], data: Any) -> None:
    """Each example once, equal to the prediction and label it came from."""
    for event_id, [example] in examples.items():
        prediction = predictions[event_id][0]
        outputs = {k: prediction[k] for k in ("label", "probabilities")}
        assert example == {
            "id": event_id, "features": prediction["features"], "label": truth[event_id],
            "outputs": outputs, "model": prediction["model"],
            "model_version": prediction["model_version"], "predicted_at": prediction["ts"],
            "labelled_at": example["labelled_at"],
            "label_delay_ms": example["labelled_at"] - prediction["ts"],
        }
        row = data.X[int(event_id[1:]) % len(data.X)]
        assert list(prediction["features"].values()) == pytest.approx(row.tolist())


def check_live_metrics(rp: Any, joined: list[dict[str, Any]], summary_of: Any,
                       tmp_path: Path) -> None:
    """Live metrics are scikit-learn's on the same joined examples, in the summary, in the
    gauges and in `streaminfer status`."""
    pipe = rp.pipeline
    y = np.array([e["label"] for e in joined])
    proba = np.array([e["outputs"]["probabilities"] for e in joined])
    predicted = proba.argmax(axis=1)
    key = (joined[0]["model"], joined[0]["model_version"])
    wanted = {"accuracy": skm.accuracy_score(y, predicted),
              "f1": skm.f1_score(y, predicted),
              "precision": skm.precision_score(y, predicted, zero_division=0),
              "recall": skm.recall_score(y, predicted, zero_division=0),
              "log_loss": skm.log_loss(y, np.clip(proba / proba.sum(axis=1, keepdims=True),
                                                  1e-15, 1), labels=[0, 1]),
              "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
              "examples": float(len(joined))}
    assert wait_until(
        lambda: summary_of(pipe).live.get(key, {}).get("examples") == len(joined), 30)
    live = summary_of(pipe).live[key]
    for metric, value in wanted.items():
        assert live[metric] == pytest.approx(value, abs=1e-9), metric
    assert metrics_url_status_matches(pipe, key, wanted)
    assert status_command_prints(rp.spec, pipe, tmp_path)


def rp_tag() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


def metrics_url_status_matches(pipe: Pipeline, key: tuple[str, str],
                               wanted: dict[str, float]) -> bool:
    """The driver's endpoint serves the same live numbers and the join counts."""
    url = pipe.metrics_url
    assert url is not None
    status = parse_status(fetch_metrics(url))
    assert status.feedback is not None
    live = status.feedback.live[key]
    assert all(live[m] == pytest.approx(v, abs=1e-9) for m, v in wanted.items())
    assert status.feedback.matched == 30 and status.predictions == 40
    return True


def status_command_prints(spec: Any, pipe: Pipeline, tmp_path: Path) -> bool:
    """``streaminfer status CONFIG`` against the running pipeline's port."""
    url = pipe.metrics_url
    assert url is not None
    data = spec.model_dump(mode="json", exclude_none=True)
    data["metrics"]["port"] = int(url.rsplit(":", 1)[1].split("/")[0])
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["status", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "30 joined" in result.output and "breast" in result.output
    return True


def test_a_labels_topic_with_another_partition_count_is_refused(
    pipeline_spec_factory: Any, topic_factory: Any, ray_session: None, fb_section: Any,
) -> None:
    labels_topic = topic_factory(2, prefix="labels")
    spec = pipeline_spec_factory(partitions=4, feedback=fb_section(
        labels_topic=labels_topic))
    with pytest.raises(ConfigError) as info:
        Pipeline(spec).start()
    message = str(info.value)
    assert labels_topic in message and "2 partition(s)" in message and "4" in message
    assert "\n" not in message


def test_a_training_topic_with_another_partition_count_is_refused(
    pipeline_spec_factory: Any, topic_factory: Any, ray_session: None, fb_section: Any,
) -> None:
    """A restarted joiner reads back what it joined from partition i of the training topic."""
    training_topic = topic_factory(2, prefix="examples")
    spec = pipeline_spec_factory(partitions=4, feedback=fb_section(
        training_topic=training_topic))
    with pytest.raises(ConfigError) as info:
        Pipeline(spec).start()
    message = str(info.value)
    assert f"feedback.training_topic {training_topic} has 2 partition(s)" in message
    assert "recreate" in message and "\n" not in message


def test_a_regressors_live_metrics_equal_sklearns_on_a_renamed_output(
    pipeline_factory: Any, fb_section: Any, produce: Any, dataset_factory: Any,
    read_topic: Any, label_records: Any, summary_of: Any,
) -> None:
    """configs/diabetes-regression.yaml publishes ``variable`` as ``progression``; with no
    ``feedback.live.value_field`` the live window still finds the value there, and its MAE,
    RMSE and R2 are scikit-learn's."""
    repo = Path(__file__).resolve().parents[3]
    outputs = yaml.safe_load((repo / "configs" / "diabetes-regression.yaml").read_text())[
        "model"]["outputs"]
    assert outputs == {"variable": "progression"}
    rp = pipeline_factory(model="diabetes", partitions=2, feedback=fb_section(),
                          model_options={"outputs": outputs},
                          batching={"max_size": 256, "max_wait_ms": 20})
    fb = rp.spec.feedback
    data = dataset_factory("diabetes")  # events {"id", "x": [10 numbers]}
    ids = [f"e{i}" for i in range(60)]
    produce(rp.source_topic, [orjson.dumps({"id": i, "x": data.X[n].tolist()})
                              for n, i in enumerate(ids)], [i.encode() for i in ids])
    produce(fb.labels_topic, *label_records(ids, [float(data.y[i]) for i in range(60)]))
    examples = [orjson.loads(r.value) for r in read_topic(fb.training_topic, 60)]
    assert sorted(e["id"] for e in examples) == sorted(ids)
    assert all(list(e["features"]) == [f"f{j}" for j in range(10)] for e in examples)
    assert all(set(e["outputs"]) == {"progression"} for e in examples)
    y = np.array([e["label"] for e in examples])
    predicted = np.array([e["outputs"]["progression"] for e in examples], dtype=np.float64)
    key = (examples[0]["model"], examples[0]["model_version"])
    assert wait_until(lambda: summary_of(rp.pipeline).live.get(key, {}).get("examples") == 60,
                      30), summary_of(rp.pipeline).live
    live = summary_of(rp.pipeline).live[key]
    assert live["mae"] == pytest.approx(skm.mean_absolute_error(y, predicted), abs=1e-9)
    assert live["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, predicted)),
                                         abs=1e-9)
    assert live["r2"] == pytest.approx(skm.r2_score(y, predicted), abs=1e-9)
