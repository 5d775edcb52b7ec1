"""Pictures: images/s of one pipeline worker, colocated and on Ray Serve, against a
hand-written loop, in the same run.

The events are the apples_oranges example's (configs/pictures.yaml): procedural pictures of
apples and oranges, enlarged to ``--pixels`` square and sent as base64 JPEG in ``image``.
From the same filled topic:

- ``bare``: one process written by hand (this file run with ``bare``): kafka-python consume,
  ``orjson.loads``, base64, Pillow decode, EXIF orientation, RGB, centre crop resized to
  32x32 (bilinear), ``(pixel / 255 - 0.5) / 0.25`` as float32 NCHW, one ONNX Runtime call per
  poll, class names and top-2, produce, flush, commit;
- ``pipeline_1w``: streaminfer, one source worker, the model in-process (the config's
  ``model`` section: ``inputs.image.picture``, ``outputs``, ``postprocess``);
- ``serve_1w_1r``: the same with ``serving: serve``, one replica (the worker decodes, the
  replica runs the CNN);
- with ``--int8 PATH`` (a quantized apples_oranges, e.g. from ``streaminfer optimize``):
  ``pipeline_1w_int8``, and the CNN alone on batches of 64, fp32 against int8.

Every contestant is timed from the delivery of its first batch (of up to 256) to that of
its last, over all its events, as ``throughput.Streaming`` times a pipeline: give a few
thousand events, or the first batch weighs. Rounds alternate the contestants; each figure
is the median over rounds; ratios are pipeline/bare, of the medians and round by round.
Prints JSON; ``--plot FILE.png`` draws it. Keep it short on a shared machine:

    python benchmarks/pictures.py [--events 5000] [--rounds 3] [--int8 m.int8.onnx] [--plot p.png]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

HERE = Path(__file__).resolve().parent
CONFIG = HERE.parent / "configs" / "pictures.yaml"


def bare(argv: list[str]) -> None:
    """The hand-written loop: ``bare BOOTSTRAP TOPIC OUT_TOPIC MODEL COUNT``; prints one JSON
    line at the end."""
    import onnxruntime as ort
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    from PIL import Image, ImageOps

    bootstrap, topic, out_topic, model_path, count = argv
    total = int(count)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"bare-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=256,
        fetch_max_wait_ms=10)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2,
                             batch_size=256 * 1024)
    classes = ("apple", "orange")

    def tensor(text: str) -> np.ndarray:
        image = Image.open(io.BytesIO(base64.b64decode(text)))
        image = (ImageOps.exif_transpose(image) or image).convert("RGB")
        w, h = image.size
        side = min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        pixels = np.asarray(image.resize((32, 32), Image.Resampling.BILINEAR, box=box),
                            dtype=np.float32)
        return ((pixels / 255 - 0.5) / 0.25).transpose(2, 0, 1)

    done, started = 0, None
    while done < total:
        records = [r for rs in consumer.poll(timeout_ms=100, max_records=256).values()
                   for r in rs]
        if not records:
            continue
        events = [orjson.loads(r.value) for r in records]
        feed = np.stack([tensor(e["image"]) for e in events])
        labels, probabilities = session.run(None, {"image": feed})
        now_ms = int(time.time() * 1000)
        for record, event, label, scores in zip(records, events, labels.tolist(),
                                                probabilities.tolist(), strict=True):
            order = sorted(range(len(scores)), key=lambda i: -scores[i])
            value = {"id": event["id"], "fruit": classes[label], "probabilities": scores,
                     "top_k": [{"label": classes[i], "score": scores[i]} for i in order],
                     "latency_ms": now_ms - record.timestamp, "ts": now_ms}
            producer.send(out_topic, key=record.key, value=orjson.dumps(value))
        producer.flush()
        consumer.commit({TopicPartition(r.topic, r.partition): OffsetAndMetadata(
            r.offset + 1, "", -1) for r in records})
        done += len(records)
        if started is None:  # timed as the pipeline is: from its first batch's delivery
            started = time.perf_counter()
    seconds = max(time.perf_counter() - (started or time.perf_counter()), 1e-6)
    consumer.close()
    producer.close()
    print(json.dumps({"events": done, "seconds": round(seconds, 3),
                      "events_per_s": round(done / seconds, 1)}))


def model_section() -> dict[str, Any]:
    model: dict[str, Any] = yaml.safe_load(CONFIG.read_text())["model"]
    return {key: model[key] for key in ("inputs", "outputs", "postprocess")}


def make_events(count: int, pixels: int) -> list[bytes]:
    """``count`` events cycling over up to 256 distinct pictures, JPEG of ``pixels`` square."""
    from PIL import Image

    from streaminfer.pipelines.devtools.example_pictures import fruit_pictures

    pictures, _ = fruit_pictures(min(count, 256), seed=11)
    texts = []
    for picture in pictures:
        out = io.BytesIO()
        Image.fromarray(picture, "RGB").resize((pixels, pixels), Image.Resampling.BICUBIC) \
            .save(out, "JPEG", quality=90)
        texts.append(base64.b64encode(out.getvalue()).decode("ascii"))
    return [orjson.dumps({"id": f"p{i}", "image": texts[i % len(texts)]})
            for i in range(count)]


def model_only(fp32: Path, int8: Path, events: list[bytes], repeats: int = 30) -> dict[str, Any]:
    """The CNN alone on one batch of 64 decoded pictures: best of ``repeats``, ms."""
    import onnxruntime as ort

    from streaminfer.operators.pictures import decode_picture, preprocess
    from streaminfer.pipelines.spec.picture_spec import PictureSpec

    config = PictureSpec.model_validate(model_section()["inputs"]["image"]["picture"]).operator()
    batch = np.stack([preprocess(decode_picture(orjson.loads(e)["image"], config, "image"),
                                 config, np.float32, (32, 32)) for e in events[:64]])
    best = {}
    for name, path in (("fp32", fp32), ("int8", int8)):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            session.run(None, {"image": batch})
            times.append(time.perf_counter() - started)
        best[f"{name}_ms_per_64"] = round(min(times) * 1000, 3)
    best["speedup"] = round(best["fp32_ms_per_64"] / best["int8_ms_per_64"], 2)
    return best


def measure(args: argparse.Namespace, bootstrap: str, model: Path) -> dict[str, Any]:
    from inputs import count_records
    from serving import served
    from throughput import PARTITIONS, Streaming, drop_topics, produce, uid

    from streaminfer.pipelines.kafka.topics import ensure_topics

    config = {"bootstrap_servers": [bootstrap]}
    events = make_events(args.events, args.pixels)
    source = uid("pictures")
    ensure_topics(config, {source: PARTITIONS}, create_missing=True)
    produce(config, source, events, rate=None)
    section = model_section()
    contestants = [
        Streaming(bootstrap, model, None, 1, section, name="pipeline_1w"),  # type: ignore[arg-type]
        Streaming(bootstrap, model, None, 1, {**section, **served(1)},  # type: ignore[arg-type]
                  name="serve_1w_1r"),
    ]
    if args.int8:
        contestants.append(Streaming(bootstrap, args.int8, None, 1,  # type: ignore[arg-type]
                                     section, name="pipeline_1w_int8"))
    runs: dict[str, list[float]] = {"bare": [], **{c.name: [] for c in contestants}}
    for _ in range(args.rounds):
        runs["bare"].append(run_bare(bootstrap, source, model, args.events))
        for contestant in contestants:
            out = uid("pictures-out")
            result = contestant.run(source, out, args.events)
            scored = count_records(config, out)
            drop_topics(config, [out])
            if scored != args.events:  # every picture is valid: each one predicted
                raise RuntimeError(f"{contestant.name}: {scored} predictions of "
                                   f"{args.events} pictures")
            runs[contestant.name].append(result["events_per_s"])
        print(" ".join(f"{k} {v[-1]}" for k, v in runs.items()), file=sys.stderr)
    drop_topics(config, [source])
    medians = {k: statistics.median(v) for k, v in runs.items()}
    report: dict[str, Any] = {
        "events": args.events, "pixels": args.pixels, "runs": runs, "images_per_s": medians,
        "ratio_to_bare": {k: round(v / medians["bare"], 3) for k, v in medians.items()
                          if k != "bare"},
        "ratio_by_round": ratio_by_round(runs)}
    if args.int8:
        report["int8"] = {"pipeline_speedup": round(medians["pipeline_1w_int8"]
                                                    / medians["pipeline_1w"], 2),
                          "model_only": model_only(model, args.int8, events)}
    return report


def ratio_by_round(runs: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Each contestant's images/s over the bare loop's of the same round: the median, the
    lowest and the highest (on a shared machine a round's load moves both)."""
    out = {}
    for name, rates in runs.items():
        if name != "bare":
            ratios = [rate / bare for rate, bare in zip(rates, runs["bare"], strict=True)]
            out[name] = {"median": round(statistics.median(ratios), 3),
                         "min": round(min(ratios), 3), "max": round(max(ratios), 3)}
    return out


