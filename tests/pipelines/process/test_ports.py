"""Free ports come from below the kernel's range for outgoing connections."""

from __future__ import annotations

import socket

from streaminfer.pipelines.process.ports import LOWEST, ephemeral_low, free_port, port_free


def test_a_free_port_is_outside_the_outgoing_range_and_can_be_bound() -> None:
    port = free_port()
    if ephemeral_low() - LOWEST >= 1_000:
        assert LOWEST <= port < ephemeral_low()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert not port_free("127.0.0.1", port)
