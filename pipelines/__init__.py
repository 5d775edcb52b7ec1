"""Pipelines by kind, each the wiring of operators into Ray actors or Serve deployments.

``spec`` (the YAML schema, loading, Kafka settings), ``common`` (what every kind needs: topics,
the embedded broker, the metrics endpoint, signals), ``online`` (streaming scoring),
``feedback`` (labels joined to predictions), ``batch``, ``validation``, ``training``
(retraining, the registry), ``rollout`` (hot swap, shadow, canary, the promote and rollback
rules), ``optimize`` and ``devtools`` (demo, example models, topic tools). The command line is
``streaminfer.cli``, above them all.
"""
