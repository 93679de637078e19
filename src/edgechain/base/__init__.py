"""edgechain.base: identifiers, hashes, signatures, canonical encoding, amounts, the error root.

No I/O. Everything above builds on these types.
"""

from edgechain.base.crypto import CryptoHash, KeyPair, PublicKey, Signature, tagged_bytes
from edgechain.base.encoding import decode, encode
from edgechain.base.errors import (
    ArithmeticOverflow,
    BaseLayerError,
    CryptoError,
    EdgechainError,
    EncodingError,
    InvalidSignature,
)
from edgechain.base.identifiers import (
    Account,
    AccountOwner,
    ApplicationId,
    BlobId,
    BlobType,
    ChainId,
    ModuleId,
)
from edgechain.base.values import Amount, BlockHeight, Epoch, Timestamp

__all__ = [
    "Account",
    "AccountOwner",
    "Amount",
    "ApplicationId",
    "ArithmeticOverflow",
    "BaseLayerError",
    "BlobId",
    "BlobType",
    "BlockHeight",
    "ChainId",
    "CryptoError",
    "CryptoHash",
    "EdgechainError",
    "EncodingError",
    "Epoch",
    "InvalidSignature",
    "KeyPair",
    "ModuleId",
    "PublicKey",
    "Signature",
    "Timestamp",
    "decode",
    "encode",
    "tagged_bytes",
]
