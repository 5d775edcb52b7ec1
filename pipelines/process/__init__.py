"""What any long-running process of ours needs: SIGINT/SIGTERM, free ports, the heap freeze, and
log levels that reach every actor."""
