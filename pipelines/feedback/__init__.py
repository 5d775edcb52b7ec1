"""Feedback: join late labels to predictions (the joiner, its pool, live validation)."""
