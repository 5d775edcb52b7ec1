"""The ``streaminfer`` command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import orjson
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from streaminfer.errors import BrokerError, ConfigError, StreamInferError
from streaminfer.pipelines.cli.cluster import app as cluster_app

app = typer.Typer(
    name="streaminfer", no_args_is_help=True, pretty_exceptions_enable=False,
    add_completion=False,
    help="Score Kafka events with ONNX models on Ray. Start with `streaminfer demo`.",
)
app.add_typer(cluster_app, name="cluster", help="Render cluster manifests; submit to Ray.")
err = Console(stderr=True)
out = Console()

ConfigArg = Annotated[Path, typer.Argument(help="Pipeline YAML file.")]
Servers = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--bootstrap-servers", "-b", help="Kafka host:port[,host:port].")
]
FromConfig = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--config", "-c", help="Take Kafka settings from this pipeline YAML."),
]


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", datefmt="[%X]",
        handlers=[RichHandler(console=err, show_path=False)], force=True,
    )
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    for noisy in ("ray", "filelock"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log Kafka and Ray too.")]
    = False,
) -> None:
    _logging(verbose)


@app.command("validate-config")
def validate_config(
    path: ConfigArg,
    model: Annotated[bool, typer.Option(help="Also load the model and check it fits.")] = True,
) -> None:
    """Check a pipeline YAML (and its model) without starting anything."""
    from streaminfer.pipelines.online.runtime import check
    from streaminfer.pipelines.spec.loader import load_spec

    spec = load_spec(path)
    detail = check(spec) if model else "model not checked"
    out.print(f"[green]ok[/green] {path}: pipeline {spec.name}: {escape(detail)}")


@app.command()
def schema(
    markdown: Annotated[bool, typer.Option(help="The Markdown reference instead.")] = False,
) -> None:
    """Print the pipeline YAML schema (JSON Schema, with a description of every field)."""
    from streaminfer.pipelines.spec.docs import markdown_reference
    from streaminfer.pipelines.spec.schema import PipelineSpec

    if markdown:
        sys.stdout.write(markdown_reference())
    else:
        out.print_json(json.dumps(PipelineSpec.model_json_schema()))


@app.command()
def run(
    path: ConfigArg,
    address: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Ray cluster address (ray://host:10001); default: the YAML's, "
                     "else a local Ray."),
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option(min=1, help="Override workers.count.")  # noqa: UP045
    ] = None,
    live: Annotated[bool, typer.Option(help="Show the live table.")] = True,
    max_events: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=1, help="Stop after this many events were read."),
    ] = None,
) -> None:
    """Run a pipeline in the foreground; Ctrl-C drains and stops it."""
    from streaminfer.api import Pipeline
    from streaminfer.pipelines.spec.loader import load_spec

    spec = load_spec(path).with_overrides(workers=workers, ray_address=address)
    final = Pipeline(spec).run(live=live and err.is_terminal, max_events=max_events)
    out.print(f"stopped: {final.events_in:,} events, {final.predictions:,} predictions, "
              f"{final.dead_letters:,} dead letters")


@app.command()
def broker(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9092,
) -> None:
    """Run the embedded development broker in the foreground (in memory: data is lost on exit)."""
    from streaminfer.pipelines.common.embedded_broker import EmbeddedBroker
    from streaminfer.pipelines.common.stop_signals import StopSignals

    with StopSignals("stopping the embedded broker") as signals:
        dev = EmbeddedBroker(host, port).start()
        try:
            err.print(f"embedded broker on [bold]{dev.bootstrap_servers}[/bold] (in memory); "
                      "Ctrl-C stops")
            err.print("It slows down as partitions fill up with record batches: send few, "
                      "large ones (linger.ms 250 or more). See docs/operations.md.")
            while dev.running and not signals.event.wait(0.5):
                pass
            if not signals.event.is_set():
                raise BrokerError(f"the embedded broker exited: {dev.log_tail()}")
        finally:
            dev.stop()


def _kafka_config(servers: str | None, config: Path | None) -> dict[str, Any]:
    from streaminfer.pipelines.spec.kafka_settings import client_config
    from streaminfer.pipelines.spec.loader import load_spec
    from streaminfer.pipelines.spec.schema import KafkaSpec

    kafka = load_spec(config).kafka if config else KafkaSpec(bootstrap_servers="127.0.0.1:9092")
    servers = servers or kafka.bootstrap_servers
    if servers == "embedded":
        raise ConfigError(
            f"{config} uses the embedded broker, which lives inside `streaminfer run`; pass "
            "--bootstrap-servers with the address that `run` printed"
        )
    return client_config(kafka, servers)


@app.command()
def produce(
    file: Annotated[str, typer.Argument(help="File of JSON events, one per line; - for stdin.")],
    topic: Annotated[str, typer.Option("--topic", "-t", help="Topic to send to.")],
    key_field: Annotated[
        Optional[str], typer.Option(help="Event field used as the record key.")  # noqa: UP045
    ] = None,
    bootstrap_servers: Servers = None,
    config: FromConfig = None,
) -> None:
    """Send a file of JSON events (one per line, sent byte for byte) to a topic."""
    from streaminfer.pipelines.devtools.topic_tools import produce_lines

    kafka = _kafka_config(bootstrap_servers, config)
    from streaminfer.pipelines.common.topics import admin_client

    admin_client(kafka).close()  # one clear line when Kafka is not there
    if file == "-":
        sent = produce_lines(kafka, topic, sys.stdin.buffer, key_field=key_field)
    else:
        try:
            with open(file, "rb") as lines:
                sent = produce_lines(kafka, topic, lines, key_field=key_field)
        except FileNotFoundError:
            raise ConfigError(f"{file}: no such file") from None
    err.print(f"sent {sent:,} events to {topic}")


@app.command()
def tail(
    topic: Annotated[str, typer.Argument(help="Topic to follow.")],
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest record.")] = False,
    max_records: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--max", help="Stop after this many records."),
    ] = None,
    raw: Annotated[bool, typer.Option(help="One JSON object per line, no colour.")] = False,
    bootstrap_servers: Servers = None,
    config: FromConfig = None,
) -> None:
    """Follow a topic and print its records (value, key, headers) as pretty JSON."""
    from streaminfer.operators.topic_reader import TopicReader
    from streaminfer.pipelines.common.topics import admin_client
    from streaminfer.pipelines.devtools.topic_tools import describe

    kafka = _kafka_config(bootstrap_servers, config)
    admin_client(kafka).close()
    shown = 0
    try:
        with TopicReader(kafka, [topic], from_beginning=from_beginning) as reader:
            while max_records is None or shown < max_records:
                for record in reader.poll(timeout_ms=500):
                    text = orjson.dumps(describe(record)).decode()
                    if raw:
                        sys.stdout.write(text + "\n")
                        sys.stdout.flush()
                    else:
                        out.print_json(text)
                    shown += 1
                    if max_records is not None and shown >= max_records:
                        break
    except KeyboardInterrupt:
        pass


@app.command()
def demo(
    events: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=1, help="Stop after this many events and print a summary."),
    ] = None,
    rate: Annotated[float, typer.Option(min=1, help="Events per second to produce.")] = 2000.0,
    bad_every: Annotated[
        int, typer.Option(min=0, help="Make every Nth event malformed (0: none).")
    ] = 100,
    workers: Annotated[
        Optional[int], typer.Option(min=1, help="Override workers.count.")  # noqa: UP045
    ] = None,
    config: Annotated[Path, typer.Option(help="The demo pipeline YAML.")] = Path(
        "configs/demo.yaml"
    ),
) -> None:
    """Train the demo model, run the demo pipeline on the embedded broker, feed it, watch it."""
    from streaminfer.pipelines.devtools.demo import run_demo

    code = run_demo(config, events=events, rate=rate, bad_every=bad_every, workers=workers,
                    console=out)
    raise typer.Exit(code)


@app.command("build-models")
def build_models(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write to.")] = Path("models"),
    force: Annotated[bool, typer.Option(help="Retrain even if a model file exists.")] = False,
) -> None:
    """Train the example models (scikit-learn's bundled data) and export them to ONNX."""
    from streaminfer.pipelines.devtools.example_models import build_all

    for path in build_all(out_dir, force=force):
        out.print(f"{path}  (sha256 in {path.name}.sha256)")


def main() -> None:
    """Console entry point: a :class:`StreamInferError` is one line on stderr, exit code 2."""
    try:
        app()
    except StreamInferError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
