"""SIGINT and SIGTERM: the first sets the stop event, a second aborts; handlers come back."""

import os
import signal

import pytest

from streaminfer.pipelines.process.stop_signals import StopSignals


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_asks_to_stop_and_a_second_aborts(sig):
    before = signal.getsignal(sig)
    with StopSignals() as signals:
        os.kill(os.getpid(), sig)
        assert signals.event.wait(5) and signals.received == sig
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig)
            signals.event.wait(5)  # the handler runs here, in the main thread
    assert signal.getsignal(sig) is before


def test_install_again_takes_back_a_handler_that_replaced_it():
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as signals:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(15))  # what ray.init does
        signals.install()
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.event.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before  # the first handler, not Ray's
