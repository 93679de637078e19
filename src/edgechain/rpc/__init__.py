"""edgechain.rpc."""
