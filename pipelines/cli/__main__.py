"""``python -m streaminfer.pipelines.cli``."""

from streaminfer.pipelines.cli.main import main

main()
