"""Kafka I/O: the one client factory (:mod:`.factory`), each member's client settings
(:mod:`.clients`), the source and the sink, exact end offsets and lag, topic ranges and topic
creation, alerts publishing, the embedded development broker, and an in-memory Source/Sink twin
(:mod:`.memory`) for tests of the runtime's logic."""
