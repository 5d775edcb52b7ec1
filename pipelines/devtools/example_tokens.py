"""The token-id example (``text_tokens``): support tickets sorted into billing, delivery and
technical, by a model that takes ``input_ids`` and ``attention_mask``.

The tickets are generated here from templates with a fixed seed (no download). A word-level
tokenizer is trained on them with the ``tokenizers`` trainer (``<model>.tokenizer.json``
beside the model); the classifier is an embedding bag (the mean of the embeddings of the
tokens the mask keeps, then a linear layer), trained with numpy and written as an ONNX
graph with the onnx helper API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

#: The classes, by label index.
CLASSES = ("billing", "delivery", "technical")
_OPENERS = ("", "hi,", "hello,", "hey team,", "good morning,", "please help:", "urgent:",
            "sorry to bother you but")
_CLOSERS = ("", "thanks", "thank you.", "please fix this", "can you help?",
            "this is the second time", "i am not happy")
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "billing": (
        "i was charged {twice} for my {thing}",
        "the refund for my {thing} has not arrived",
        "my invoice shows the wrong amount for the {thing}",
        "why was my card charged again this {when}",
        "please cancel my subscription and refund the payment",
        "the discount code was not applied to my {thing} payment",
        "i need a receipt for the {thing} i paid for {when}",
        "the price on my bill is higher than on the website",
    ),
    "delivery": (
        "my {thing} has not been delivered yet",
        "the parcel with my {thing} arrived damaged",
        "the courier left my {thing} at the wrong address",
        "tracking says delivered {when} but nothing came",
        "when will my {thing} be shipped",
        "the package is stuck in the warehouse since {when}",
        "i received someone else's parcel instead of my {thing}",
        "can you change the delivery address for my {thing}",
    ),
    "technical": (
        "the app crashes when i open my {thing} page",
        "i cannot log in since {when}, the password reset fails",
        "the website shows an error when i upload a photo of my {thing}",
        "the screen stays blank after the update {when}",
        "my {thing} does not connect to the wifi",
        "the login page keeps loading forever",
        "i get error 500 when i save my {thing} settings",
        "the {thing} firmware update failed and now it will not start",
    ),
}
_FILLS = {
    "twice": ("twice", "two times", "three times", "double"),
    "thing": ("order", "headphones", "phone", "laptop", "router", "shoes", "account",
              "camera", "subscription box", "speaker"),
    "when": ("yesterday", "today", "last week", "monday", "this morning", "month"),
}


def support_tickets(rows: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``rows`` tickets (a third per class, shuffled) and their labels (indices of
    :data:`CLASSES`), from templates with a fixed seed."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(rows) % len(CLASSES))
    texts = []
    for label in labels.tolist():
        template = str(rng.choice(_TEMPLATES[CLASSES[label]]))
        body = template.format(**{k: str(rng.choice(v)) for k, v in _FILLS.items()})
        words = [str(rng.choice(_OPENERS)), body, str(rng.choice(_CLOSERS))]
        texts.append(" ".join(w for w in words if w))
    return texts, labels.astype(np.int64)


def train_tokenizer(texts: list[str]) -> Any:
    """A word-level tokenizer (lower case; words and punctuation apart; ``[PAD]`` is id 0,
    ``[UNK]`` 1, no special tokens added) trained on ``texts``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(texts, trainers.WordLevelTrainer(
        special_tokens=["[PAD]", "[UNK]"], show_progress=False))
    return tokenizer


def _padded(tokenizer: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encodings = tokenizer.encode_batch(texts)
    longest = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(texts), longest), dtype=np.int64)
    mask = np.zeros((len(texts), longest), dtype=np.float64)
    for i, e in enumerate(encodings):
        ids[i, : len(e.ids)], mask[i, : len(e.ids)] = e.ids, 1.0
    return ids, mask


