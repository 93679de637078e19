"""edgechain: Linera-style microchains in Python whose applications run ML models at the edge.

The package is layered as DESIGN.md describes: base <- views <- execution <- chain <-
storage <- core <- rpc <- node, cli; sdk for application authors; ml on its own.
"""

__version__ = "0.1.0"
