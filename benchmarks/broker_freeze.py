"""The embedded broker's measured limit: the old demo's traffic freezes a partition.

The demo before the fix sent a record batch per partition every 5 ms (generator linger) and
10 ms (micro-batches), and its workers fetched with a 10 ms wait. This fills one partition of a
fresh embedded broker with the ~25,000 one-record batches that traffic left there within
~2 minutes, then sends live batches at that rate while a consumer with the old fetch settings
tails it, and prints JSON: batches sent, read, the slowest delivery, and whether the partition
froze (fewer than half the live batches read). Until now it always froze; the day it does not,
the broker got faster and docs/operations.md should say so (``make test`` checks the demo's
own traffic for an hour in tests/pipelines/kafka/test_embedded_broker_integration.py, with
:func:`tail_while_sending` from here).

    python benchmarks/broker_freeze.py [--batches 25000] [--live-s 12]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

MOST_BATCHES = 25_000  # the old demo left this many in a partition within ~2 minutes
LIVE_S = 12.0


def batches_per_second(generator_linger_ms: float, micro_batch_wait_ms: float) -> float:
    """Most record batches per second one partition of the demo receives: its generator
    sends one per linger; a worker writes one per micro-batch (predictions are keyed like
    the events, so one worker writes each partition).

    >>> batches_per_second(5, 10)
    200.0
    """
    return 1000.0 / min(generator_linger_ms, micro_batch_wait_ms)


def tail_while_sending(config: dict[str, Any], topic: str, start: int, *, rate: float,
                       fetch_max_wait_ms: int, live_s: float = LIVE_S
                       ) -> tuple[int, int, float]:
    """Send one-record batches at ``rate``/s for ``live_s`` seconds while a consumer tails
    the partition from ``start``; returns (sent, read, slowest delivery in ms)."""
    consumer = KafkaConsumer(**config, group_id=None, enable_auto_commit=False,
                             fetch_max_wait_ms=fetch_max_wait_ms)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, start)
    producer = KafkaProducer(**config, linger_ms=0)
    sent = 0
    stop = threading.Event()

    def send() -> None:
        nonlocal sent
        began = time.monotonic()
        while not stop.is_set() and time.monotonic() - began < live_s:
            producer.send(topic, value=str(time.monotonic()).encode(), partition=0)
            producer.flush()  # one record, one batch
            sent += 1
            stop.wait(max(0.0, began + sent / rate - time.monotonic()))

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    read, slowest = 0, 0.0
    deadline = time.monotonic() + live_s + 5
    try:
        while time.monotonic() < deadline and (sender.is_alive() or read < sent):
            for records in consumer.poll(timeout_ms=200).values():
                now = time.monotonic()
                read += len(records)
                slowest = max(slowest, *((now - float(r.value)) * 1000 for r in records))
    finally:
        stop.set()
        sender.join()
        producer.close()
        consumer.close()
    return sent, read, slowest


def fill(bootstrap: str, topic: str, count: int) -> None:
    """``count`` one-record batches into partition 0 (librdkafka sends them fast)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0,
                         "batch.num.messages": 1, "log_level": 3})
    for _ in range(count):
        while True:
            try:
                producer.produce(topic, value=b"{}", partition=0)
                break
            except BufferError:  # its queue is full: let it send
                producer.poll(0.01)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("the broker did not take every batch")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--batches", type=int, default=MOST_BATCHES,
                        help="Batches in the partition before the live traffic starts.")
    parser.add_argument("--live-s", type=float, default=LIVE_S)
    args = parser.parse_args()

    from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
    from streaminfer.pipelines.kafka.topics import ensure_topics

    rate = batches_per_second(5, 10)
    with EmbeddedBroker() as broker:
        config = {"bootstrap_servers": [broker.bootstrap_servers]}
        topic = f"frozen-{uuid.uuid4().hex[:8]}"
        ensure_topics(config, {topic: 1}, create_missing=True)
        began = time.monotonic()
        fill(broker.bootstrap_servers, topic, args.batches)
        filled_s = time.monotonic() - began
        sent, read, slowest = tail_while_sending(config, topic, args.batches, rate=rate,
                                                 fetch_max_wait_ms=10, live_s=args.live_s)
    print(json.dumps({
        "batches_before": args.batches, "fill_s": round(filled_s, 1), "rate_per_s": rate,
        "fetch_max_wait_ms": 10, "live_s": args.live_s, "sent": sent, "read": read,
        "slowest_ms": round(slowest, 1), "froze": read < sent / 2,
    }, indent=2))


if __name__ == "__main__":
    main()