def train_embedding_bag(ids: np.ndarray, mask: np.ndarray, y: np.ndarray, vocab: int,
                        dim: int = 16, steps: int = 300, seed: int = 5
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings, weights and bias of mean(embeddings of the kept tokens) @ W + b, trained
    by Adam on the cross-entropy of softmax over the classes."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(0, 0.1, (vocab, dim)), rng.normal(0, 0.1, (dim, len(CLASSES))),
              np.zeros(len(CLASSES))]
    onehot = np.eye(len(CLASSES))[y]
    # The masked mean as a product: share[n, v] is the weight of token v in text n.
    share = np.zeros((len(y), vocab))
    np.add.at(share, (np.arange(len(y))[:, None], ids), mask / mask.sum(axis=1, keepdims=True))
    with threadpool_limits(1):  # tiny products: threads only contend
        _descend(params, share, onehot, steps)
    return params[0], params[1], params[2]


def _descend(params: list[np.ndarray], share: np.ndarray, onehot: np.ndarray,
             steps: int) -> None:
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    for step in range(1, steps + 1):
        table, weights, bias = params
        mean = share @ table
        logits = mean @ weights + bias
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        d_logits = (probs - onehot) / len(onehot)
        grads = [share.T @ (d_logits @ weights.T), mean.T @ d_logits, d_logits.sum(axis=0)]
        for p, g, (m, v) in zip(params, grads, moments, strict=True):
            m[:] = 0.9 * m + 0.1 * g
            v[:] = 0.999 * v + 0.001 * g * g
            p -= 0.05 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)


def embedding_bag_onnx(table: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> bytes:
    """The classifier as an ONNX graph: inputs ``input_ids`` and ``attention_mask`` (int64
    ``[batch, sequence]``), outputs ``label``, ``probabilities`` and ``embedding`` (the
    text's pooled vector: the mean of its kept tokens' embeddings, float ``[batch, dim]``)."""
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: Any, dtype: Any = np.float32) -> Any:
        return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)

    nodes = [
        helper.make_node("Gather", ["embeddings", "input_ids"], ["embedded"], axis=0),
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["embedded", "mask3"], ["kept"]),
        helper.make_node("ReduceSum", ["kept", "axis1"], ["total"], keepdims=0),
        helper.make_node("ReduceSum", ["mask", "axis1"], ["count"], keepdims=1),
        helper.make_node("Max", ["count", "one"], ["at_least_one"]),
        helper.make_node("Div", ["total", "at_least_one"], ["embedding"]),
        helper.make_node("MatMul", ["embedding", "weights"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
    ]
    tokens = ["batch", "sequence"]
    graph = helper.make_graph(
        nodes, "text_tokens",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, tokens),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, tokens)],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                       ["batch", len(CLASSES)]),
         helper.make_tensor_value_info("embedding", TensorProto.FLOAT,
                                       ["batch", table.shape[1]])],
        initializer=[const("embeddings", table), const("weights", weights),
                     const("bias", bias), const("one", [1.0]),
                     const("axis1", [1], np.int64), const("axis2", [2], np.int64)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def training_tickets() -> tuple[list[str], np.ndarray]:
    """What the example is trained on: 600 :func:`support_tickets` (seed 19)."""
    return support_tickets(600, seed=19)


def train_text_tokens() -> bytes:
    """The example classifier, trained on :func:`training_tickets` tokenized by
    :func:`train_tokenizer` (the same each time: both are seeded)."""
    texts, y = training_tickets()
    tokenizer = train_tokenizer(texts)
    ids, mask = _padded(tokenizer, texts)
    return embedding_bag_onnx(*train_embedding_bag(ids, mask, y, tokenizer.get_vocab_size()))


def tokenizer_path(model_path: Path) -> Path:
    """Where the example's tokenizer lies: ``<model>.tokenizer.json`` beside the model."""
    return model_path.with_suffix(".tokenizer.json")


def write_text_tokenizer(model_path: Path, force: bool = False) -> Path:
    """Write the example's ``tokenizer.json`` (and its ``.sha256``) beside the model."""
    from streaminfer.operators.model_runner import write_model_file

    path = tokenizer_path(model_path)
    if force or not path.exists():
        text = train_tokenizer(training_tickets()[0]).to_str(pretty=True)
        write_model_file(text.encode("utf-8"), path)
    return path
