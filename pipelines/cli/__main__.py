"""``python -m streaminfer.pipelines.cli``."""

from streaminfer.pipelines.cli.commands import main

main()
