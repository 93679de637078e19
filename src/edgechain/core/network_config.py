"""A network as its users see it: the genesis file, and the validators' addresses in its committee.

A network's genesis (`GenesisConfig`: the committee of epoch 0, with each validator's
``network_address``, and the root chains) is written once, canonically encoded, by
``edgechain net up``; validators, wallets, the faucet and the node service all read the
same file, so they agree on the chain ids and the committee.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgechain.base.crypto import KeyPair, PublicKey
from edgechain.base.encoding import decode, encode
from edgechain.base.errors import EncodingError
from edgechain.base.identifiers import AccountOwner
from edgechain.base.values import Amount
from edgechain.core.errors import ClientError
from edgechain.core.network import GenesisConfig
from edgechain.execution.committee import Committee, ValidatorState
from edgechain.execution.policy import ResourceControlPolicy


def build_genesis(
    validator_keys: Sequence[KeyPair],
    addresses: Sequence[str],
    admin_owner: AccountOwner,
    user_owners: Sequence[AccountOwner],
    balances: Sequence[Amount],
    policy: ResourceControlPolicy,
) -> GenesisConfig:
    """Genesis for validators of weight 1 listening at ``addresses`` (one per key, in order)."""
    if len(validator_keys) != len(addresses):
        raise ClientError(f"{len(validator_keys)} validator keys but {len(addresses)} addresses")
    committee = Committee(
        {key.public_key: ValidatorState(1, address) for key, address in zip(validator_keys, addresses, strict=True)},
        policy,
    )
    return GenesisConfig.new(committee, admin_owner, user_owners, balances)


def write_genesis(path: Path, genesis: GenesisConfig) -> None:
    """Write the genesis file (canonical CBOR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(genesis))


def read_genesis(path: Path) -> GenesisConfig:
    """Read a genesis file; raise `ClientError` when it is missing or not a genesis."""
    try:
        genesis: GenesisConfig = decode(Path(path).read_bytes(), GenesisConfig)
    except OSError as exc:
        raise ClientError(f"cannot read the genesis file {path}: {exc}") from exc
    except EncodingError as exc:
        raise ClientError(f"{path} is not a genesis file: {exc}") from exc
    return genesis


def validator_addresses(genesis: GenesisConfig) -> list[tuple[PublicKey, str]]:
    """Every validator's key and network address, in committee order."""
    return [
        (public_key, state.network_address)
        for public_key, state in genesis.committee.validators.items()
    ]
