"""What the commands share: the consoles, argument types, logging and Kafka settings."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler

from streaminfer.errors import ConfigError

err = Console(stderr=True)
out = Console()

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of "
                                         "tables.")]

ConfigArg = Annotated[Path, typer.Argument(metavar="CONFIG", help="Pipeline YAML file.")]
Servers = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--bootstrap-servers", "-b", help="Kafka host:port[,host:port].")
]
FromConfig = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--config", "-c", help="Take Kafka settings from this pipeline YAML."),
]


def setup_logging(verbose: bool) -> None:
    """Rich log lines on stderr; Kafka and Ray only with ``--verbose``, here and in every
    actor the pipeline starts (``pipelines/process/log_levels.py``)."""
    from streaminfer.pipelines.process.log_levels import set_verbose

    logging.basicConfig(
        level=logging.INFO, format="%(message)s", datefmt="[%X]",
        handlers=[RichHandler(console=err, show_path=False)], force=True,
    )
    set_verbose(verbose)


def kafka_config(servers: str | None, config: Path | None) -> dict[str, Any]:
    """kafka-python settings from ``--bootstrap-servers`` and/or a pipeline YAML's ``kafka``."""
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


def renamed(value: Any, old_value: Any, new: str, old: str, default: Any = None) -> Any:
    """An option's value given by its name or by ``old``, its former name (hidden in the
    help, kept so that scripts keep working); both, with different values, is an error."""
    if old_value is None:
        return value
    if value not in (None, default, old_value):
        raise ConfigError(f"{old} is the old name of {new}: give {new} only")
    return old_value


def print_json(data: object) -> None:
    """``data`` as indented JSON on stdout: no colours, no wrapping, whatever the terminal."""
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
