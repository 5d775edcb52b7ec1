"""Pipelines by kind, each the wiring of operators into Ray actors or Serve deployments.

``spec`` (the YAML schema, loading, Kafka settings), ``common`` (what every kind needs: topics,
the embedded broker, the metrics endpoint, signals), ``online`` (streaming scoring),
``devtools`` (demo, example models, topic tools) and ``cli``. The coming kinds (``feedback``,
``batch``, ``training``, ``optimize``) become packages next to ``online``.
"""
