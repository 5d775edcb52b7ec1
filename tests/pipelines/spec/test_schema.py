"""The pipeline YAML: schema (spec.py) and the loader's messages (spec_loader.py)."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import yaml

from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.loader import load_spec, parse_spec
from streaminfer.pipelines.spec.schema import ModelSpec, PipelineSpec

REPO = Path(__file__).resolve().parents[3]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))

MINIMAL = """\
name: p
source: {topics: [events], group_id: g, features: [a, b]}
model: {path: m.onnx}
sink: {predictions_topic: preds, dead_letter_topic: dlq}
"""


def _problem(text: str, source: str = "pipe.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_spec(text, source=source, base=Path("/base"))
    return str(info.value)


def _with(**sections: str) -> str:
    """MINIMAL with whole top-level sections replaced or added (flow-style YAML values)."""
    data = {line.split(":", 1)[0]: line.split(":", 1)[1].strip()
            for line in MINIMAL.splitlines()}
    data.update(sections)
    return "".join(f"{key}: {value}\n" for key, value in data.items())


# ---------------------------------------------------------------- shipped configs

def test_there_are_shipped_configs() -> None:
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_parses(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    spec = load_spec(path)
    assert isinstance(spec, PipelineSpec)
    assert spec.name == raw["name"]
    assert list(spec.source.topics) == raw["source"]["topics"]
    if spec.model.registry_ref is not None:  # models:/NAME@ALIAS stays as written
        assert str(spec.model.registry_ref) == raw["model"]["path"]
        return
    assert spec.model.path == (path.parent / raw["model"]["path"]).resolve()
    assert spec.model.path.is_absolute()


def test_a_minimal_config_gets_the_defaults() -> None:
    spec = parse_spec(MINIMAL, base=Path("/base"))
    assert spec.kafka.is_embedded
    assert spec.source.features == ("a", "b") and spec.source.features_field is None
    assert spec.model.providers == "auto"
    assert spec.model.path == Path("/base/m.onnx")
    assert spec.delivery == "at_least_once"


# ---------------------------------------------------------------- the loader's messages

def test_an_unknown_key_names_file_field_and_a_guess() -> None:
    message = _problem(_with(batching="{max_sise: 3}"), source="configs/my.yaml")
    assert message.splitlines() == [
        "configs/my.yaml: 1 problem(s) in the pipeline config",
        "  batching.max_sise: unknown key (did you mean 'max_size'?). "
        "Allowed here: max_bytes, max_size, max_wait_ms",
    ]


def test_an_unknown_nested_key_under_kafka_security() -> None:
    message = _problem(_with(kafka="{security: {protocol: PLAINTEXT, sasl_mechansim: PLAIN}}"))
    assert "  kafka.security.sasl_mechansim: unknown key (did you mean 'sasl_mechanism'?" in message


def test_an_unknown_top_level_key() -> None:
    message = _problem(MINIMAL + "modle: {path: x.onnx}\n")
    assert "pipe.yaml: 1 problem(s)" in message
    assert "  modle: unknown key (did you mean 'model'?). Allowed here: " in message
    assert "batching, delivery, " in message


def test_an_unknown_key_far_from_any_field_has_no_guess() -> None:
    message = _problem(_with(batching="{zzzzzz: 1}"))
    assert "  batching.zzzzzz: unknown key" in message
    assert "did you mean" not in message
    assert message.endswith("Allowed here: max_bytes, max_size, max_wait_ms")


def test_a_wrong_type() -> None:
    message = _problem(_with(batching="{max_size: lots}"))
    assert "  batching.max_size: Input should be a valid integer" in message
    assert "(got 'lots')" in message


def test_a_section_that_is_not_a_mapping() -> None:
    message = _problem(_with(kafka="localhost:9092"))
    assert "  kafka: Input should be a valid dictionary" in message


def test_an_out_of_range_value() -> None:
    message = _problem(_with(batching="{max_size: 0}"))
    assert "batching.max_size: Input should be greater than or equal to 1 (got 0)" in message


@pytest.mark.parametrize(
    ("text", "field", "model", "attribute"),
    [
        ("\n".join(MINIMAL.splitlines()[:3]), "sink", PipelineSpec, "sink"),
        (_with(model="{name: x}"), "model.path", ModelSpec, "path"),
    ],
)
def test_a_missing_required_field_is_explained_by_its_description(
    text: str, field: str, model: type[pydantic.BaseModel], attribute: str
) -> None:
    description = model.model_fields[attribute].description
    assert description
    assert f"  {field}: required but missing ({description})" in _problem(text)


def test_every_problem_is_reported_at_once() -> None:
    message = _problem("name: p\nsource: {topics: [e], group_id: g, features: [a]}\n"
                       "batching: {max_size: -1}\n")
    lines = message.splitlines()
    assert lines[0] == "pipe.yaml: 2 problem(s) in the pipeline config"
    assert {line.split(":")[0].strip() for line in lines[1:]} == {"sink", "batching.max_size"}
    # 'model or models' is checked across fields, once the fields themselves are valid
    fixed = _problem("name: p\nsource: {topics: [e], group_id: g, features: [a]}\n"
                     "sink: {predictions_topic: p, dead_letter_topic: d}\n")
    assert fixed.splitlines()[1] == "  (top level): give exactly one of 'model' or 'models'"


def test_a_pattern_mismatch_shows_the_field_description() -> None:
    message = _problem(_with(name="My_Pipe"))
    assert "  name: Pipeline name: lowercase letters, digits and '-'" in message
    assert "(got 'My_Pipe')" in message


@pytest.mark.parametrize(
    "source",
    ["{topics: [events], group_id: g, features: [a], features_field: x}",
     "{topics: [events], group_id: g}"],
)
def test_features_and_features_field_are_exclusive(source: str) -> None:
    message = _problem(_with(source=source))
    assert "  source: give exactly one of 'features' (a list of event fields) or " \
           "'features_field' (one field holding an array)" in message


def test_features_field_alone_is_valid() -> None:
    spec = parse_spec(_with(source="{topics: [events], group_id: g, features_field: x}"))
    assert spec.source.features is None and spec.source.features_field == "x"


def test_a_feature_listed_twice() -> None:
    message = _problem(_with(source="{topics: [events], group_id: g, features: [a, b, a]}"))
    assert "source: 'features' lists a field twice" in message


@pytest.mark.parametrize(
    "security",
    ["{protocol: SASL_SSL}",
     "{protocol: SASL_PLAINTEXT, sasl_mechanism: PLAIN, sasl_username_env: U}",
     "{protocol: SASL_SSL, sasl_username_env: U, sasl_password_env: P}"],
)
def test_sasl_needs_a_mechanism_and_env_variable_names(security: str) -> None:
    message = _problem(_with(kafka=f"{{security: {security}}}"))
    assert "  kafka.security: protocol SASL_" in message
    assert "needs sasl_mechanism, sasl_username_env and sasl_password_env (the names of " \
           "environment variables, not the secrets)" in message


def test_sasl_with_env_variable_names_is_valid() -> None:
    spec = parse_spec(_with(kafka="{bootstrap_servers: 'k1:9093', security: {protocol: SASL_SSL, "
                                  "sasl_mechanism: SCRAM-SHA-512, sasl_username_env: KU, "
                                  "sasl_password_env: KP}}"))
    assert spec.kafka.security.sasl_password_env == "KP"


@pytest.mark.parametrize(
    ("servers", "bad"),
    [("localhost", "localhost"), ("host:port", "host:port"), ("a:1,b", "b"),
     ("a:1,,b:2", ""), ("h:123456", "h:123456"), ("a b:1", "a b:1")],
)
def test_a_bad_bootstrap_servers_value(servers: str, bad: str) -> None:
    message = _problem(_with(kafka=f"{{bootstrap_servers: '{servers}'}}"))
    assert f"  kafka.bootstrap_servers: {bad!r} is not host:port; give " \
           "'host:port[,host:port...]' or 'embedded'" in message


@pytest.mark.parametrize("servers", ["localhost:9092", "k1:9092,k2:9092", " 10.0.0.1:9092 ",
                                     "embedded"])
def test_good_bootstrap_servers_values(servers: str) -> None:
    spec = parse_spec(_with(kafka=f"{{bootstrap_servers: '{servers}'}}"))
    assert spec.kafka.bootstrap_servers == servers.strip()
    assert spec.kafka.is_embedded == (servers == "embedded")


def test_heartbeat_must_be_below_a_third_of_the_session_timeout() -> None:
    message = _problem(_with(kafka="{session_timeout_ms: 6000, heartbeat_interval_ms: 2001}"))
    assert "  kafka: heartbeat_interval_ms must be at most a third of session_timeout_ms" in message


def test_a_sink_topic_equal_to_a_source_topic_would_loop() -> None:
    message = _problem(_with(sink="{predictions_topic: events, dead_letter_topic: dlq}"))
    assert "  (top level): a sink topic is also a source topic: the pipeline would loop" in message
    message = _problem(_with(sink="{predictions_topic: preds, dead_letter_topic: events}"))
    assert "a sink topic is also a source topic" in message


def test_the_two_sink_topics_must_differ() -> None:
    message = _problem(_with(sink="{predictions_topic: out, dead_letter_topic: out}"))
    assert "  (top level): sink.predictions_topic and sink.dead_letter_topic must differ" in message


def test_invalid_yaml_names_the_line() -> None:
    text = "name: p\nsource:\n  topics: [events]\n   group_id: g\n"
    message = _problem(text, source="bad.yaml")
    assert message.startswith("bad.yaml: line 4, column ")
    assert ": not valid YAML: " in message
    assert "\n" not in message


@pytest.mark.parametrize(("text", "found"), [("- a\n- b\n", "list"), ("just text", "str"),
                                             ("", "NoneType"), ("42", "int")])
def test_yaml_that_is_not_a_mapping(text: str, found: str) -> None:
    assert _problem(text, source="x.yaml") == (
        "x.yaml: the file must be a YAML mapping with keys name, source, model, sink "
        f"(found {found})"
    )


def test_load_spec_of_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=r"absent\.yaml: no such file"):
        load_spec(path)


def test_load_spec_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "conf.yaml"
    path.write_text(_with(batching="{max_sise: 3}"))
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"{path}: 1 problem(s)")


# ---------------------------------------------------------------- paths

def test_relative_paths_resolve_against_the_yaml_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project" / "configs"
    folder.mkdir(parents=True)
    path = folder / "pipe.yaml"
    path.write_text(_with(
        model="{path: ../models/m.onnx}",
        kafka="{bootstrap_servers: 'k:9093', security: {protocol: SSL, ssl_cafile: certs/ca.pem,"
              " ssl_certfile: /etc/abs/client.pem}}",
    ))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = load_spec("../project/configs/pipe.yaml")
    assert spec.model.path == tmp_path / "project" / "models" / "m.onnx"
    assert spec.kafka.security.ssl_cafile == folder / "certs" / "ca.pem"
    assert spec.kafka.security.ssl_certfile == Path("/etc/abs/client.pem")
    assert spec.kafka.security.ssl_keyfile is None


def test_an_absolute_model_path_is_kept(tmp_path: Path) -> None:
    spec = parse_spec(_with(model=f"{{path: '{tmp_path}/m.onnx'}}"), base=Path("/base"))
    assert spec.model.path == tmp_path / "m.onnx"


def test_a_home_relative_path_is_expanded(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    spec = parse_spec(_with(model="{path: ~/models/m.onnx}"), base=Path("/base"))
    assert spec.model.path == tmp_path / "models" / "m.onnx"


def test_without_a_base_paths_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_spec(MINIMAL).model.path == tmp_path.resolve() / "m.onnx"


# ---------------------------------------------------------------- immutability

def test_the_spec_is_frozen() -> None:
    spec = parse_spec(MINIMAL, base=Path("/base"))
    before = spec.model_dump()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        spec.batching.max_size = 1  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        spec.kafka.security.protocol = "SSL"  # type: ignore[misc]
    assert spec.model_dump() == before


def test_model_validate_forbids_unknown_keys_too() -> None:
    data = yaml.safe_load(MINIMAL)
    data["sink"]["extra"] = 1
    with pytest.raises(pydantic.ValidationError, match="extra"):
        PipelineSpec.model_validate(data)


# ---------------------------------------------------------------- fetch wait by broker

def test_fetch_wait_defaults_to_10_ms_on_kafka_500_on_the_embedded_broker_or_the_yamls():
    on_kafka = parse_spec(MINIMAL + "kafka: {bootstrap_servers: 'k:9092'}\n")
    assert on_kafka.fetch_max_wait_ms == 10
    embedded = parse_spec(MINIMAL + "kafka: {bootstrap_servers: embedded}\n")
    assert embedded.fetch_max_wait_ms == 500
    chosen = parse_spec(_with(source="{topics: [e], group_id: g, features: [a], "
                                     "fetch_max_wait_ms: 40}")
                        + "kafka: {bootstrap_servers: embedded}\n")
    assert chosen.fetch_max_wait_ms == 40
    assert "fetch_max_wait_ms" in _problem(_with(source="{topics: [e], group_id: g, "
                                                        "features: [a], fetch_max_wait_ms: 0}"))
