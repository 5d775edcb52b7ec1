"""The pipeline YAML: schema, loading with readable errors, generated docs, Kafka settings."""
