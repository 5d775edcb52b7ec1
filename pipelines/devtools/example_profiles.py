"""The training profiles of the example models (``<model>.profile.json``): each model's
training rows scored by a real ONNX Runtime session and binned, as drift reads them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from streaminfer.operators.model_runner import OnnxModel, read_model_file, sha256_hex
from streaminfer.operators.profile import Profile, build_profile, profile_path

#: The token-id example's max_length (configs/text-tokens.yaml).
TOKENS_MAX_LENGTH = 64


class Example(Protocol):
    """What profiling needs of an example (``example_models.Example``)."""

    @property
    def dataset(self) -> Callable[[], Any]: ...

    @property
    def typed(self) -> bool: ...

    @property
    def beside(self) -> Callable[[Path, bool], Path] | None: ...

    @property
    def picture(self) -> Callable[[], Any] | None: ...


def write_profile(name: str, example: Example, path: Path) -> Path:
    """Profile the example model at ``path`` on its training data into
    ``<path>.profile.json``. A typed example (``Example.typed``) gets each training row as an
    event through its feed builder, and bins per input (``operators/input_profile.py``)."""
    data = read_model_file(path)
    dataset = example.dataset()
    if not example.typed:
        model = OnnxModel(data, name=name, providers=["CPUExecutionProvider"])
        X = dataset.X.astype(model.info.input_dtype)
        outputs = dict(zip(model.info.outputs.values(), model.run(X), strict=True))
        profile = build_profile(dataset.features, X, outputs, model_sha256=sha256_hex(data))
        return profile.write(profile_path(path))
    events = [dict(zip(dataset.features, row, strict=True)) for row in dataset.X.tolist()]
    picture = example.picture() if example.picture is not None else None
    model = _typed_model(name, example.beside, path, data, dataset.features, picture)
    return _typed_profile(model, events, sha256_hex(data)).write(profile_path(path))


def _typed_model(name: str, beside: Callable[[Path, bool], Path] | None, path: Path,
                 data: bytes, features: list[str], picture: Any = None) -> OnnxModel:
    """The example as the pipeline loads it: its inputs named as the dataset's features
    (decoding pictures as ``picture`` says, if given), or its tokenizer (written beside it
    by ``beside``) reading the one text column."""
    from streaminfer.operators.inputs import InputBinding
    from streaminfer.operators.tokens import TokenizerConfig

    options: dict[str, Any] = {"inputs": {f: InputBinding(field=f, picture=picture)
                                          for f in features}}
    if beside is not None:
        text = beside(path, False).read_text(encoding="utf-8")
        options = {"tokenizer": TokenizerConfig(json=text, field=features[0],
                                                max_length=TOKENS_MAX_LENGTH)}
    return OnnxModel(data, name=name, providers=["CPUExecutionProvider"], **options)


def _typed_profile(model: OnnxModel, events: list[dict[str, Any]], sha256: str) -> Profile:
    from streaminfer.operators.input_profile import build_input_profile

    builder = model.info.feed_builder()
    assert builder is not None
    feed, refused = builder.matrix([builder.values(event) for event in events])
    assert not refused, refused
    assert isinstance(feed, dict)
    outputs = dict(zip(model.info.outputs.values(), model.run(feed), strict=True))
    return build_input_profile(feed, outputs, model_sha256=sha256)
