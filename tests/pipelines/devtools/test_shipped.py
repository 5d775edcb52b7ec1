"""The demo's YAMLs from any folder: the current folder's, else the packaged copy anchored at
./configs, so the model and the loop's registry land in folders the user owns."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaminfer.errors import ConfigError
from streaminfer.pipelines.devtools.shipped import load_demo_spec, shipped_text

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", ["demo.yaml", "demo-loop.yaml", "demo-pictures.yaml"])
def test_the_packaged_configs_are_the_repositorys(name: str) -> None:
    assert shipped_text(name) == (REPO / "configs" / name).read_text()


def test_outside_a_clone_the_packaged_demo_writes_its_model_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec, source = load_demo_spec(None, loop=False)
    assert "shipped" in source
    assert spec.model_specs[0].path == tmp_path / "models" / "breast_cancer.onnx"


def test_outside_a_clone_the_loop_demo_keeps_its_registry_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec, _ = load_demo_spec(None, loop=True)
    assert spec.registry is not None
    assert spec.registry.cache_dir == tmp_path / ".demo-loop" / "cache"


def test_a_configs_folder_here_wins_over_the_packaged_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "configs" / "demo.yaml"
    local.parent.mkdir()
    local.write_text(shipped_text("demo.yaml").replace("name: demo\n", "name: my-demo\n"))
    monkeypatch.chdir(tmp_path)
    spec, source = load_demo_spec(None, loop=False)
    assert (spec.name, source) == ("my-demo", "configs/demo.yaml")


def test_a_named_config_that_is_missing_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"nowhere\.yaml"):
        load_demo_spec(Path("nowhere.yaml"), loop=False)
