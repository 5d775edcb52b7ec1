"""Free ports for the servers we start (the embedded broker, Serve's HTTP proxy in tests).

A port the kernel hands out for ``bind(0)`` comes from its range for outgoing connections
(``/proc/sys/net/ipv4/ip_local_port_range``, 32768-60999 by default), so between picking it
and the server binding it, any client's outgoing connection (a Kafka consumer, a Ray worker)
can take it: "Address already in use". We pick from just below that range instead, above
Ray's worker ports (10002-19999), where only a listener can clash, and check it is free.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 20_000  # Ray's worker processes listen on 10002-19999 by default


def ephemeral_low() -> int:
    """The first port of the kernel's range for outgoing connections (32768 if unknown)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port(host: str = "127.0.0.1", tries: int = 64) -> int:
    """A port no one listens on, outside the range for outgoing connections when it can be;
    else any free port the kernel gives."""
    high = ephemeral_low()
    if high - LOWEST >= 1_000:
        pick = random.Random()
        for _ in range(tries):
            port = pick.randrange(LOWEST, high)
            if port_free(host, port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
