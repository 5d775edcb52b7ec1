"""Batch inference on Ray Data: files or exact topic ranges through the online operators."""
