"""Application commands: publish-module, create-application, publish-and-create, query, service.

``service`` replaces this process with the node service (``python -m edgechain.node service``):
the node layer is a program of its own, beside the CLI, not a library it imports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from edgechain.base.crypto import CryptoHash
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import ApplicationId, ModuleId
from edgechain.cli.common import add_wallet_option, open_wallet, run_on_chain
from edgechain.core.applications_client import (
    application_abi,
    create_application,
    encode_json,
    pack,
    publish_module,
    query_application,
)
from edgechain.core.client import ChainClient
from edgechain.core.errors import ClientError
from edgechain.core.follower import ChainFollower
from edgechain.rpc.client import close_nodes, remote_nodes
from edgechain.storage.db_storage import DbStorage
from edgechain.views.memory_store import MemoryStore


def register(subparsers: Any) -> None:
    def command(name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text)
        add_wallet_option(parser)
        parser.set_defaults(handler=handler)
        return parser

    publish = command("publish-module", "publish an application directory's contract and service", publish_module_command)
    publish.add_argument("app_dir", type=Path)
    publish.add_argument("--chain", default=None)

    create = command("create-application", "create an application from a published module", create_application_command)
    create.add_argument("module_id", help="CONTRACT_HASH:SERVICE_HASH as publish-module printed it")
    create.add_argument("--app-dir", type=Path, required=True, help="the application's directory (for its ABI)")
    create.add_argument("--parameters", default="null", help="JSON, as the ABI's Parameters")
    create.add_argument("--argument", default="null", help="JSON, as the ABI's InstantiationArgument")
    create.add_argument("--chain", default=None)

    both = command("publish-and-create", "publish an application directory and create the application", publish_and_create_command)
    both.add_argument("app_dir", type=Path)
    both.add_argument("--parameters", default="null", help="JSON, as the ABI's Parameters")
    both.add_argument("--argument", default="null", help="JSON, as the ABI's InstantiationArgument")
    both.add_argument("--chain", default=None)

    query = command("query", "ask an application's service (GraphQL), over the chain's state followed locally", query_command)
    query.add_argument("chain", help="chain id (or unique prefix in the wallet)")
    query.add_argument("application_id")
    query.add_argument("graphql", help="the GraphQL request, e.g. '{ value }'")

    service = command("service", "run the node service (GraphQL) for the wallet's chains", service_command)
    service.add_argument("--port", type=int, default=8080)
    service.add_argument("--storage", default=None, help="local store URL (default: memory:)")
    service.add_argument(
        "--web-dir", type=Path, default=None,
        help="serve these pages at /web (default: the repository's web/ when it exists)",
    )  # fmt: skip


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ClientError(f"{what} is not JSON: {exc}") from exc


def _module_text(module_id: ModuleId) -> str:
    return f"{module_id.contract_blob_hash.hex()}:{module_id.service_blob_hash.hex()}"


def _parse_module_id(text: str) -> ModuleId:
    contract, _, service = text.partition(":")
    try:
        return ModuleId(CryptoHash.from_hex(contract), CryptoHash.from_hex(service))
    except (ValueError, EdgechainError) as exc:
        raise ClientError(f"{text!r} is not CONTRACT_HASH:SERVICE_HASH") from exc


def publish_module_command(arguments: argparse.Namespace) -> int:
    wallet = open_wallet(arguments)
    module = pack(arguments.app_dir)

    async def work(client: ChainClient) -> ModuleId:
        module_id, _ = await publish_module(client, module)
        return module_id

    print(_module_text(run_on_chain(wallet, wallet.resolve(arguments.chain), work)))
    return 0


def _encoded_arguments(app_dir: Path, parameters: str, argument: str) -> tuple[bytes, bytes]:
    abi = application_abi(app_dir)
    return (
        encode_json(_json(parameters, "--parameters"), abi.Parameters, "parameters"),
        encode_json(_json(argument, "--argument"), abi.InstantiationArgument, "argument"),
    )


def create_application_command(arguments: argparse.Namespace) -> int:
    wallet = open_wallet(arguments)
    module_id = _parse_module_id(arguments.module_id)
    parameters, argument = _encoded_arguments(arguments.app_dir, arguments.parameters, arguments.argument)

    async def work(client: ChainClient) -> ApplicationId:
        application_id, _ = await create_application(client, module_id, parameters, argument)
        return application_id

    print(run_on_chain(wallet, wallet.resolve(arguments.chain), work))
    return 0


def publish_and_create_command(arguments: argparse.Namespace) -> int:
    wallet = open_wallet(arguments)
    module = pack(arguments.app_dir)
    parameters, argument = _encoded_arguments(arguments.app_dir, arguments.parameters, arguments.argument)

    async def work(client: ChainClient) -> ApplicationId:
        module_id, _ = await publish_module(client, module)
        application_id, _ = await create_application(client, module_id, parameters, argument)
        return application_id

    print(run_on_chain(wallet, wallet.resolve(arguments.chain), work))
    return 0


def query_command(arguments: argparse.Namespace) -> int:
    wallet = open_wallet(arguments)
    chain_id = wallet.resolve(arguments.chain)
    try:
        application_id = ApplicationId.from_hex(arguments.application_id)
    except (ValueError, EdgechainError) as exc:
        raise ClientError(f"{arguments.application_id!r} is not an application id") from exc

    async def ask() -> tuple[Any, list[Any]]:
        nodes = remote_nodes(wallet.genesis)
        try:
            follower = ChainFollower(DbStorage(MemoryStore()), wallet.genesis, nodes)
            answer, operations = await query_application(
                follower, chain_id, application_id, {"query": arguments.graphql}
            )
            return answer, list(operations)
        finally:
            await close_nodes(nodes)

    answer, operations = asyncio.run(ask())
    print(json.dumps(answer))
    if isinstance(answer, dict) and answer.get("errors"):
        return 1  # GraphQL errors: the answer above says what was wrong
    if operations:
        # A mutation schedules operations; as the node service does, propose them now.
        entry = wallet.chains.get(chain_id)
        if entry is None or entry.key_pair is None:
            raise ClientError(
                f"the mutation scheduled {len(operations)} operation(s) on chain {chain_id},"
                " which this wallet does not own"
            )
        certificate = run_on_chain(
            wallet, chain_id, lambda client: client.execute_operations(operations)
        )
        print(f"proposed {len(operations)} operation(s) in block {certificate.hash()}",
              file=sys.stderr)  # fmt: skip
    return 0


def service_command(arguments: argparse.Namespace) -> int:
    command = [sys.executable, "-m", "edgechain.node", "service", "--port", str(arguments.port)]
    if arguments.wallet is not None:
        command += ["--wallet", str(arguments.wallet)]
    if arguments.storage is not None:
        command += ["--storage", arguments.storage]
    if arguments.web_dir is not None:
        command += ["--web-dir", str(arguments.web_dir)]
    sys.stdout.flush()
    os.execv(sys.executable, command)
    return 0  # not reached
