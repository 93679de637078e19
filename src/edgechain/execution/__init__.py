"""edgechain.execution."""
