"""``streaminfer demo --example``: an unknown example, or one beside --loop or --pictures,
is refused before anything starts, naming the choices."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from streaminfer.cli.commands import app


@pytest.mark.parametrize(("args", "says"), [
    (["--example", "nope"], "no example 'nope'; choose one of fraud-mixed, text, tokens"),
    (["--example", "text", "--pictures"], "drop --loop and --pictures"),
    (["--example", "tokens", "--loop"], "drop --loop and --pictures"),
])
def test_a_wrong_example_is_refused_with_the_choices(args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["demo", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split()), result.output
