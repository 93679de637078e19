"""Rounds of a chain's consensus: fast, then multi-leader, then single-leader.

Rounds are totally ordered: ``Fast < MultiLeader(0) < MultiLeader(1) < ... <
SingleLeader(0) < SingleLeader(1) < ...``. Single-owner chains use the fast round.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fast:
    """The fast round: a super owner's proposal is confirmed directly."""


@dataclass(frozen=True, slots=True)
class MultiLeader:
    """A multi-leader round: any owner may propose; conflicting proposals are possible."""

    number: int
    """Which multi-leader round (0, 1, ...)."""


@dataclass(frozen=True, slots=True)
class SingleLeader:
    """A single-leader round: only the round's leader, chosen by weight, may propose."""

    number: int
    """Which single-leader round (0, 1, ...)."""


Round = Fast | MultiLeader | SingleLeader
"""A round of a chain's consensus."""


def round_order(round_: Round) -> tuple[int, int]:
    """A sort key that orders rounds as consensus does."""
    if isinstance(round_, Fast):
        return (0, 0)
    if isinstance(round_, MultiLeader):
        return (1, round_.number)
    return (2, round_.number)


def is_fast(round_: Round) -> bool:
    return isinstance(round_, Fast)
