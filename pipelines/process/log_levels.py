"""How much every process of a pipeline logs: one setting, the CLI's ``--verbose``.

The driver sets it (:func:`set_verbose`); the pools hand it to each actor they start
(:func:`actor_options`, through the actor's environment) and the actor applies it
(:func:`setup_actor_logging`). Quiet (the default): kafka-python only says what is
CRITICAL (it logs every retried connection; the pipeline reports what matters), Ray and
filelock WARNING (but for Ray's note that a local Ray it starts uses token authentication, its
default: nothing to act on), and an actor's own lines WARNING. Verbose: all of them at INFO.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

#: The environment variable that carries the setting into actors ("1": verbose).
VERBOSE_ENV = "STREAMINFER_VERBOSE"
#: The logger of Ray's "Token authentication is enabled for this Ray cluster" warning.
RAY_TOKEN_NOTE = "ray._private.authentication.authentication_token_setup"
#: Log line format inside actors (Ray prefixes the actor and pid).
ACTOR_FORMAT = "%(levelname)s %(name)s: %(message)s"


def library_levels(verbose: bool) -> dict[str, int]:
    """Logger name -> level for the libraries the setting governs."""
    return {"kafka": logging.INFO if verbose else logging.CRITICAL,
            "librdkafka": logging.INFO if verbose else logging.CRITICAL,  # kafka.client: confluent
            "ray": logging.INFO if verbose else logging.WARNING,
            "filelock": logging.INFO if verbose else logging.WARNING,
            RAY_TOKEN_NOTE: logging.INFO if verbose else logging.ERROR}


def apply_levels(verbose: bool) -> None:
    for name, level in library_levels(verbose).items():
        logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def quiet_ray_token_note() -> Iterator[None]:
    """While a local Ray starts: its token-authentication note stays off the screen unless
    verbose, also when the pipeline runs from Python (where nothing else is changed: the
    logger's own level comes back after).

    >>> with quiet_ray_token_note():
    ...     logging.getLogger(RAY_TOKEN_NOTE).isEnabledFor(logging.WARNING)
    False
    """
    note = logging.getLogger(RAY_TOKEN_NOTE)
    before = note.level
    if not is_verbose():
        note.setLevel(max(before, library_levels(verbose=False)[RAY_TOKEN_NOTE]))
    try:
        yield
    finally:
        note.setLevel(before)


def set_verbose(verbose: bool) -> None:
    """In the driver: apply the setting and keep it for the actors started from here."""
    os.environ[VERBOSE_ENV] = "1" if verbose else "0"
    apply_levels(verbose)


def is_verbose() -> bool:
    """The setting in this process (quiet unless set)."""
    return os.environ.get(VERBOSE_ENV) == "1"


def actor_options() -> dict[str, Any]:
    """Ray ``.options(...)`` that carry the setting to an actor or task. Empty when quiet:
    quiet is what an actor assumes, and an actor with no runtime environment of its own
    can start in one of Ray's idle worker processes."""
    return {"runtime_env": {"env_vars": {VERBOSE_ENV: "1"}}} if is_verbose() else {}


def setup_actor_logging() -> None:
    """In an actor or task: the libraries at the driver's setting, and our own lines from
    WARNING up (INFO when verbose). Ray copies every actor line to the driver's terminal,
    where a quiet run shows only its live view and what went wrong."""
    verbose = is_verbose()
    logging.basicConfig(level=logging.INFO, format=ACTOR_FORMAT)
    logging.getLogger("streaminfer").setLevel(logging.INFO if verbose else logging.WARNING)
    apply_levels(verbose)
