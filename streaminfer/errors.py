"""The exceptions streaminfer raises.

Every error derives from :class:`StreamInferError` and says what the user must fix, in one
line, so the CLI can print it without a traceback.
"""

from __future__ import annotations


class StreamInferError(Exception):
    """Root of every error streaminfer raises on purpose."""


class ConfigError(StreamInferError):
    """A pipeline YAML (or an option) is invalid: the message names the file, field and fix."""


class ModelError(StreamInferError):
    """A model file is missing, corrupt, fails its sha256 check or does not fit the config."""


class BrokerError(StreamInferError):
    """Kafka is unreachable, a topic is missing, or the embedded broker cannot start."""


class DeviceError(StreamInferError):
    """An accelerator was asked for explicitly but is not usable here."""


class Stopped(StreamInferError):
    """A stop (SIGTERM) came before the work began: nothing ran, so nothing is lost; the CLI
    says so in one line and exits 0, as a stop mid-work does."""


class PipelineError(StreamInferError):
    """The running pipeline failed (a worker could not start, or died beyond its restarts)."""


class DataError(StreamInferError):
    """An input dataset is missing, unreadable, or lacks a column the config names."""


class RegistryError(StreamInferError):
    """The model registry is unreachable, or a model, version or alias is not in it."""
