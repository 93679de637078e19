"""The llm application on a local network with a tiny GGUF model published as blobs (or by URL)."""

from __future__ import annotations

import asyncio
import http.server
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import blake3
import pytest

from edgechain.base.blobs import MediaType, split_into_blobs
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import AccountOwner, ApplicationId, BlobId
from edgechain.execution.errors import ContractFailed
from edgechain.execution.service_runtime import ServiceConfig
from edgechain.ml import SamplingParams, load_model
from edgechain.ml.model_cache import shared_model_cache
from edgechain.testing import ApplicationTester, import_application

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "ml"))
from tiny_models import make_tiny_llama, write_gguf  # noqa: E402

LLM_DIRECTORY = ROOT / "apps" / "llm"
LLM = import_application(LLM_DIRECTORY)
LlmAbi = LLM.abi.LlmAbi
PinnedModel = LLM.abi.PinnedModel


def write_tiny_model(directory: Path, seed: int) -> Path:
    """A tiny Llama GGUF (Q8_0, byte-level BPE with a ChatML template)."""
    return write_gguf(
        directory / f"tiny-{seed}.gguf", make_tiny_llama(seed=seed), "Q8_0", tokenizer="gpt2"
    )


async def publish_model_file(tester: ApplicationTester, path: Path, chunk_size: int) -> BlobId:
    """Publish ``path`` as chunk blobs and a manifest; return the manifest id."""
    with split_into_blobs(
        path.read_bytes(), chunk_size=chunk_size, media_type=MediaType.GGUF, name=path.name
    ) as split:
        await tester.clients[0].publish_split_file(split)
        return split.manifest_id


async def create_llm(tester: ApplicationTester, pinned: Any, user: int = 0) -> ApplicationId:
    module_id = await tester.publish_module(LLM_DIRECTORY, user=user)
    return await tester.create_application(module_id, abi=LlmAbi, parameters=pinned, user=user)


def run(
    scenario: Callable[[ApplicationTester], Awaitable[None]],
    service_config: ServiceConfig | None = None,
) -> None:
    tester = ApplicationTester.create(validators=4, users=2, service_config=service_config)
    try:
        asyncio.run(scenario(tester))
    finally:
        tester.close()


def data_of(response: dict[str, Any]) -> Any:
    assert "errors" not in response, response
    return response["data"]


GENERATE = """query($prompt: String!, $seed: String) {
  prompt(prompt: $prompt, maxTokens: 12, temperature: 0.8, topP: 0.9, seed: $seed)
}"""


def test_prompt_and_chat_through_the_chain_equal_direct_generation(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path, seed=11)
    local = load_model(path, exact=True)
    seed = "aa" * 32
    expected = local.generate_text(
        "Once upon a time", 12, SamplingParams(temperature=0.8, top_p=0.9), bytes.fromhex(seed)
    )
    expected_greedy = local.generate_text("The capital of France", 10)
    expected_chat = "".join(
        token.text for token in local.chat([{"role": "user", "content": "Hi"}], max_tokens=8)
    )
    assert expected and expected_greedy and expected_chat

    async def scenario(tester: ApplicationTester) -> None:
        manifest_id = await publish_model_file(tester, path, chunk_size=16_384)
        app = await create_llm(tester, PinnedModel("tiny", str(manifest_id), None, None))
        request = {"query": GENERATE, "variables": {"prompt": "Once upon a time", "seed": seed}}
        assert data_of(tester.query(app, request))["prompt"] == expected
        greedy = tester.query(
            app, 'query { prompt(prompt: "The capital of France", maxTokens: 10) }'
        )
        assert data_of(greedy)["prompt"] == expected_greedy
        chat = tester.query(
            app, 'query { chat(messages: [{role: "user", content: "Hi"}], maxTokens: 8) }'
        )
        assert data_of(chat)["chat"] == expected_chat
        # Another validator's copy of the blobs gives the same text.
        assert data_of(tester.query(app, request, validator=3))["prompt"] == expected

    run(scenario)


