"""The ``streaminfer`` command line: one module per command group, assembled in :mod:`.commands`.

``main`` is the console script's entry point (``streaminfer.pipelines.cli:main``).
"""

from streaminfer.pipelines.cli.commands import app, main

__all__ = ["app", "main"]
