"""edgechain.core."""