def test_the_model_is_loaded_once_per_content_hash(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path, seed=12)
    content_hash = blake3.blake3(path.read_bytes()).hexdigest()
    cache = shared_model_cache()

    async def scenario(tester: ApplicationTester) -> None:
        manifest_id = await publish_model_file(tester, path, chunk_size=50_000)
        app = await create_llm(tester, PinnedModel("tiny", str(manifest_id), None, None))
        card = data_of(tester.query(app, "query { model { contentHash loaded sizeBytes } }"))
        assert card["model"] == {
            "contentHash": content_hash,
            "loaded": cache.cached(content_hash, exact=True) is not None,
            "sizeBytes": float(path.stat().st_size),
        }
        data_of(tester.query(app, 'query { prompt(prompt: "a", maxTokens: 2) }'))
        loads = cache.loads
        entry = cache.cached(content_hash, exact=True)
        assert entry is not None
        for _ in range(3):
            data_of(tester.query(app, 'query { prompt(prompt: "b", maxTokens: 2) }'))
        assert cache.loads == loads, "queries after the first reuse the loaded model"
        assert cache.cached(content_hash, exact=True) is entry
        assert data_of(tester.query(app, "query { model { loaded } }"))["model"]["loaded"]

    run(scenario)


def test_attestations_are_recorded_and_reverified(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path, seed=13)

    async def scenario(tester: ApplicationTester) -> None:
        manifest_id = await publish_model_file(tester, path, chunk_size=100_000)
        app = await create_llm(tester, PinnedModel("tiny", str(manifest_id), None, None))
        response, certificate = await tester.mutate(
            app,
            'mutation { attestPrompt(prompt: "Lily", maxTokens: 6, temperature: 0.5, seed: "x")'
            " { output outputHash } }",
        )
        attested = data_of(response)["attestPrompt"]
        assert certificate is not None
        assert attested["outputHash"] == blake3.blake3(attested["output"].encode()).hexdigest()
        (record,) = data_of(
            tester.query(
                app,
                "query { attestations { index prompt outputHash attester blockHeight"
                " settings { maxTokens temperature seed } } }",
            )
        )["attestations"]
        assert record["prompt"] == "Lily"
        assert record["outputHash"] == attested["outputHash"]
        assert record["settings"]["maxTokens"] == 6
        assert record["settings"]["temperature"] == 0.5
        assert record["settings"]["seed"] == blake3.blake3(b"x").hexdigest()
        signer = AccountOwner.from_public_key(tester.network.user_keys[0].public_key)
        assert record["attester"] == str(signer)
        assert record["blockHeight"] == certificate.value.executed_block.block.height.value
        verification = data_of(
            tester.query(app, "query { verifyAttestation(index: 0) { matches output } }")
        )["verifyAttestation"]
        assert verification == {"matches": True, "output": attested["output"]}

        # A false claim is recorded (the contract cannot run models) but fails verification.
        settings = LLM.abi.GenerationSettings(6, 500, 950, 40, bytes(32))
        forged = LLM.abi.RecordAttestation("Lily", [], settings, bytes(32))
        await tester.execute_operation(app, forged, abi=LlmAbi)
        verification = data_of(
            tester.query(app, "query { verifyAttestation(index: 1) { matches recordedHash } }")
        )["verifyAttestation"]
        assert verification == {"matches": False, "recordedHash": "00" * 32}

    run(scenario)


