"""Client commands on the wallet's chains: open-chain, transfer, sync, process-inbox,
query-balance, publish-data-blob, publish-model."""

from __future__ import annotations

import argparse
import mmap
from pathlib import Path
from typing import Any

from edgechain.base.blobs import DEFAULT_MAX_BLOB_SIZE, MediaType, split_into_blobs
from edgechain.base.crypto import KeyPair
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import Account, AccountOwner, ChainId
from edgechain.base.values import Amount
from edgechain.cli.common import add_wallet_option, open_wallet, progress_bar, run_on_chain
from edgechain.core.client import ChainClient
from edgechain.core.errors import ClientError
from edgechain.execution.ownership import ChainOwnership


def register(subparsers: Any) -> None:
    def command(name: str, help_text: str, handler: Any, chain_option: str = "--chain") -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text)
        add_wallet_option(parser)
        parser.add_argument(chain_option, dest="chain", default=None,
                            help="chain id or unique prefix (default: the wallet's default chain)")  # fmt: skip
        parser.set_defaults(handler=handler)
        return parser

    opener = command("open-chain", "open a new chain owned by a new key of this wallet", open_chain, "--from")
    opener.add_argument("--initial-balance", default="0", help="tokens moved to the new chain")

    transfer_parser = command("transfer", "transfer tokens to a chain (or an owner on it)", transfer, "--from")
    transfer_parser.add_argument("amount", help="tokens, e.g. 1.5")
    transfer_parser.add_argument("--to", required=True, help="CHAIN or CHAIN:OWNER (hex ids)")

    command("sync", "catch the chain up with the validators (and them with each other)", sync)
    command("process-inbox", "take every pending incoming message into a block", process_inbox)
    command("query-balance", "the chain's balance, as validators worth a validity threshold say", query_balance)

    blob = command("publish-data-blob", "publish a file as one data blob", publish_data_blob)
    blob.add_argument("path", type=Path)

    model = command("publish-model", "publish a (large) file as chunk blobs under a manifest", publish_model)
    model.add_argument("path", type=Path)
    model.add_argument("--blobs-per-block", type=int, default=16)


def _resolve(arguments: argparse.Namespace) -> tuple[Any, ChainId]:
    wallet = open_wallet(arguments)
    return wallet, wallet.resolve(arguments.chain)


def open_chain(arguments: argparse.Namespace) -> int:
    wallet, parent_id = _resolve(arguments)
    balance = Amount.from_tokens(arguments.initial_balance)
    key_pair = KeyPair.generate()
    ownership = ChainOwnership.single(AccountOwner.from_public_key(key_pair.public_key))

    async def work(client: ChainClient) -> ChainId:
        chain_id, _ = await client.open_chain(ownership, balance)
        return chain_id

    chain_id = run_on_chain(wallet, parent_id, work)
    wallet.add_chain(chain_id, key_pair)
    wallet.save()

    async def activate(client: ChainClient) -> None:
        if await client.process_inbox() is None:
            raise ClientError(f"the opening message of chain {chain_id} did not arrive")

    run_on_chain(wallet, chain_id, activate, synchronize=False)
    print(chain_id)
    return 0


def parse_account(text: str) -> Account:
    chain_text, _, owner_text = text.partition(":")
    try:
        chain_id = ChainId.from_hex(chain_text)
        owner = AccountOwner.from_hex(owner_text) if owner_text else None
    except (ValueError, EdgechainError) as exc:
        raise ClientError(f"{text!r} is not CHAIN or CHAIN:OWNER in hex") from exc
    return Account(chain_id, owner) if owner is not None else Account(chain_id)


def transfer(arguments: argparse.Namespace) -> int:
    wallet, chain_id = _resolve(arguments)
    recipient = parse_account(arguments.to)
    amount = Amount.from_tokens(arguments.amount)

    async def work(client: ChainClient) -> str:
        certificate = await client.transfer(amount, recipient)
        return certificate.hash().hex()

    block_hash = run_on_chain(wallet, chain_id, work)
    print(f"transferred {amount} from {chain_id} to {recipient} in block {block_hash}")
    return 0


def sync(arguments: argparse.Namespace) -> int:
    wallet, chain_id = _resolve(arguments)

    async def work(client: ChainClient) -> str:
        return f"chain {chain_id} at height {client.next_block_height}"

    print(run_on_chain(wallet, chain_id, work))
    return 0


def process_inbox(arguments: argparse.Namespace) -> int:
    wallet, chain_id = _resolve(arguments)

    async def work(client: ChainClient) -> str:
        certificate = await client.process_inbox()
        if certificate is None:
            return "the inbox is empty"
        count = len(certificate.executed_block.block.incoming_bundles)
        return f"took {count} bundle(s) in block {certificate.hash().hex()}"

    print(run_on_chain(wallet, chain_id, work))
    return 0


def query_balance(arguments: argparse.Namespace) -> int:
    wallet, chain_id = _resolve(arguments)

    async def work(client: ChainClient) -> Amount:
        return await client.query_balance()

    print(run_on_chain(wallet, chain_id, work))
    return 0


def publish_data_blob(arguments: argparse.Namespace) -> int:
    wallet, chain_id = _resolve(arguments)
    content = arguments.path.read_bytes()

    async def work(client: ChainClient) -> str:
        blob_id, _ = await client.publish_data_blob(content)
        return str(blob_id)

    print(run_on_chain(wallet, chain_id, work))
    return 0


def publish_model(arguments: argparse.Namespace) -> int:
    wallet, chain_id = _resolve(arguments)
    path: Path = arguments.path
    policy = wallet.genesis.committee.policy
    max_blob_size = min(policy.maximum_blob_size, DEFAULT_MAX_BLOB_SIZE)
    per_block = max(1, min(arguments.blobs_per_block, policy.maximum_published_blobs))
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        split = split_into_blobs(
            mapped, chunk_size=max_blob_size, media_type=MediaType.for_file_name(path.name),
            name=path.name, max_blob_size=max_blob_size, drop_pages=True,
        )  # fmt: skip
        with split:
            blob_count = len(split.chunk_ids) + len(split.manifest_blobs)

            async def work(client: ChainClient) -> str:
                # Resumable: blobs this chain already published are skipped.
                with progress_bar(f"publishing {path.name}", blob_count) as advance:
                    await client.publish_split_file(split, per_block, progress=advance)
                return str(split.manifest_id)

            manifest_id = run_on_chain(wallet, chain_id, work)
    print(manifest_id)
    return 0
