"""``streaminfer broker``: the embedded development broker in the foreground."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from streaminfer.cli.common import err
from streaminfer.errors import BrokerError
from streaminfer.waiting import wait_until


def broker(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9092,
) -> None:
    """Run the embedded development broker in the foreground (in memory: data is lost on exit)."""
    from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
    from streaminfer.pipelines.process.stop_signals import StopSignals

    with StopSignals("stopping the embedded broker") as signals:
        dev = EmbeddedBroker(host, port).start()
        try:
            err.print(f"embedded broker on [bold]{dev.bootstrap_servers}[/bold] (in memory); "
                      "Ctrl-C stops")
            err.print("It slows down as partitions fill up with record batches: send few, "
                      "large ones (linger.ms 250 or more). See docs/operations.md.")
            wait_until(lambda: not dev.running, math.inf, every_s=0.5, stop=signals.event)
            if not signals.event.is_set():
                raise BrokerError(f"the embedded broker exited: {dev.log_tail()}")
        finally:
            dev.stop()
