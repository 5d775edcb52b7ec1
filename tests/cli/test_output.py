"""What the command line prints: its version, help that fits 80 columns uncut, no colour
codes into a pipe, JSON for scripts, and a file model's version never shown as a v-number."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import Counter
from typer.testing import CliRunner

from streaminfer import __version__
from streaminfer.cli.commands import app
from tests.fixtures.cli import CLI

COMMANDS = [[], ["run"], ["batch"], ["optimize"], ["validate"], ["retrain"], ["demo"],
            ["status"], ["join"], ["produce"], ["tail"], ["broker"], ["build-models"],
            ["validate-config"], ["schema"], ["models"], ["models", "list"],
            ["models", "promote"], ["models", "canary"], ["models", "register"],
            ["cluster"], ["cluster", "render"], ["cluster", "submit"]]


def test_version() -> None:
    done = subprocess.run([*CLI, "--version"], capture_output=True, text=True, check=False,
                          timeout=120)
    assert (done.returncode, done.stdout) == (0, f"streaminfer {__version__}\n"), done.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "streaminfer")
def test_help_at_80_columns_is_wrapped_never_cut(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.output, result.output
    assert max(map(len, result.output.splitlines())) <= 80, result.output
    assert "\x1b[" not in result.output
    usage = result.output.splitlines()[0]  # arguments by name, as the help explains them
    assert not re.search(r"[{\[][a-z_]+[}\]]", usage.replace("[OPTIONS]", "")), usage


def test_no_colour_codes_into_a_pipe(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "PY_COLORS", "TTY_COMPATIBLE", "MLFLOW_TRACKING_URI")}
    env["TERM"] = "xterm-256color"
    commands = (["batch", "--help"], ["models", "list"], ["batch", "nope.yaml"])
    procs = [subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=tmp_path, env=env) for args in commands]
    try:
        for args, proc in zip(commands, procs, strict=True):  # side by side
            stdout, stderr = proc.communicate(timeout=120)
            assert stdout or stderr, args
            assert "\x1b[" not in stdout + stderr, (args, stdout, stderr)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_status_as_json_and_a_file_models_version_is_not_a_v_number(
    write_pipeline: Callable[..., Path],
) -> None:
    from streaminfer.pipelines.online.serving_metrics import ServingCollector
    from streaminfer.pipelines.rollout.status import ModelServing
    from streaminfer.pipelines.runtime.metrics_server import MetricsServer

    server = MetricsServer("127.0.0.1", 0)
    try:
        server.registry.register(ServingCollector(lambda: [
            ModelServing("bc", "2", "models:/bc@champion", "3", "shadow")]))
        events = Counter("streaminfer_events_in", "events", ["worker"], registry=server.registry)
        events.labels("w0").inc(40)
        events.labels("w1").inc(2)
        compared = Counter("streaminfer_shadow_compared", "rows", ["model", "version"],
                           registry=server.registry)
        agreed = Counter("streaminfer_shadow_agreed", "rows", ["model", "version"],
                         registry=server.registry)
        compared.labels("fraud", "af27c3d1e2f0").inc(10)
        agreed.labels("fraud", "af27c3d1e2f0").inc(9)
        path = write_pipeline(metrics={"host": "127.0.0.1", "port": server.port})
        as_json = CliRunner().invoke(app, ["status", str(path), "--json"])
        shown = CliRunner().invoke(app, ["status", str(path)], env={"COLUMNS": "200"})
    finally:
        server.close()
    assert as_json.exit_code == 0, as_json.output
    status = json.loads(as_json.output)
    assert status["url"] == f"http://127.0.0.1:{server.port}/metrics"
    assert (status["events_in"], status["predictions"], status["dead_letters"]) == (42, 0, 0)
    [served] = status["models"]
    assert {k: served[k] for k in ("model", "version", "follows", "candidate", "mode")} == {
        "model": "bc", "version": "2", "follows": "models:/bc@champion", "candidate": "3",
        "mode": "shadow"}
    assert status["shadow"] == [{"model": "fraud", "version": "af27c3d1e2f0", "compared": 10,
                                 "agreed": 9}]
    assert shown.exit_code == 0, shown.output
    words = " ".join(shown.output.split())  # the console's width is fixed once per process
    assert "shadow fraud sha256 af27c3d1e2f0: agrees with the served version on 90.0% of 10 " \
        "events" in words
    assert "vaf27" not in shown.output


@pytest.mark.parametrize(("command", "new", "old"), [
    (["batch"], "--out", "--output"), (["demo"], "--max-events", "--events"),
    (["optimize"], "--label-field", "--label"), (["tail"], "--max-events", "--max")])
def test_one_name_per_option_and_the_old_one_hidden(command: list[str], new: str,
                                                    old: str) -> None:
    shown = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
    assert new in shown.split() or f"{new}," in shown, shown
    assert old not in shown.replace(new, "").split(), shown


def test_the_old_names_still_parse() -> None:
    import typer

    from streaminfer.cli.common import renamed

    group = typer.main.get_command(app)
    for command, args, param, value in (
            ("demo", ["--events", "5"], "events", 5),
            ("tail", ["t", "--max", "5"], "max_old", 5),
            ("batch", ["x.yaml", "-i", "x", "--output", "o"], "output", "o"),
            ("optimize", ["m.onnx", "-d", "d", "--out", "o", "--label", "y"], "label_old", "y")):
        ctx = group.make_context("streaminfer", [command])
        sub = group.get_command(ctx, command)  # type: ignore[attr-defined]
        assert sub is not None
        assert sub.make_context(command, list(args)).params[param] == value
    assert renamed(None, 5, "--max-events", "--events") == 5
    assert renamed(7, None, "--max-events", "--events") == 7
    assert renamed("label", "y", "--label-field", "--label", "label") == "y"


def test_optimize_help_says_the_best_round_is_kept_as_the_timing_does() -> None:
    """``pipelines/optimize/timing.py`` keeps each variant's fastest round (min), not a median."""
    shown = " ".join(CliRunner().invoke(app, ["optimize", "--help"],
                                        env={"COLUMNS": "200"}).output.split())
    assert "best round is kept" in shown and "median" not in shown, shown
