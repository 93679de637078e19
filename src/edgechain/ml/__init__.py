"""edgechain.ml."""
