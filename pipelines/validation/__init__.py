"""Offline validation: score a labelled dataset with one or two models and report."""
