"""Stream operators: each does one job and is testable alone; the runtime composes them."""
