"""Where a model runs: in the worker's process, or on Ray Serve replicas through a handle.

Both take a feature matrix (or a feed by input name) and give back a :class:`Pending`
result, so the worker can have several micro-batches at the replicas while it polls
(bounded by ``serve.max_in_flight``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from streaminfer.errors import StreamInferError
from streaminfer.operators.inputs import Feed, feed_rows
from streaminfer.operators.model_runner import ModelInfo, OnnxModel, rows_of
from streaminfer.operators.records import RecordError
from streaminfer.waiting import backoff_s

if TYPE_CHECKING:
    from ray.serve.handle import DeploymentHandle, DeploymentResponse

log = logging.getLogger(__name__)

RowResults = tuple[list[dict[str, Any] | RecordError], bool]


@dataclass(frozen=True)
class ReplicaAnswer:
    """What a replica sends back for one request: the raw outputs when the model ran on the
    whole batch, else one result per row (and ``failed``)."""

    outputs: list[Any] | None
    rows: list[dict[str, Any] | RecordError] | None = None
    failed: bool = False

    def results(self, count: int, fields: list[str]) -> RowResults:
        if self.outputs is not None:
            rows: list[dict[str, Any] | RecordError] = list(rows_of(self.outputs, count, fields))
            return rows, False
        assert self.rows is not None
        return self.rows, self.failed


class ModelUnavailableError(StreamInferError):
    """The replicas did not answer a model call, even after the configured retries."""


class Pending(Protocol):
    def done(self) -> bool:
        """True once :meth:`result` will not block."""
        ...

    def result(self) -> RowResults:
        """One result per row, and whether the batch as a whole failed in the model."""
        ...


class ModelBackend(Protocol):
    info: ModelInfo

    def submit(self, matrix: Feed) -> Pending: ...


class _Ready:
    def __init__(self, value: RowResults) -> None:
        self._value = value

    def done(self) -> bool:
        return True

    def result(self) -> RowResults:
        return self._value


class LocalModel:
    """``serving: colocated``: the worker runs the model itself, at submit time."""

    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self.info = model.info

    def submit(self, matrix: Feed) -> Pending:
        return _Ready(self.model.predict_each(matrix))


class ServedModel:
    """``serving: serve``: a Ray Serve deployment runs the model; calls are retried when a
    replica dies or does not answer in time (the batch is scored again, nothing is lost)."""

    def __init__(
        self, handle: DeploymentHandle[Any], info: ModelInfo, *, timeout_s: float, retries: int
    ) -> None:
        self.handle = handle
        self.info = info
        self.timeout_s = timeout_s
        self.retries = retries
        #: Calls submitted and not answered yet (changed by the scoring loop's thread only;
        #: a hot swap waits for the replaced version's to reach 0 before its replicas go).
        self.outstanding = 0

    def submit(self, matrix: Feed) -> Pending:
        return _Call(self, matrix)


#: Ray Serve's call that waits until a replica has taken a request (a DeveloperAPI of
#: ``DeploymentResponse``; tests/pipelines/runtime/test_model_backends.py fails on a Ray
#: without it, and here it is missed once, loudly, never silently).
HAND_OVER = "_to_object_ref_sync"
_missing_said = threading.Event()


def hand_over(response: Any, timeout_s: float) -> bool:
    """Wait until a replica has taken ``response``'s request; False where this Ray lacks the
    call (logged once: calls then leave when the worker next waits, slower, not wrong).
    A call no replica took in time, or that failed, is left to ``result()``, which retries
    as for any failure."""
    assign = getattr(response, HAND_OVER, None)
    if assign is None:
        if not _missing_said.is_set():
            _missing_said.set()
            log.warning("this Ray Serve has no DeploymentResponse.%s: calls to replicas "
                        "leave when the worker next waits (slower, not wrong)", HAND_OVER)
        return False
    with contextlib.suppress(Exception):
        assign(_timeout_s=timeout_s)
    return True


class _Call:
    def __init__(self, backend: ServedModel, matrix: Feed) -> None:
        self._backend = backend
        self._matrix = matrix
        self._response = self._send()
        self._value: ReplicaAnswer | None = None
        self._open = True
        backend.outstanding += 1

    def _send(self) -> DeploymentResponse[Any]:
        """Call the replicas, and wait until the call has left for one of them.

        ``remote()`` only queues the call on Serve's router, a thread of this process; the
        worker's next step (decoding the next micro-batch) holds the GIL, so the router
        would send it late, and the replica ran while the worker waited for its answer
        (docs/decisions.md, 2026-12-07). Waiting here for the assignment overlaps them.
        """
        backend = self._backend
        response = cast("DeploymentResponse[Any]", backend.handle.predict.remote(self._matrix))
        hand_over(response, backend.timeout_s)
        return response

    def _closed(self) -> None:
        """Answered, or given up: no longer outstanding (once)."""
        if self._open:
            self._open = False
            self._backend.outstanding -= 1

    def done(self) -> bool:
        if self._value is not None:
            return True
        try:
            self._value = self._response.result(timeout_s=0)
        except TimeoutError:
            return False
        except Exception:
            return True  # failed: result() retries
        self._closed()
        return True

    def result(self) -> RowResults:
        backend = self._backend
        attempt = 0
        while self._value is None:
            try:
                self._value = self._response.result(timeout_s=backend.timeout_s)
            except Exception as exc:  # replica died, timed out, deployment restarting
                attempt += 1
                if attempt > backend.retries:
                    self._closed()
                    raise ModelUnavailableError(
                        f"model {backend.info.name}: no answer after {attempt} attempt(s): "
                        f"{type(exc).__name__}: {exc}"
                    ) from None
                delay = backoff_s(attempt)
                log.warning("model %s call failed (%s); retrying in %.1fs", backend.info.name,
                            type(exc).__name__, delay)
                threading.Event().wait(delay)
                self._response = self._send()
        self._closed()
        return self._value.results(feed_rows(self._matrix), list(backend.info.outputs.values()))
