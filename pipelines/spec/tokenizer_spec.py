"""The ``model.tokenizer`` section: text to token ids for a model that takes them."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from streaminfer.operators.model_runner import read_model_file
from streaminfer.operators.tokens import TokenizerConfig, load_tokenizer
from streaminfer.pipelines.spec.base import FrozenModel, Sha256

SETTING = "model.tokenizer"


class TokenizerSpec(FrozenModel):
    """A ``tokenizer.json`` (the ``tokenizers`` library's format, as Hugging Face models
    ship it) that turns an event's text into the model's ``input_ids``,
    ``attention_mask`` and ``token_type_ids`` (those the model has), padded per
    micro-batch to its longest text (docs/inputs.md, 'Token ids')."""

    path: Path = Field(
        description="The tokenizer.json file (relative to this YAML file's folder); read "
        "where the model is loaded (workers, Serve replicas, batch).",
    )
    sha256: Sha256 | None = Field(
        None,
        description="Expected sha256 of the file; the model is refused if it differs. "
        "Without it, a '<file>.sha256' beside the file is checked if present.",
    )
    field: str = Field(min_length=1, description="The event field holding the text.")
    max_length: int = Field(
        512, ge=1, le=1_000_000,
        description="Most tokens a text keeps (special tokens included); a longer text is "
        "cut and counted (metric streaminfer_texts_truncated).",
    )
    input_ids: str = Field("input_ids", min_length=1,
                           description="The model input that takes the token ids.")
    attention_mask: str = Field(
        "attention_mask", min_length=1,
        description="The model input that takes the mask (1: a token, 0: padding), if the "
        "model has it.",
    )
    token_type_ids: str = Field(
        "token_type_ids", min_length=1,
        description="The model input that takes the token type ids, if the model has it.",
    )

    def operator(self) -> TokenizerConfig:
        """This section as the scoring operators take it: the file read, its sha256
        checked, and readable by the tokenizers library."""
        text = read_model_file(self.path, self.sha256, setting=SETTING).decode(
            "utf-8", errors="replace")
        load_tokenizer(text, f"{SETTING}.path {self.path}")
        return TokenizerConfig(text, self.field, self.max_length, self.input_ids,
                               self.attention_mask, self.token_type_ids)
