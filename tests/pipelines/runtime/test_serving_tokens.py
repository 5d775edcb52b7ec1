"""A Serve replica merges the feeds of its requests into one run: token ids padded per
micro-batch (different widths) are padded again to the widest, with the tokenizer's pad id,
and each request gets what scoring its feed alone gives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streaminfer.operators.model_runner import read_model_file
from streaminfer.operators.tokens import TokenFeedBuilder
from streaminfer.pipelines.runtime.assembly import load_model
from streaminfer.pipelines.runtime.serving import ModelReplica, merge_pads
from tests.pipelines.runtime.test_scoring_tokens import config_model


def test_feeds_of_different_widths_merge_into_one_run(
    model_factory: Callable[[str], Path],
) -> None:
    spec = config_model(model_factory("text_tokens"))
    model = load_model(spec, read_model_file(spec.path))
    builder = model.info.feed_builder()
    assert isinstance(builder, TokenFeedBuilder)
    batches = [["refund please", "my parcel is late"],
               ["the app crashes when i open my account page after the update"],
               ["hi"]]
    feeds = [builder.matrix([builder.values({"text": t}) for t in texts])[0]
             for texts in batches]
    assert len({f["input_ids"].shape[1] for f in feeds}) == 3  # each padded to its longest
    replica = ModelReplica.__new__(ModelReplica)  # its merge, without Serve around it
    replica.model = model
    replica.pads = merge_pads(model.info)
    assert replica.pads == {"input_ids": 0}  # the example tokenizer's [PAD]
    answers = replica._predict_merged(feeds)
    for feed, answer in zip(feeds, answers, strict=True):
        assert answer.outputs is not None  # one run served them all
        alone = model.run(feed)
        for got, want in zip(answer.outputs, alone, strict=True):
            np.testing.assert_allclose(got, want, atol=1e-6)
    with pytest.raises(ValueError, match="dimensions"):
        np.concatenate([f["input_ids"] for f in feeds])  # what a plain merge meets
