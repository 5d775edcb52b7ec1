"""A pipeline's parts from its spec: a model from its bytes, the scorer over its models.

Used by source workers, Serve replicas and the HTTP endpoint alike.
"""

from __future__ import annotations

from collections.abc import Mapping

from streaminfer.operators.codecs import codec_for
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.routing import Router
from streaminfer.pipelines.runtime.gpus import hide_unassigned_gpus
from streaminfer.pipelines.runtime.model_backends import ModelBackend
from streaminfer.pipelines.runtime.scoring import BatchScorer
from streaminfer.pipelines.spec.schema import ModelSpec, PipelineSpec


def load_model(model: ModelSpec, data: bytes) -> OnnxModel:
    """A model from its bytes, as its spec configures it (on the CPU in an actor that Ray
    gave no GPU)."""
    hide_unassigned_gpus()
    return OnnxModel(
        data, name=model.model_name, version=model.version, expected_sha256=model.sha256,
        providers=model.providers, input_name=model.input_name, outputs=model.outputs,
        intra_op_threads=model.intra_op_threads, inputs=model.input_bindings(),
        postprocess=model.postprocess.operator() if model.postprocess is not None else None,
        tokenizer=model.tokenizer.operator() if model.tokenizer is not None else None,
    )


def build_scorer(spec: PipelineSpec, backends: Mapping[str, ModelBackend]) -> BatchScorer:
    """The scorer of a pipeline over these model backends."""
    routing = spec.routing
    router = None
    if routing is not None:
        router = Router(field=routing.field, routes=routing.routes, default=routing.default,
                        weights=routing.weights)
    source = spec.source
    codec = codec_for(source.codec, field=source.raw.field, id_field=source.id_field,
                      id_header=source.raw.id_header)
    return BatchScorer(backends, source, codec, router,
                       with_features=spec.feedback is not None)
