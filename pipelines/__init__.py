"""Everything above the pure core (``operators``), in layers that import downward only
(``tests/test_layers.py``; docs/architecture.md draws them):

``spec`` (the YAML schema), ``process`` (signals, ports, heap, log levels), ``kafka`` (Kafka
I/O), ``lifecycle`` (versions, registry, rules, retraining), ``runtime`` (the loop, actors,
pools, model store, Serve), then the pipeline kinds as composition: ``feedback`` and
``rollout``, ``online``, then ``batch``, ``validation``, ``optimize``, and ``devtools`` (the
demo, example models, topic tools). The command line is ``streaminfer.cli``, above them all.
"""
