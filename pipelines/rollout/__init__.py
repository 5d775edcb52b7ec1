"""Rollout of registered versions into a running pipeline: follow aliases, hot swap."""
