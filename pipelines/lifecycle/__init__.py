"""A model's life: what a version is (:mod:`.versions`), the MLflow registry and its roles,
``models:/`` references, retraining and its trainers, and the rules as pure functions: the gate,
rollback, promote, the retrain trigger and which version to swap to."""
