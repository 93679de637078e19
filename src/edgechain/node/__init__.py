"""edgechain.node."""
