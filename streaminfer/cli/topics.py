"""``streaminfer produce`` and ``streaminfer tail``: send events to a topic, follow a topic."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import orjson
import typer

from streaminfer.cli.common import FromConfig, Servers, err, kafka_config, out, renamed
from streaminfer.errors import ConfigError


def produce(
    file: Annotated[str, typer.Argument(
        metavar="FILE", help="File of JSON events, one per line; - for stdin.")],
    topic: Annotated[str, typer.Option("--topic", "-t", help="Topic to send to.")],
    key_field: Annotated[
        Optional[str], typer.Option(help="Event field used as the record key.")  # noqa: UP045
    ] = None,
    bootstrap_servers: Servers = None,
    config: FromConfig = None,
) -> None:
    """Send a file of JSON events (one per line, sent byte for byte) to a topic."""
    from streaminfer.pipelines.devtools.topic_tools import produce_lines
    from streaminfer.pipelines.kafka.topics import admin_client

    kafka = kafka_config(bootstrap_servers, config)
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


def tail(
    topic: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic to follow.")],
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest record.")] = False,
    max_events: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=1, help="Stop after this many records."),
    ] = None,
    max_old: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--max", min=1, hidden=True, help="The old name of --max-events.")] = None,
    raw: Annotated[bool, typer.Option(help="One JSON object per line, no colour.")] = False,
    bootstrap_servers: Servers = None,
    config: FromConfig = None,
) -> None:
    """Follow a topic and print its records (value, key, headers) as pretty JSON: those
    written from now on, or with --from-beginning every record it holds first."""
    from streaminfer.pipelines.devtools.topic_tools import describe
    from streaminfer.pipelines.kafka.topic_reader import TopicReader
    from streaminfer.pipelines.kafka.topics import admin_client

    max_records = renamed(max_events, max_old, "--max-events", "--max")
    kafka = kafka_config(bootstrap_servers, config)
    admin_client(kafka).close()
    shown = 0
    try:
        with TopicReader(kafka, [topic], from_beginning=from_beginning) as reader:
            where = "its oldest record" if from_beginning else "its end (new records only)"
            err.print(f"following {topic} from {where}; Ctrl-C to stop")
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
