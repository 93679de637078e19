"""edgechain.chain."""
