"""The ``streaminfer`` command: the command groups assembled; every user error is one line."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer
from kafka.errors import KafkaError
from rich.markup import escape

from streaminfer.cli import (
    batch,
    broker,
    config,
    demo,
    feedback,
    optimize,
    retrain,
    run,
    topics,
    validate,
)
from streaminfer.cli.cluster import app as cluster_app
from streaminfer.cli.common import err, setup_logging
from streaminfer.cli.models import app as models_app
from streaminfer.errors import Stopped, StreamInferError

app = typer.Typer(
    name="streaminfer", no_args_is_help=True, pretty_exceptions_enable=False,
    add_completion=False, rich_markup_mode=None,  # plain help: wrapped, never cut with "…"
    help="Score Kafka events with ONNX models on Ray. Start with `streaminfer demo`.",
)
app.add_typer(cluster_app, name="cluster", help="Render cluster manifests; submit to Ray.")
app.add_typer(models_app, name="models", help="Model versions in the registry; promote, "
              "roll back.")
app.command("validate-config")(config.validate_config)
app.command("schema")(config.schema)
app.command("run")(run.run)
app.command("broker")(broker.broker)
app.command("produce")(topics.produce)
app.command("tail")(topics.tail)
app.command("demo")(demo.demo)
app.command("build-models")(demo.build_models)
app.command("validate")(validate.validate)
app.command("retrain")(retrain.retrain)
app.command("join")(feedback.join)
app.command("status")(feedback.status)
app.command("batch")(batch.batch)
app.command("optimize")(optimize.optimize)


def _version(asked: bool) -> None:
    if asked:
        from streaminfer import __version__

        print(f"streaminfer {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log Kafka and Ray too.")]
    = False,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version,
                                          help="Print the version and exit.")] = False,
) -> None:
    setup_logging(verbose)


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)


def main() -> None:
    """Console entry point: a :class:`StreamInferError` (or a Kafka error no command
    expected) is one line on stderr, exit code 2; :class:`Stopped` one line, exit code 0."""
    try:
        app()
    except Stopped as exc:  # a SIGTERM before the work began: a stop, not an error
        err.print(escape(str(exc)), highlight=False, soft_wrap=True)
        sys.exit(0)
    except StreamInferError as exc:
        _fail(str(exc))
    except KafkaError as exc:  # one the command did not expect: still one line
        _fail(f"Kafka: {type(exc).__name__}: {exc}; check --bootstrap-servers and the topic")
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
