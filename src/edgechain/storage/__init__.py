"""edgechain.storage."""
