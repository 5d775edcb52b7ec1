"""``streaminfer tail TOPIC`` without ``--from-beginning`` shows only records written after it
started: none of the existing ones (the embedded broker's ``end_offsets()`` points into the
last record batch; tail starts at the exact end)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_tail_without_from_beginning_prints_only_new_records(broker, topic_factory, produce):
    topic = topic_factory(partitions=1)
    # One flush: the producer packs them into a few large batches, the last one of many.
    produce(topic, [json.dumps({"old": i}).encode() for i in range(2000)])
    tail = subprocess.Popen(
        [sys.executable, "-m", "streaminfer.cli", "tail", topic, "--raw", "--max-events", "1",
         "-b", broker.bootstrap_servers],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    lines: queue.Queue[tuple[str, str]] = queue.Queue()
    for name, stream in (("out", tail.stdout), ("err", tail.stderr)):
        threading.Thread(target=_lines, args=(name, stream, lines), daemon=True).start()
    try:
        # tail says on stderr when it follows the topic's end; nothing may come before that.
        name, line = lines.get(timeout=60)
        while name == "err" and "following" not in line:
            name, line = lines.get(timeout=60)
        assert name == "err", f"tail showed an old record before it followed the end: {line}"
        produce(topic, [json.dumps({"new": 1}).encode()])
        name, line = lines.get(timeout=60)
        assert name == "out", line
        assert json.loads(line)["value"] == {"new": 1}
        assert tail.wait(timeout=30) == 0
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()


def _lines(name: str, stream: Any, into: queue.Queue[tuple[str, str]]) -> None:
    for line in stream:
        into.put((name, line))
