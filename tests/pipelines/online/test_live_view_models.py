"""The live view's models table: the version each model serves, the alias it follows, and
its candidate with the mode (pure)."""

import re

from rich.console import Console

from streaminfer.pipelines.lifecycle.swap_rule import Following
from streaminfer.pipelines.lifecycle.versions import Candidate
from streaminfer.pipelines.online.live_view import models_table
from streaminfer.pipelines.rollout.status import models_serving


def _text(models: list) -> str:
    console = Console(width=200, record=True)
    console.print(models_table(models))
    return console.export_text()


def _rows(text: str) -> list[list[str]]:
    """The table's rows as cells (the lines between the box's vertical bars)."""
    return [[cell.strip() for cell in re.split("[│┃]", line)[1:-1]]
            for line in text.splitlines() if len(re.findall("[│┃]", line)) > 1]


def test_a_followed_model_shows_the_version_it_swapped_to_and_its_canary() -> None:
    bc = Following("bc", "champion", serving="2", serve=False,
                   candidate=Candidate("3", "canary", 0.1))
    models = models_serving({"bc": "1", "fraud": "0a1b2c3d4e5f"}, {"bc": bc})
    rows = _rows(_text(models))
    assert rows[0] == ["model", "serving", "follows", "candidate"]
    assert rows[1:] == [["bc", "2", "models:/bc@champion", "canary v3 (10% of events)"],
                        ["fraud", "0a1b2c3d4e5f", "-", "-"]]


def test_a_shadow_shows_its_mode_and_no_share_and_no_models_shows_nothing() -> None:
    bc = Following("bc", "champion", serving="1", serve=False,
                   candidate=Candidate("2", "shadow"))
    assert _rows(_text(models_serving({"bc": "1"}, {"bc": bc})))[1] == [
        "bc", "1", "models:/bc@champion", "shadow v2"]
    assert models_table([]) == ""


def test_the_metrics_endpoint_carries_what_each_model_serves_for_status() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from streaminfer.pipelines.online.serving_metrics import ServingCollector, read_serving

    bc = Following("bc", "champion", serving="2", serve=False,
                   candidate=Candidate("3", "canary", 0.25))
    models = models_serving({"bc": "1", "fraud": "0a1b2c3d4e5f"}, {"bc": bc})
    registry = CollectorRegistry()
    registry.register(ServingCollector(lambda: models))
    back = read_serving(generate_latest(registry).decode())
    assert back == models
    assert _rows(_text(back))[1] == ["bc", "2", "models:/bc@champion",
                                     "canary v3 (25% of events)"]
    assert read_serving('streaminfer_events_in_total{worker="w0"} 5.0\n') == []


def test_streaminfer_status_prints_what_each_model_serves(write_pipeline) -> None:
    from typer.testing import CliRunner

    from streaminfer.cli.commands import app
    from streaminfer.pipelines.online.serving_metrics import ServingCollector
    from streaminfer.pipelines.rollout.status import ModelServing
    from streaminfer.pipelines.runtime.metrics_server import MetricsServer

    server = MetricsServer("127.0.0.1", 0)
    try:
        server.registry.register(ServingCollector(lambda: [
            ModelServing("bc", "2", "models:/bc@champion", "3", "shadow")]))
        path = write_pipeline(metrics={"host": "127.0.0.1", "port": server.port})
        result = CliRunner().invoke(app, ["status", str(path)], env={"COLUMNS": "200"})
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    assert ["bc", "2", "models:/bc@champion", "shadow v3"] in _rows(result.output)
