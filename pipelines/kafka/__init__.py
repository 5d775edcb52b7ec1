"""Kafka I/O: the one client factory, exact end offsets, client settings from the spec, and an
in-memory Source/Sink twin (:mod:`.memory`) for tests of the runtime's logic.

The factory (:func:`new_consumer`, :func:`new_producer`, :func:`new_admin`) and the exact
end-offset reader (:func:`exact_end_offsets`) are written once, in ``operators/`` beside the
Kafka source and sink that use them (``operators`` may not import ``pipelines``); they move here
with those modules.
"""

from streaminfer.operators.kafka_clients import new_admin, new_consumer, new_producer
from streaminfer.operators.topic_metadata import exact_end_offsets, wait_for_partitions

__all__ = ["exact_end_offsets", "new_admin", "new_consumer", "new_producer",
           "wait_for_partitions"]
