"""edgechain.cli."""
