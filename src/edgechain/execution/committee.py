"""Committees of validators: voting weights, network addresses, quorum thresholds, policy.

The admin chain holds one committee per epoch. Thresholds follow Linera: with a total
weight N, ``validity = ceil(N / 3)`` (enough weight to contain one honest validator)
and ``quorum = ceil((N + validity) / 2)`` (two quorums intersect in a validity set).
With 3f+1 validators of weight 1 that is f+1 and 2f+1.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.crypto import PublicKey
from edgechain.execution.errors import InvalidCommittee
from edgechain.execution.policy import ResourceControlPolicy


@dataclass(frozen=True, slots=True)
class ValidatorState:
    """What the committee knows about one validator."""

    weight: int
    """Voting weight (a positive integer)."""
    network_address: str
    """Where the validator listens, e.g. ``"local:0"`` or ``"tcp:host:port"``."""


@dataclass(frozen=True, slots=True)
class Committee:
    """The validators of one epoch with their weights, and the policy they enforce."""

    validators: dict[PublicKey, ValidatorState]
    """Every validator's state, by its public key."""
    policy: ResourceControlPolicy
    """Prices and limits applied by this committee."""

    def __post_init__(self) -> None:
        if not self.validators:
            raise InvalidCommittee("a committee needs at least one validator")
        for public_key, state in self.validators.items():
            if not isinstance(state.weight, int) or state.weight <= 0:
                raise InvalidCommittee(
                    f"validator {public_key} has non-positive weight {state.weight}"
                )

    @classmethod
    def of_equal_weights(
        cls, public_keys: list[PublicKey], policy: ResourceControlPolicy | None = None
    ) -> Committee:
        """A committee where every validator has weight 1 and address ``local:<index>``."""
        return cls(
            {key: ValidatorState(1, f"local:{index}") for index, key in enumerate(public_keys)},
            policy if policy is not None else ResourceControlPolicy.no_fees(),
        )

    @property
    def total_weight(self) -> int:
        return sum(state.weight for state in self.validators.values())

    @property
    def validity_threshold(self) -> int:
        """Weight enough to include at least one honest validator: ceil(N / 3)."""
        return -(-self.total_weight // 3)

    @property
    def quorum_threshold(self) -> int:
        """Weight needed for a certificate: ceil((N + validity) / 2)."""
        return -(-(self.total_weight + self.validity_threshold) // 2)

    def weight(self, public_key: PublicKey) -> int:
        """The voting weight of ``public_key``; 0 for a key outside the committee."""
        state = self.validators.get(public_key)
        return 0 if state is None else state.weight
