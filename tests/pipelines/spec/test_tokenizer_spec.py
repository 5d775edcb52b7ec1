"""model.tokenizer: its path resolves against the YAML's folder, its sha256 is checked (given
or beside the file), a file the tokenizers library cannot read is refused, and it excludes
model.input_name."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer, models

from streaminfer.errors import ConfigError, ModelError
from streaminfer.operators.model_runner import sha256_hex
from streaminfer.pipelines.spec.loader import parse_spec

PIPELINE = """\
name: p
source: {{topics: [events], group_id: g}}
model:
  path: m.onnx
  tokenizer: {{path: {path}, field: text, max_length: 8{extra}}}
sink: {{predictions_topic: preds, dead_letter_topic: dlq}}
"""


def _tokenizer(folder: Path) -> Path:
    path = folder / "tok.json"
    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "late": 1}, unk_token="[UNK]"))
    path.write_text(tok.to_str())
    return path


def test_the_path_is_relative_to_the_yaml_and_needs_no_source_features(tmp_path: Path) -> None:
    _tokenizer(tmp_path)
    spec = parse_spec(PIPELINE.format(path="tok.json", extra=""), base=tmp_path)
    assert spec.model is not None and spec.model.tokenizer is not None
    assert spec.model.tokenizer.path == tmp_path / "tok.json"
    config = spec.model.tokenizer.operator()
    assert (config.field, config.max_length, config.input_ids) == ("text", 8, "input_ids")
    assert Tokenizer.from_str(config.json).encode("late").ids == [1]


def test_a_sha256_that_differs_refuses_the_tokenizer(tmp_path: Path) -> None:
    path = _tokenizer(tmp_path)
    wrong = "0" * 64
    spec = parse_spec(PIPELINE.format(path="tok.json", extra=f", sha256: '{wrong}'"),
                      base=tmp_path)
    assert spec.model is not None and spec.model.tokenizer is not None
    with pytest.raises(ModelError, match=f"tokenizer file {path} has sha256 "
                       f"{sha256_hex(path.read_bytes())}, but {wrong} is expected "
                       r"\(model.tokenizer.sha256"):
        spec.model.tokenizer.operator()
    Path(f"{path}.sha256").write_text(f"{wrong}  tok.json\n")  # as build-models writes it
    spec = parse_spec(PIPELINE.format(path="tok.json", extra=""), base=tmp_path)
    assert spec.model is not None and spec.model.tokenizer is not None
    with pytest.raises(ModelError, match="is expected"):
        spec.model.tokenizer.operator()


def test_a_missing_or_unreadable_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    spec = parse_spec(PIPELINE.format(path="none.json", extra=""), base=tmp_path)
    assert spec.model is not None and spec.model.tokenizer is not None
    with pytest.raises(ModelError, match=r"tokenizer file .*none.json not found "
                       r"\(model.tokenizer.path\)"):
        spec.model.tokenizer.operator()
    (tmp_path / "none.json").write_text('{"not": "a tokenizer"}')
    with pytest.raises(ModelError, match=r"not a tokenizer\.json the tokenizers library"):
        spec.model.tokenizer.operator()


def test_tokenizer_and_input_name_exclude_each_other(tmp_path: Path) -> None:
    text = PIPELINE.format(path="tok.json", extra="").replace(
        "  path: m.onnx\n", "  path: m.onnx\n  input_name: x\n")
    with pytest.raises(ConfigError, match=r"give 'tokenizer'.* or 'input_name'"):
        parse_spec(text, base=tmp_path)
