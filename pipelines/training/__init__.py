"""Training: the model registry, retraining from labelled examples, the gate, alias roles."""
