"""The runtime: one loop (poll, process, produce, await acks, commit; :mod:`.delivery`) and its
implementations, the source worker and the joiner; the actor shell, the actor pool and the
driver-thread base; the model store, swaps, model backends and Ray Serve; the scorer assembly;
each actor's metrics."""
