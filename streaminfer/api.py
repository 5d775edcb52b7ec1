"""The public entry points, gathered: :class:`Pipeline` (online scoring)."""

from __future__ import annotations

from streaminfer.pipelines.online.pipeline import Pipeline

__all__ = ["Pipeline"]
