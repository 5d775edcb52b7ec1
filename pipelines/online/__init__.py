"""Online scoring: the scoring loop and worker actor, Serve replicas, autoscaler, the driver."""
