"""Ray Serve: model replicas (``model.serving: serve``) and the HTTP scoring endpoint.

Each served model is a Serve application of its own, ``<pipeline>-<model>``, with one
deployment, ``ModelReplica``: replicas ask Ray for the configured CPUs/GPUs, run the model
with CUDA when Ray gave them a GPU, merge concurrent requests into one model run
(``@serve.batch``) and are autoscaled by Serve. Source workers call it through a handle.
With ``http.enabled`` one more application, ``<pipeline>-http``, takes POSTed events on
``http.route_prefix`` and scores them with the same models and the same contract.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import orjson
from ray import serve

from streaminfer.errors import ModelError, PipelineError
from streaminfer.operators.dead_letter import ERROR_FIELD, ERROR_MESSAGE, ERROR_TYPE, SOURCE_OFFSET
from streaminfer.operators.inputs import Feed, concat_feeds, feed_rows
from streaminfer.operators.model_runner import ModelInfo, has_rows
from streaminfer.operators.records import Record, RecordError, SourceRecord
from streaminfer.pipelines.process.heap import freeze_heap
from streaminfer.pipelines.runtime.assembly import build_scorer, load_model
from streaminfer.pipelines.runtime.model_backends import ModelBackend, ReplicaAnswer, ServedModel
from streaminfer.pipelines.spec.model_spec import HTTP_INGRESS_CPUS, ModelSpec
from streaminfer.pipelines.spec.schema import PipelineSpec
from streaminfer.waiting import wait_until

log = logging.getLogger(__name__)

HTTP_TOPIC = "http"  # predictions made over HTTP name this as their source topic


def app_name(spec: PipelineSpec, model: ModelSpec) -> str:
    return f"{spec.name}-{model.model_name}"


def version_app_name(spec: PipelineSpec, model: ModelSpec, version: str) -> str:
    """The application of a version a running pipeline hot-swapped in (docs/rollout.md)."""
    return f"{app_name(spec, model)}-v{version}"


def http_app_name(spec: PipelineSpec) -> str:
    return f"{spec.name}-http"


DEPLOYMENT = "ModelReplica"


def replica_options(model: ModelSpec) -> dict[str, Any]:
    """The Serve deployment options a model's spec asks for (checked by unit tests, no GPU
    needed): resources for Ray's placement, and Serve's autoscaling, unless
    ``min_replicas == max_replicas``: then a fixed count, and no autoscaling metrics for
    the callers' handles to gather and push (docs/decisions.md, 2026-12-07)."""
    serve = model.serve
    actor: dict[str, Any] = {"num_cpus": serve.num_cpus}
    if serve.num_gpus:
        actor["num_gpus"] = serve.num_gpus
    if serve.accelerator_type:
        actor["accelerator_type"] = serve.accelerator_type
    common = {"name": DEPLOYMENT, "ray_actor_options": actor,
              "max_ongoing_requests": serve.max_ongoing_requests}
    if serve.min_replicas == serve.max_replicas:
        return {**common, "num_replicas": serve.min_replicas}
    return {
        **common,
        "autoscaling_config": {
            "min_replicas": serve.min_replicas,
            "max_replicas": serve.max_replicas,
            "initial_replicas": serve.initial_replicas or serve.min_replicas,
            "target_ongoing_requests": serve.target_ongoing_requests,
            "upscale_delay_s": serve.upscale_delay_s,
            "downscale_delay_s": serve.downscale_delay_s,
            "metrics_interval_s": 1.0,
            "look_back_period_s": 3.0,
        },
    }


def merge_pads(info: ModelInfo) -> dict[str, int]:
    """What pads each input of a model when a replica merges feeds padded per batch."""
    builder = info.feed_builder()
    return builder.pad_values() if builder is not None else {}


