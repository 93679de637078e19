"""The root of edgechain's error tree and the base layer's own errors.

    EdgechainError                      every error edgechain raises on purpose
    ├── BaseLayerError                  this layer
    │   ├── EncodingError               bytes that are not a canonical encoding of the type
    │   ├── CryptoError
    │   │   └── InvalidSignature        a signature that does not verify
    │   └── ArithmeticOverflow          an amount or counter out of range
    ├── ViewError                       edgechain.views
    ├── ExecutionError                  edgechain.execution
    ├── ChainError                      edgechain.chain
    ├── StorageError                    edgechain.storage
    ├── NodeError                       edgechain.core / edgechain.rpc
    └── ...                             each layer adds its own base

(The ML engine, `edgechain.ml`, stands on its own and has its own root, `MLError`.)
"""

from __future__ import annotations


class EdgechainError(Exception):
    """Every error edgechain raises on purpose derives from this."""


class BaseLayerError(EdgechainError):
    """An error of the base layer: encodings, cryptography, arithmetic."""


class EncodingError(BaseLayerError):
    """Bytes that are not the canonical encoding of the expected type, or a value that cannot be encoded."""


class CryptoError(BaseLayerError):
    """A malformed key, hash or signature."""


class InvalidSignature(CryptoError):
    """A signature that does not verify for the given value and public key."""


class ArithmeticOverflow(BaseLayerError):
    """An amount, height or counter that would leave its range."""