def test_the_contract_refuses_malformed_attestations_and_parameters(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path, seed=14)

    async def scenario(tester: ApplicationTester) -> None:
        manifest_id = await publish_model_file(tester, path, chunk_size=100_000)
        app = await create_llm(tester, PinnedModel("tiny", str(manifest_id), None, None))
        settings = LLM.abi.GenerationSettings(0, 0, 950, 40, bytes(32))
        with pytest.raises(ContractFailed, match="max_tokens"):
            await tester.execute_operation(
                app, LLM.abi.RecordAttestation("p", [], settings, bytes(32)), abi=LlmAbi
            )
        module_id = await tester.publish_module(LLM_DIRECTORY)
        both = PinnedModel("x", str(manifest_id), "http://127.0.0.1/m.gguf", "00" * 32)
        with pytest.raises(ContractFailed, match="exactly one"):
            await tester.create_application(module_id, abi=LlmAbi, parameters=both)
        not_a_manifest = PinnedModel("x", "data:" + "ab" * 32, None, None)
        with pytest.raises(ContractFailed, match="manifest:HEX"):
            await tester.create_application(module_id, abi=LlmAbi, parameters=not_a_manifest)
        no_hash = PinnedModel("x", None, "http://127.0.0.1/m.gguf", None)
        with pytest.raises(ContractFailed, match="BLAKE3"):
            await tester.create_application(module_id, abi=LlmAbi, parameters=no_hash)
        unpublished = BlobId.parse("manifest:" + "ab" * 32)
        with pytest.raises(EdgechainError, match="no blob manifest:abab"):
            await tester.create_application(
                module_id, abi=LlmAbi, parameters=PinnedModel("x", str(unpublished), None, None)
            )

    run(scenario)


class _ModelServer:
    """A local HTTP server on 127.0.0.1 that serves one file's bytes at /model.gguf."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.content)))
                self.end_headers()
                self.wfile.write(server.content)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[tuple[_ModelServer, Path]]:
    path = write_tiny_model(tmp_path, seed=15)
    server = _ModelServer(path.read_bytes())
    try:
        yield server, path
    finally:
        server.close()


def test_a_model_fetched_by_url_works_and_a_tampered_one_is_refused(
    model_server: tuple[_ModelServer, Path],
) -> None:
    server, path = model_server
    content_hash = blake3.blake3(path.read_bytes()).hexdigest()
    url = f"http://{server.host}/model.gguf"
    expected = load_model(path, exact=True).generate_text("Once", 6)
    shared_model_cache().clear()

    async def scenario(tester: ApplicationTester) -> None:
        tampered = bytearray(server.content)
        tampered[-1] ^= 0xFF
        server.content = bytes(tampered)
        app = await create_llm(tester, PinnedModel("tiny-url", None, url, content_hash))
        refused = tester.query(app, 'query { prompt(prompt: "Once", maxTokens: 6) }')
        message = refused["errors"][0]["message"]
        assert content_hash in message
        assert blake3.blake3(server.content).hexdigest() in message
        assert shared_model_cache().cached(content_hash, exact=True) is None, (
            "nothing cached on mismatch"
        )

        server.content = path.read_bytes()
        answer = tester.query(app, 'query { prompt(prompt: "Once", maxTokens: 6) }')
        assert data_of(answer)["prompt"] == expected
        requests = server.requests
        data_of(tester.query(app, 'query { prompt(prompt: "Once", maxTokens: 6) }'))
        assert server.requests == requests, "the verified model is not fetched again"

    run(scenario, ServiceConfig(allowed_hosts=(server.host,)))


def test_a_url_off_the_allow_list_is_refused(model_server: tuple[_ModelServer, Path]) -> None:
    server, path = model_server
    content_hash = blake3.blake3(path.read_bytes()).hexdigest()
    shared_model_cache().clear()

    async def scenario(tester: ApplicationTester) -> None:
        url = f"http://{server.host}/model.gguf"
        app = await create_llm(tester, PinnedModel("tiny-url", None, url, content_hash))
        refused = tester.query(app, 'query { prompt(prompt: "Once", maxTokens: 2) }')
        assert "not on the allow-list" in refused["errors"][0]["message"]
        assert server.host in refused["errors"][0]["message"]
        assert server.requests == 0

    run(scenario, ServiceConfig(allowed_hosts=("127.0.0.1:1",)))
