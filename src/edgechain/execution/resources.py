"""The resource tracker of one block: fuel, bytes read and written, checked against the policy.

As in Linera's ``resources.rs``, every charge checks the block's limit *before* it updates
the count, so a refused charge changes nothing. The totals feed the block's fees.
"""

from __future__ import annotations

from edgechain.execution.errors import PolicyLimitExceeded
from edgechain.execution.policy import ResourceControlPolicy


class ResourceTracker:
    """What the transactions of one block have used so far, within the policy's limits."""

    def __init__(self, policy: ResourceControlPolicy) -> None:
        self.policy = policy
        """The committee's prices and limits."""
        self.fuel_used = 0
        """Contract fuel used by all transactions so far."""
        self.bytes_read = 0
        """Bytes contracts read from storage (state and blobs)."""
        self.bytes_written = 0
        """Bytes contracts wrote to storage (keys and values)."""

    def transaction_fuel_limit(self) -> int:
        """The fuel a new transaction may use: the per-transaction limit or what the block has left."""
        block_left = self.policy.maximum_fuel_per_block - self.fuel_used
        return max(0, min(self.policy.maximum_fuel_per_transaction, block_left))

    def add_fuel(self, fuel: int) -> None:
        """Record the fuel a finished transaction used (its meter already enforced the limit)."""
        total = self.fuel_used + fuel
        if total > self.policy.maximum_fuel_per_block:
            raise PolicyLimitExceeded(
                f"block would use {total} fuel; the limit is {self.policy.maximum_fuel_per_block}"
            )
        self.fuel_used = total

    def charge_read(self, size: int) -> None:
        """Count ``size`` bytes read; refuse (before counting) beyond the block's limit."""
        total = self.bytes_read + size
        if total > self.policy.maximum_bytes_read_per_block:
            raise PolicyLimitExceeded(
                f"block would read {total} bytes; the limit is"
                f" {self.policy.maximum_bytes_read_per_block}"
            )
        self.bytes_read = total

    def charge_write(self, size: int) -> None:
        """Count ``size`` bytes written; refuse (before counting) beyond the block's limit."""
        total = self.bytes_written + size
        if total > self.policy.maximum_bytes_written_per_block:
            raise PolicyLimitExceeded(
                f"block would write {total} bytes; the limit is"
                f" {self.policy.maximum_bytes_written_per_block}"
            )
        self.bytes_written = total
