"""Developer tools: the demo, its live view, example models, produce/tail helpers."""
