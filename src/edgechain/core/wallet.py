"""The user's wallet: the network's genesis, the chains the user owns or follows, their keys and tips.

A wallet is one JSON file (``EDGECHAIN_WALLET``, by default ``~/.config/edgechain/wallet.json``)
written atomically and readable by its owner only, since it holds private key seeds:

    {"genesis": "<hex of the canonical genesis>", "default": "<chain id hex>",
     "chains": [{"chain_id": "…", "key_seed": "…" | null, "block_hash": "…" | null,
                 "next_block_height": 3, "timestamp": 1764…}]}

`Wallet.client(chain_id, validators)` makes a `ChainClient` that resumes from the saved
tip; `Wallet.update_from_client` records the tip after the client's work.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from edgechain.base.crypto import CryptoHash, KeyPair
from edgechain.base.encoding import decode, encode
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import ChainId
from edgechain.base.values import BlockHeight, Epoch, Timestamp
from edgechain.core.client import ChainClient
from edgechain.core.errors import ClientError
from edgechain.core.network import GenesisConfig
from edgechain.core.node import ValidatorNode

WALLET_ENV = "EDGECHAIN_WALLET"
"""The environment variable naming the wallet file."""


class WalletError(ClientError):
    """A wallet file that is missing, unreadable, or lacks the chain or key asked for."""


def default_wallet_path() -> Path:
    """``$EDGECHAIN_WALLET``, else ``~/.config/edgechain/wallet.json``."""
    configured = os.environ.get(WALLET_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".config" / "edgechain" / "wallet.json"


@dataclass(frozen=True, slots=True)
class UserChain:
    """One chain in the wallet: its id, the owner's key (if ours) and the last known tip."""

    chain_id: str
    """The chain id, hex."""
    key_seed: str | None
    """Hex of the owner key's seed; None for a chain we only follow."""
    block_hash: str | None = None
    """Hex of the last confirmed block's hash (None before the first block)."""
    next_block_height: int = 0
    """The height of the next block."""
    timestamp: int = 0
    """The last block's timestamp (µs)."""

    @property
    def id(self) -> ChainId:
        return ChainId.from_hex(self.chain_id)

    @property
    def key_pair(self) -> KeyPair | None:
        return None if self.key_seed is None else KeyPair.from_seed(bytes.fromhex(self.key_seed))


class Wallet:
    """The wallet file's contents, with methods to read and record chains."""

    def __init__(
        self,
        path: Path,
        genesis: GenesisConfig,
        chains: dict[ChainId, UserChain] | None = None,
        default: ChainId | None = None,
    ) -> None:
        self.path = Path(path)
        """Where the wallet is saved."""
        self.genesis = genesis
        """The network's genesis (committee, admin chain, root chains)."""
        self.chains: dict[ChainId, UserChain] = dict(chains or {})
        """The chains, in the order they were added."""
        self.default = default
        """The chain commands use when none is named."""

    # ------------------------------------------------------------------ files

    @classmethod
    def create(cls, path: Path, genesis: GenesisConfig, overwrite: bool = False) -> Wallet:
        """A new, empty wallet for ``genesis`` (refuses to replace an existing file)."""
        if Path(path).exists() and not overwrite:
            raise WalletError(f"a wallet already exists at {path}")
        wallet = cls(Path(path), genesis)
        wallet.save()
        return wallet

    @classmethod
    def load(cls, path: Path | None = None) -> Wallet:
        path = Path(path) if path is not None else default_wallet_path()
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise WalletError(
                f"no wallet at {path}: create one with `edgechain wallet init`"
                f" or set {WALLET_ENV}"
            ) from exc
        except (OSError, ValueError) as exc:
            raise WalletError(f"cannot read the wallet {path}: {exc}") from exc
        try:
            genesis: GenesisConfig = decode(bytes.fromhex(raw["genesis"]), GenesisConfig)
            chains = [UserChain(**entry) for entry in raw["chains"]]
            default = ChainId.from_hex(raw["default"]) if raw.get("default") else None
            by_id = {chain.id: chain for chain in chains}
        except (KeyError, TypeError, ValueError, EdgechainError) as exc:
            raise WalletError(f"the wallet {path} is malformed: {exc}") from exc
        return cls(path, genesis, by_id, default)

    def save(self) -> None:
        """Write the wallet atomically (a temporary file renamed over the old one), mode 0600."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        content = {
            "genesis": encode(self.genesis).hex(),
            "default": self.default.hash.hex() if self.default is not None else None,
            "chains": [asdict(chain) for chain in self.chains.values()],
        }
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(content, file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)

    # ----------------------------------------------------------------- chains

    def add_chain(
        self, chain_id: ChainId, key_pair: KeyPair | None, make_default: bool = False
    ) -> UserChain:
        """Record a chain (replacing the key of a known one only if a key is given)."""
        known = self.chains.get(chain_id)
        seed = key_pair.seed().hex() if key_pair is not None else None
        if known is not None:
            entry = replace(known, key_seed=seed or known.key_seed)
        else:
            entry = UserChain(chain_id.hash.hex(), seed)
        self.chains[chain_id] = entry
        if make_default or self.default is None:
            self.default = chain_id
        return entry

    def resolve(self, chain: str | None) -> ChainId:
        """The chain named by hex id (or a unique prefix of one in the wallet), else the default."""
        if chain is None:
            if self.default is None:
                raise WalletError("the wallet has no default chain: name one, or request one")
            return self.default
        matches = [chain_id for chain_id in self.chains if chain_id.hash.hex().startswith(chain)]
        if len(matches) == 1:
            return matches[0]
        try:
            return ChainId.from_hex(chain)
        except (ValueError, EdgechainError) as exc:
            raise WalletError(f"{chain!r} names no chain of this wallet") from exc

    def set_default(self, chain_id: ChainId) -> None:
        if chain_id not in self.chains:
            raise WalletError(f"chain {chain_id} is not in the wallet")
        self.default = chain_id

    # ---------------------------------------------------------------- clients

    def client(
        self,
        chain_id: ChainId,
        validators: Sequence[ValidatorNode],
        request_timeout: float = 10.0,
    ) -> ChainClient:
        """A client for ``chain_id`` that resumes from the wallet's tip (owner key if we hold it)."""
        entry = self.chains.get(chain_id)
        committee = self.genesis.committee
        if entry is None:
            return ChainClient(
                chain_id, None, validators, {Epoch(0): committee}, Epoch(0),
                request_timeout=request_timeout,
            )  # fmt: skip
        return ChainClient(
            chain_id,
            entry.key_pair,
            validators,
            {Epoch(0): committee},
            Epoch(0),
            next_block_height=BlockHeight(entry.next_block_height),
            block_hash=CryptoHash.from_hex(entry.block_hash) if entry.block_hash else None,
            timestamp=Timestamp(entry.timestamp),
            request_timeout=request_timeout,
        )

    def update_from_client(self, client: ChainClient) -> None:
        """Record the client's tip for its chain (the chain must be in the wallet)."""
        entry = self.chains.get(client.chain_id)
        if entry is None:
            return
        self.chains[client.chain_id] = replace(
            entry,
            block_hash=client.block_hash.hex() if client.block_hash is not None else None,
            next_block_height=client.next_block_height.value,
            timestamp=client.timestamp.micros,
        )
