"""Reading a cluster description YAML: defaults, overrides, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaminfer.cluster.loader import load_cluster_spec
from streaminfer.errors import ConfigError, StreamInferError


def test_no_file_gives_the_defaults() -> None:
    spec = load_cluster_spec()
    assert spec.namespace == "default"
    assert spec.cpu_workers.cpus == 2


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("# nothing set\n")
    assert load_cluster_spec(path).image == "streaminfer:cpu"


def test_file_values_are_read(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(
        "name: prod\nnamespace: streaming\nimage: registry.example/si:1\n"
        "cpu_workers: {cpus: 8, max_replicas: 6}\n"
        "gpu_workers: {gpus_per_node: 2, min_replicas: 0, max_replicas: 3}\n"
    )
    spec = load_cluster_spec(path)
    assert (spec.name, spec.namespace, spec.image) == ("prod", "streaming", "registry.example/si:1")
    assert (spec.cpu_workers.cpus, spec.cpu_workers.max_replicas) == (8, 6)
    assert spec.gpu_workers.gpus_per_node == 2


def test_overrides_win_over_the_file_and_keep_its_other_keys(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("gpu_workers: {gpus_per_node: 1, max_replicas: 4}\n")
    spec = load_cluster_spec(path, overrides={"gpu_workers": {"gpus_per_node": 2}})
    assert spec.gpu_workers.gpus_per_node == 2
    assert spec.gpu_workers.max_replicas == 4


def test_unknown_key_is_a_config_error_naming_the_field_and_a_guess(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("cpu_workers:\n  max_replica: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_cluster_spec(path)
    message = str(caught.value)
    assert str(path) in message
    assert "cpu_workers.max_replica: unknown key" in message
    assert "did you mean 'max_replicas'?" in message
    assert isinstance(caught.value, StreamInferError)


def test_top_level_unknown_key_lists_the_allowed_keys(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("kafka_secret: creds\n")
    with pytest.raises(ConfigError, match=r"kafka_secret: unknown key \(did you mean "
                       r"'kafka_secret_name'\?\)\. Allowed here: .*namespace"):
        load_cluster_spec(path)


def test_bad_value_names_the_field_and_the_value(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("head: {cpus: 0}\n")
    with pytest.raises(ConfigError, match=r"head\.cpus: .*greater than or equal to 1 \(got 0\)"):
        load_cluster_spec(path)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("name: a\nnamespace: [unclosed\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+: not valid YAML"):
        load_cluster_spec(path)


def test_a_list_is_not_a_cluster_description(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="a YAML mapping"):
        load_cluster_spec(path)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_cluster_spec(tmp_path / "nope.yaml")


def test_yaml_tags_are_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("name: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_cluster_spec(path)
