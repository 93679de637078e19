"""Who may propose blocks on a chain: super owners, weighted owners, and the round timeouts.

A single-owner chain has one *super owner*, who proposes in the fast round. A
multi-owner chain lists weighted owners; they propose in ``multi_leader_rounds``
multi-leader rounds (anyone of them, first come), then in single-leader rounds whose
leader is drawn by weight. Timeouts (µs) move a stalled chain to the next round.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgechain.base.identifiers import AccountOwner
from edgechain.execution.errors import InvalidOwnership


@dataclass(frozen=True, slots=True)
class TimeoutConfig:
    """How long each round may last before validators sign a timeout, in microseconds."""

    fast_round_duration: int | None = None
    """How long the fast round lasts (None: until a super owner moves on)."""
    base_timeout: int = 10_000_000
    """Duration of the first multi-leader or single-leader round."""
    timeout_increment: int = 1_000_000
    """Added to the duration of each following round."""
    fallback_duration: int = 86_400_000_000
    """After this long without a block, the validators may take over the chain."""


@dataclass(frozen=True, slots=True)
class ChainOwnership:
    """The owners of a chain and the rules of its rounds."""

    super_owners: list[AccountOwner]
    """Owners who may propose in the fast round (sorted, no duplicates)."""
    owners: dict[AccountOwner, int]
    """Regular owners and their weights, for the multi-leader and single-leader rounds."""
    multi_leader_rounds: int = 0
    """How many multi-leader rounds come before the single-leader rounds."""
    open_multi_leader_rounds: bool = False
    """Whether anyone, not only owners, may propose in the multi-leader rounds."""
    timeout_config: TimeoutConfig = field(default_factory=TimeoutConfig)
    """Round durations."""

    def __post_init__(self) -> None:
        if list(self.super_owners) != sorted(set(self.super_owners)):
            raise InvalidOwnership("super owners must be sorted and distinct")
        for owner, weight in self.owners.items():
            if not isinstance(weight, int) or weight <= 0:
                raise InvalidOwnership(f"owner {owner} has non-positive weight {weight}")
        if self.multi_leader_rounds < 0:
            raise InvalidOwnership("the number of multi-leader rounds cannot be negative")

    @classmethod
    def single(cls, owner: AccountOwner) -> ChainOwnership:
        """One super owner, who proposes in the fast round."""
        return cls(super_owners=[owner], owners={})

    @classmethod
    def multiple(
        cls,
        owners: dict[AccountOwner, int],
        multi_leader_rounds: int = 2,
        timeout_config: TimeoutConfig | None = None,
    ) -> ChainOwnership:
        """Weighted owners who propose in multi-leader, then single-leader rounds."""
        if not owners:
            raise InvalidOwnership("a multi-owner chain needs at least one owner")
        return cls(
            super_owners=[],
            owners=dict(sorted(owners.items())),
            multi_leader_rounds=multi_leader_rounds,
            timeout_config=timeout_config if timeout_config is not None else TimeoutConfig(),
        )

    def is_empty(self) -> bool:
        """True when nobody may propose (a chain given away to no one)."""
        return not self.super_owners and not self.owners

    def is_owner(self, owner: AccountOwner) -> bool:
        return owner in self.owners or owner in self.super_owners

    def all_owners(self) -> list[AccountOwner]:
        """Super owners and regular owners, sorted, without duplicates."""
        return sorted(set(self.super_owners) | set(self.owners))

    def is_single_owner(self) -> bool:
        return len(self.super_owners) == 1 and not self.owners
