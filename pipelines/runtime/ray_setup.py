"""Ray for a pipeline: joined when it runs, else started with room for every actor.

On a terminal and quiet (no ``--verbose``), the actors' own lines stay in Ray's session logs
(``/tmp/ray/session_latest/logs/worker-*``) instead of printing into the live view; a crash
reaches the screen once, through the pools' crash reporting (``runtime/crash_loop.py``), and
Ray's own errors (an actor killed, out of memory) still print. Verbose, or when stderr is not
a terminal (a pod's log, a file, a pipe: no live view to garble), the actors' lines print.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import threading
from typing import Any

from streaminfer.errors import PipelineError, Stopped
from streaminfer.pipelines.process.log_levels import is_verbose, quiet_ray_token_note
from streaminfer.pipelines.spec.schema import PipelineSpec


def start_ray(spec: PipelineSpec) -> bool:
    """Start (or join) Ray unless it runs in this process; True when this call started it.

    ``ray.init`` takes SIGTERM over with a handler that exits with status 15: a handler of
    the caller's (a :class:`StopSignals`) comes back as soon as it returns (without one,
    Ray's stays: its exit runs Ray's shutdown), and a SIGTERM while it runs is
    :class:`Stopped` (Ray's half-started processes shut down), not a silent exit."""
    import ray

    if ray.is_initialized():
        return False
    kwargs = init_options(spec, verbose=is_verbose(), joins=bool(os.environ.get("RAY_ADDRESS")),
                          cpus=os.cpu_count() or 1, terminal=sys.stderr.isatty())
    ours = signal.getsignal(signal.SIGTERM) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        with quiet_ray_token_note():
            ray.init(**kwargs)
    except ConnectionError as exc:
        raise PipelineError(
            f"cannot connect to Ray at {spec.ray.address} (ray.address): {exc}"
        ) from None
    except SystemExit as exc:
        if exc.code != signal.SIGTERM:
            raise
        ray.shutdown()
        raise Stopped("SIGTERM while Ray was starting: stopped before anything ran") from None
    finally:
        if callable(ours):
            signal.signal(signal.SIGTERM, ours)
    return True


def init_options(spec: PipelineSpec, *, verbose: bool, joins: bool, cpus: int,
                 terminal: bool = True) -> dict[str, Any]:
    """``ray.init`` keywords: ``spec.ray``'s cluster, else the one ``RAY_ADDRESS`` names
    (``joins``), else a local Ray with ``cpus`` or what the actors need; the actors' lines on
    the driver's stderr when ``verbose`` or when it is no ``terminal`` (a log, not a screen)."""
    kwargs: dict[str, Any] = {
        "namespace": spec.ray.namespace,
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": verbose or not terminal,
    }
    if spec.ray.address:
        kwargs["address"] = spec.ray.address
    elif not joins:
        kwargs["num_cpus"] = max(cpus, cpus_needed(spec))
    return kwargs


def cpus_needed(spec: PipelineSpec) -> int:
    """CPUs the most workers, replicas and joiners of ``spec`` reserve together, with a
    shadow's joiners and the automatic retraining's task when it can run them."""
    workers = spec.workers
    most = max(workers.count, workers.autoscale.max_workers if workers.autoscale.enabled else 0)
    replicas = sum(m.serve.max_replicas * m.serve.num_cpus
                   for m in spec.model_specs if m.serving == "serve")
    joiners = 0.0
    if spec.feedback is not None:
        follows = spec.rollout.follow_aliases and any(
            m.registry_ref is not None and m.registry_ref.alias is not None
            for m in spec.model_specs)
        pools = 2 if follows else 1  # a shadow is joined to the labels by a pool of its own
        joiners = pools * spec.feedback.joiners.count * spec.feedback.joiners.num_cpus
    retrain = spec.retrain.when.num_cpus if spec.retrain and spec.retrain.when.enabled else 0.0
    return math.ceil(most * workers.num_cpus + replicas + joiners + retrain)
