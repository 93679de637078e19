"""edgechain.sdk."""
