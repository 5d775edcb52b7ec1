"""Where a batch job scores (``batch.runner``): in its own process or on Ray Data."""

from __future__ import annotations

import pytest

from streaminfer.errors import ConfigError
from streaminfer.pipelines.batch.job import scores_in_process
from streaminfer.pipelines.spec.batch_spec import BatchSpec


def test_auto_scores_in_process_only_for_one_cpu_actor_and_no_ray_named_or_running() -> None:
    one = BatchSpec(actors=1)
    assert scores_in_process(one, cluster_named=False, ray_running=False)
    assert not scores_in_process(BatchSpec(actors=2), cluster_named=False, ray_running=False)
    assert not scores_in_process(BatchSpec(actors=1, num_gpus=0.5), cluster_named=False,
                                 ray_running=False)
    assert not scores_in_process(one, cluster_named=True, ray_running=False)
    assert not scores_in_process(one, cluster_named=False, ray_running=True)


def test_an_explicit_runner_wins_and_process_refuses_more_than_one_actor() -> None:
    assert scores_in_process(BatchSpec(runner="process"), cluster_named=True, ray_running=True)
    assert not scores_in_process(BatchSpec(runner="ray"), cluster_named=False,
                                 ray_running=False)
    with pytest.raises(ConfigError, match=r"batch.runner: process .* not 3; set batch.actors"):
        scores_in_process(BatchSpec(runner="process", actors=3), cluster_named=False,
                          ray_running=False)