def run_bare(bootstrap: str, topic: str, model: Path, count: int) -> float:
    """The bare loop's images/s (this file run with ``bare``, in its own process)."""
    from throughput import uid

    proc = subprocess.run(
        [sys.executable, __file__, "bare", bootstrap, topic, uid("bare-out"), str(model),
         str(count)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"bare loop failed: {proc.stderr[-2000:]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["events_per_s"])


def main() -> None:
    if sys.argv[1:2] == ["bare"]:
        bare(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pixels", type=int, default=128,
                        help="side of the square JPEG pictures sent (the CNN takes 32x32)")
    parser.add_argument("--int8", type=Path, help="a quantized apples_oranges.onnx")
    parser.add_argument("--model-dir", type=Path,
                        default=Path(sys.prefix).parent / "build" / "bench-models",
                        help="where the example model is built (once)")
    parser.add_argument("--plot", type=Path, help="draw the figures into this png")
    args = parser.parse_args()

    import psutil
    import ray

    from streaminfer.pipelines.devtools.example_models import build
    from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker

    sys.path.insert(0, str(HERE))
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    model = build("apples_oranges", args.model_dir)
    # Logical CPUs: the worker and the replica reserve fractions of these.
    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             num_cpus=8)
    with EmbeddedBroker() as broker:
        measured = measure(args, broker.bootstrap_servers, model)
    ray.shutdown()
    from serving import served

    report = {"machine": {"cpus": psutil.cpu_count(), "rounds": args.rounds, "workers": 1,
                          "serve": served(1)["serve"]}, **measured}
    print(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["images_per_s"])
    values = [report["images_per_s"][n] for n in names]
    fig, axis = plt.subplots(figsize=(7, 4))
    bars = axis.bar(names, values, color=["grey"] + ["tab:blue"] * (len(names) - 1))
    for bar, name in zip(bars, names, strict=True):
        ratio = report["ratio_to_bare"].get(name)
        if ratio is not None:
            axis.annotate(f"{ratio:.2f}x bare", (bar.get_x() + bar.get_width() / 2,
                                                 bar.get_height()), ha="center", va="bottom")
    axis.set_ylabel("images/s (one worker)")
    axis.set_title(f"{report['pixels']}px JPEG pictures, {report['events']} a round, "
                   f"median of {report['machine']['rounds']}")
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