class ModelReplica:
    """One replica of a served model (the class Serve deploys)."""

    def __init__(self, model: ModelSpec, store: str, namespace: str,
                 version: str | None = None) -> None:
        """``version``: the one this application serves (a hot-swapped one), which its
        store keeps while it may still be asked for; ``None``: the store's current one."""
        import ray

        actor = ray.get_actor(store, namespace=namespace)
        data = ray.get(actor.get.remote() if version is None else
                       actor.get_version.remote(version))
        if data is None:
            raise PipelineError(f"model {model.model_name}: its store no longer holds "
                                f"version {version}")
        self.model = load_model(model, data)  # providers auto: CUDA when Ray gave a GPU
        self.pads = merge_pads(self.model.info)
        batched: Any = self.predict  # Serve's batch wrapper takes its settings at run time
        batched.set_max_batch_size(model.serve.max_batch_size)
        batched.set_batch_wait_timeout_s(model.serve.batch_wait_timeout_s)
        freeze_heap()

    def _predict_merged(self, matrices: list[Feed]) -> list[ReplicaAnswer]:
        """One model run for every request; each gets its slice of the raw outputs (cheap to
        send; the caller makes rows). If the run fails, each row runs alone and each
        request gets its rows, errors included."""
        sizes = [feed_rows(m) for m in matrices]
        merged = concat_feeds(matrices, self.pads)
        total = sum(sizes)
        try:
            outputs = self.model.run(merged)
            usable = all(has_rows(value, total) for value in outputs)
        except Exception:
            usable = False
        answers = []
        start = 0
        if usable:
            for size in sizes:
                answers.append(ReplicaAnswer([v[start : start + size] for v in outputs]))
                start += size
            return answers
        rows, _ = self.model.predict_each(merged)
        for size in sizes:
            part = rows[start : start + size]
            start += size
            answers.append(ReplicaAnswer(None, part, any(isinstance(r, RecordError)
                                                         for r in part)))
        return answers

    def describe(self) -> dict[str, Any]:
        """This replica's id and the ONNX Runtime providers its session uses."""
        return {"replica": serve.get_replica_context().replica_id.unique_id,
                "providers": list(self.model.info.providers)}

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.0)  # set per model in __init__
    async def predict(self, matrices: list[Feed]) -> list[ReplicaAnswer]:
        # ONNX Runtime releases the GIL: the replica keeps taking requests while it runs.
        return await asyncio.to_thread(self._predict_merged, matrices)


class HttpIngress:
    """POST one event (a JSON object) or a list of them; get predictions back.

    Invalid input gets a 4xx JSON body naming the problem and, where there is one, the
    field: ``{"error": "missing_feature", "errors": [{"index": 0, "type": ..., "field": ...,
    "message": ...}]}``. Nothing is scored unless every event of the request is valid.
    """

    def __init__(self, spec: PipelineSpec, infos: dict[str, ModelInfo],
                 apps: dict[str, str] | None = None) -> None:
        """``apps``: the application serving each model now (default: the first one)."""
        apps = apps or {}
        backends: dict[str, ModelBackend] = {
            m.model_name: ServedModel(
                serve.get_deployment_handle(DEPLOYMENT, app_name=apps.get(
                    m.model_name, app_name(spec, m))),
                infos[m.model_name], timeout_s=m.serve.request_timeout_s,
                retries=m.serve.request_retries,
            )
            for m in spec.model_specs
        }
        self.scorer = build_scorer(spec, backends)
        self.max_events = spec.http.max_events
        freeze_heap()

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import JSONResponse, Response

        def error(status: int, kind: str, message: str, **extra: Any) -> Response:
            return JSONResponse({"error": kind, "message": message, **extra}, status_code=status)

        if request.method != "POST":
            return error(405, "method_not_allowed", "POST a JSON event or a list of events")
        received_ms = int(time.time() * 1000)
        body = await request.body()
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return error(400, "invalid_json", f"the body is not valid JSON: {exc}")
        single = isinstance(payload, dict)
        events = [payload] if single else payload
        if not isinstance(events, list) or not events:
            return error(400, "invalid_request",
                         "the body must be a JSON object (one event) or a non-empty array")
        if len(events) > self.max_events:
            return error(413, "too_many_events",
                         f"{len(events)} events; at most {self.max_events} per request "
                         "(http.max_events)")
        records: list[Record] = [
            SourceRecord(HTTP_TOPIC, 0, i, received_ms, None, orjson.dumps(event))
            for i, event in enumerate(events)
        ]
        scored = await asyncio.to_thread(self.scorer.score, records)
        if scored.dead_letters:
            problems = [_problem(letter.headers) for letter in scored.dead_letters]
            problems.sort(key=lambda p: p["index"])
            status = 500 if all(p["type"] == "model_error" for p in problems) else 422
            first = problems[0]
            return error(status, first["type"], first["message"], errors=problems)
        predictions = [orjson.loads(value) for _, value in scored.predictions]
        return JSONResponse(predictions[0] if single else predictions)


def _problem(headers: list[tuple[str, bytes]]) -> dict[str, Any]:
    fields = {name: value.decode() for name, value in headers}
    return {
        "index": int(fields[SOURCE_OFFSET]),
        "type": fields[ERROR_TYPE],
        "field": fields.get(ERROR_FIELD),
        "message": fields[ERROR_MESSAGE],
    }


