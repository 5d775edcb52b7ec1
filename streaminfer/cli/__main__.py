"""``python -m streaminfer.cli``."""

from streaminfer.cli.commands import main

main()
