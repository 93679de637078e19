"""The resource-control policy: prices and limits of a committee, as frozen data.

As in Linera's ``linera-execution/src/policy.rs``, prices and limits are data that the
admin chain publishes with each committee; charging is done by the execution layer,
which checks a limit *before* the work it bounds. Prices are in atto-units of the native
token. Fees (block, operations, messages, fuel, bytes read and written by contracts,
published blobs and their bytes) are taken from the chain's balance at the end of each
block; a chain that cannot pay fails the block (``InsufficientFundingForFees``).

The two presets:

    no_fees()    every price zero, every limit 2**64-1 (HTTP timeout 60 s): the local
                 default, as ``linera net up``
    testnet()    block 1e-6 token; fuel 1e-9 per unit; operation and message 1e-6 plus
                 1e-9 per byte; byte read 1e-9, byte written 1e-8; blob 1e-5 plus 1e-8 per
                 byte; 100 M fuel per block, 10 M per transaction; 1 MB blocks, blobs and
                 bytecode; 10 published blobs per block; 100 MB read and 10 MB written per
                 block; HTTP responses up to 10 MB within 10 s
"""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.values import Amount
from edgechain.execution.errors import PolicyLimitExceeded

_U64_MAX = (1 << 64) - 1
_MICRO_TOKEN = 10**12
"""One millionth of a token, in atto-units."""


@dataclass(frozen=True, slots=True)
class ResourceControlPolicy:
    """Prices (atto-units) and limits that every validator of a committee applies identically."""

    block: Amount
    """Base price of every block."""
    fuel_unit: Amount
    """Price of one unit of contract fuel."""
    operation: Amount
    """Price of each operation in a block."""
    operation_byte: Amount
    """Price of each byte of an operation's canonical encoding."""
    message: Amount
    """Price of each outgoing message."""
    message_byte: Amount
    """Price of each byte of an outgoing message's canonical encoding."""
    byte_read: Amount
    """Price of each byte a contract reads from storage."""
    byte_written: Amount
    """Price of each byte a contract writes to storage."""
    blob_published: Amount
    """Price of each published blob."""
    blob_byte_published: Amount
    """Price of each byte of a published blob."""
    maximum_fuel_per_block: int
    """Most fuel that all transactions of one block may use together."""
    maximum_fuel_per_transaction: int
    """Most fuel that one operation or message may use."""
    maximum_block_size: int
    """Largest canonical encoding of a block (its blobs travel beside it and are not counted)."""
    maximum_blob_size: int
    """Largest size in bytes of one published blob."""
    maximum_published_blobs: int
    """Most blobs that one block may publish."""
    maximum_bytecode_size: int
    """Largest size in bytes of an application's packed contract or service source."""
    maximum_bytes_read_per_block: int
    """Most bytes that the contracts of one block may read from storage."""
    maximum_bytes_written_per_block: int
    """Most bytes that the contracts of one block may write to storage."""
    maximum_http_response_bytes: int
    """Largest HTTP response a service's ``fetch_url`` accepts (the node's default cap)."""
    http_request_timeout_ms: int
    """Longest a service's ``fetch_url`` waits, in milliseconds (the node's default)."""

    @classmethod
    def no_fees(cls) -> ResourceControlPolicy:
        """Free and practically unlimited: the default for local networks and tests."""
        zero = Amount.zero()
        return cls(
            block=zero,
            fuel_unit=zero,
            operation=zero,
            operation_byte=zero,
            message=zero,
            message_byte=zero,
            byte_read=zero,
            byte_written=zero,
            blob_published=zero,
            blob_byte_published=zero,
            maximum_fuel_per_block=_U64_MAX,
            maximum_fuel_per_transaction=_U64_MAX,
            maximum_block_size=_U64_MAX,
            maximum_blob_size=_U64_MAX,
            maximum_published_blobs=_U64_MAX,
            maximum_bytecode_size=_U64_MAX,
            maximum_bytes_read_per_block=_U64_MAX,
            maximum_bytes_written_per_block=_U64_MAX,
            maximum_http_response_bytes=_U64_MAX,
            http_request_timeout_ms=60_000,
        )

    @classmethod
    def testnet(cls) -> ResourceControlPolicy:
        """Like a public test network: small prices, 1 MB blobs, 10 published blobs per block."""
        return cls(
            block=Amount(_MICRO_TOKEN),
            fuel_unit=Amount(_MICRO_TOKEN // 1000),
            operation=Amount(_MICRO_TOKEN),
            operation_byte=Amount(_MICRO_TOKEN // 1000),
            message=Amount(_MICRO_TOKEN),
            message_byte=Amount(_MICRO_TOKEN // 1000),
            byte_read=Amount(_MICRO_TOKEN // 1000),
            byte_written=Amount(_MICRO_TOKEN // 100),
            blob_published=Amount(_MICRO_TOKEN * 10),
            blob_byte_published=Amount(_MICRO_TOKEN // 100),
            maximum_fuel_per_block=100_000_000,
            maximum_fuel_per_transaction=10_000_000,
            maximum_block_size=1_000_000,
            maximum_blob_size=1_000_000,
            maximum_published_blobs=10,
            maximum_bytecode_size=1_000_000,
            maximum_bytes_read_per_block=100_000_000,
            maximum_bytes_written_per_block=10_000_000,
            maximum_http_response_bytes=10_000_000,
            http_request_timeout_ms=10_000,
        )

    def no_prices(self) -> bool:
        """Whether every price is zero (then no fee needs computing)."""
        return all(
            price == Amount.zero()
            for price in (
                self.block,
                self.fuel_unit,
                self.operation,
                self.operation_byte,
                self.message,
                self.message_byte,
                self.byte_read,
                self.byte_written,
                self.blob_published,
                self.blob_byte_published,
            )
        )

    def check_blob_size(self, size: int) -> None:
        """Raise PolicyLimitExceeded when a blob of ``size`` bytes may not be published."""
        if size > self.maximum_blob_size:
            raise PolicyLimitExceeded(
                f"blob of {size} bytes exceeds the limit of {self.maximum_blob_size} bytes"
            )

    def check_bytecode_size(self, size: int) -> None:
        """Raise PolicyLimitExceeded when application source of ``size`` bytes is too large."""
        if size > self.maximum_bytecode_size:
            raise PolicyLimitExceeded(
                f"bytecode of {size} bytes exceeds the limit of {self.maximum_bytecode_size} bytes"
            )

    def block_fees(
        self,
        *,
        operation_sizes: list[int],
        message_sizes: list[int],
        published_blob_count: int,
        published_blob_bytes: int = 0,
        fuel_used: int = 0,
        bytes_read: int = 0,
        bytes_written: int = 0,
    ) -> Amount:
        """The fees of one block, from the encoded sizes of its operations and outgoing messages.

        Blob bytes are charged only where the caller knows them (blobs travel beside blocks).
        """
        total = (
            self.block.atto
            + self.fuel_unit.atto * fuel_used
            + self.operation.atto * len(operation_sizes)
            + self.operation_byte.atto * sum(operation_sizes)
            + self.message.atto * len(message_sizes)
            + self.message_byte.atto * sum(message_sizes)
            + self.blob_published.atto * published_blob_count
            + self.blob_byte_published.atto * published_blob_bytes
            + self.byte_read.atto * bytes_read
            + self.byte_written.atto * bytes_written
        )
        return Amount(total)
