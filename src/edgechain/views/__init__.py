"""edgechain.views."""
