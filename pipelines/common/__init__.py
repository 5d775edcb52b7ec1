"""What every pipeline kind needs: topics, the embedded broker, metrics endpoint, signals, heap."""
