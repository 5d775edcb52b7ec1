"""The ``streaminfer`` command line: one module per command group, assembled in :mod:`.commands`.

``main`` is the console script's entry point (``streaminfer.cli:main``).
"""

from streaminfer.cli.commands import app, main

__all__ = ["app", "main"]
