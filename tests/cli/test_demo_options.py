"""``streaminfer demo --example``: an unknown example, or one beside --loop or --pictures,
is refused before anything starts, naming the choices; `build-models` into a dangling link
says where it points."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from streaminfer.cli.commands import app
from tests.fixtures.cli import streaminfer_here


@pytest.mark.parametrize(("args", "says"), [
    (["--example", "nope"], "no example 'nope'; choose one of fraud-mixed, text, tokens"),
    (["--example", "text", "--pictures"], "drop --loop and --pictures"),
    (["--example", "tokens", "--loop"], "drop --loop and --pictures"),
])
def test_a_wrong_example_is_refused_with_the_choices(args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["demo", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split()), result.output


def test_build_models_into_a_dangling_link_says_where_it_points(tmp_path) -> None:
    (tmp_path / "models").symlink_to(tmp_path / "gone")
    result = streaminfer_here("build-models", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (f"error: --out models: a link to {tmp_path / 'gone'}, which "
                                      "does not exist; create that folder, or remove the link")