def deploy(spec: PipelineSpec, stores: dict[str, str], infos: dict[str, ModelInfo]) -> None:
    """Deploy every served model of ``spec`` (and the HTTP endpoint); waits until they run."""
    served = [m for m in spec.model_specs if m.serving == "serve"]
    if not served and not spec.http.enabled:
        return
    # Starting Serve starts its HTTP proxy too: on http.host/http.port, so that this
    # pipeline's choice holds even when only a later one publishes a route.
    serve.start(http_options={"host": spec.http.host, "port": spec.http.port},
                logging_config=QUIET)
    for model in served:
        replica = serve.deployment(**replica_options(model))(ModelReplica)
        serve.run(replica.bind(model, stores[model.model_name], spec.ray.namespace,
                               infos[model.model_name].version),
                  name=app_name(spec, model), route_prefix=None, logging_config=QUIET)
    if spec.http.enabled:
        deploy_http(spec, infos)
        _check_proxy(spec)
        log.info("scoring over HTTP on http://%s:%d%s", spec.http.host, spec.http.port,
                 spec.http.route_prefix)


QUIET = {"log_level": "WARNING"}


def deploy_http(spec: PipelineSpec, infos: dict[str, ModelInfo],
                apps: dict[str, str] | None = None) -> None:
    """(Re)deploy the HTTP endpoint over the models' applications ``apps`` (default: the
    first ones); redeployed, Serve replaces its replica gracefully."""
    ingress = serve.deployment(
        name="HttpIngress", ray_actor_options={"num_cpus": HTTP_INGRESS_CPUS}
    )(HttpIngress)
    serve.run(ingress.bind(spec, infos, apps), name=http_app_name(spec),
              route_prefix=spec.http.route_prefix, logging_config=QUIET)


def deploy_version(spec: PipelineSpec, model: ModelSpec, store: str, version: str,
                   timeout_s: float) -> str:
    """Deploy ``version`` of a served model (``model`` names its version and sha256) as an
    application of its own, beside the one serving now; its name once it runs. A
    ``ModelError`` (and nothing left deployed) when it does not run within ``timeout_s``."""
    name = version_app_name(spec, model, version)
    replica = serve.deployment(**replica_options(model))(ModelReplica)
    serve.run_many([serve.RunTarget(replica.bind(model, store, spec.ray.namespace, version),
                                    name=name, route_prefix=None, logging_config=QUIET)],
                   wait_for_applications_running=False)
    settled = ("RUNNING", "DEPLOY_FAILED", "UNHEALTHY")
    wait_until(lambda: _app_status(name) in settled, timeout_s)  # Serve's state, polled
    status = _app_status(name)
    if status == "RUNNING":
        return name
    delete_apps([name])
    options = model.serve
    raise ModelError(
        f"model {model.model_name}: the Serve replicas of version {version} are "
        f"{status.lower() if status else 'gone'} after {timeout_s:.0f}s; a hot swap starts "
        f"them beside the serving ones ({options.min_replicas} x {options.num_cpus:g} CPU"
        f"{f', {options.num_gpus:g} GPU' if options.num_gpus else ''}), so the cluster needs "
        "that room (rollout.swap_timeout_s bounds the wait)")


def _app_status(name: str) -> str | None:
    found = serve.status().applications.get(name)
    return None if found is None else str(found.status.value if hasattr(found.status, "value")
                                           else found.status)


def delete_apps(names: list[str], timeout_s: float = 30.0) -> None:
    """Delete Serve applications (their replicas finish what they hold) and wait for it."""
    for name in names:
        serve.delete(name, _blocking=False)  # all at once, then wait for them together
    # Serve's state, polled: it offers nothing to await.
    if not wait_until(lambda: not set(serve.status().applications) & set(names), timeout_s):
        log.warning("Serve applications %s still shutting down", ", ".join(names))


def _check_proxy(spec: PipelineSpec) -> None:
    """Serve has one HTTP proxy per Ray cluster: if Serve already ran with another port,
    http.port is silently not applied. Say so instead of scoring on a port nobody expects."""
    host = "127.0.0.1" if spec.http.host in ("0.0.0.0", "") else spec.http.host
    try:
        socket.create_connection((host, spec.http.port), timeout=2).close()
    except OSError:
        raise PipelineError(
            f"nothing listens on http.host:http.port ({spec.http.host}:{spec.http.port}): "
            "Ray Serve was already running on this Ray cluster with other HTTP options (one "
            "proxy serves every application); use that port, or restart Ray"
        ) from None


def undeploy(spec: PipelineSpec, timeout_s: float = 30.0) -> None:
    """Delete the pipeline's Serve applications (if Serve runs), hot-swapped versions'
    included."""
    try:
        first = [app_name(spec, m) for m in spec.model_specs if m.serving == "serve"]
        swapped = [app for app in serve.status().applications
                   if any(app.startswith(f"{name}-v") for name in first)]
        delete_apps(first + swapped + ([http_app_name(spec)] if spec.http.enabled else []),
                    timeout_s)
    except Exception as exc:  # Serve already gone with Ray: nothing left to delete
        log.debug("serve.delete: %s", exc)
