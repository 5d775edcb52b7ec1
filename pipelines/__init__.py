"""Pipeline spec, the runtime that wires operators into Ray actors, and the CLI."""
