"""HttpConnectionPool: keep-alive reuse, a connection closed by the server, framing, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from edgechain.rpc.errors import AddressNotAllowed, MessageTooLarge
from edgechain.rpc.transport import HttpConnectionPool, TransportFailure

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]
"""Given a request body, write a response; return False to close the connection."""


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return await reader.readexactly(length)


async def serve(answer: Answer) -> tuple[asyncio.Server, str, list[int]]:
    """A loopback server answering with ``answer``; the list counts connections accepted."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while (body := await read_request(reader)) is not None:
                if not await answer(body, writer):
                    break
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", connections


async def echo(body: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return True


def test_connections_are_kept_alive_and_reused() -> None:
    async def scenario() -> None:
        server, address, connections = await serve(echo)
        pool = HttpConnectionPool(address)
        for index in range(5):
            assert await pool.post("/x", b"body %d" % index, "application/cbor", 2.0, 1024) == (
                200,
                b"body %d" % index,
            )
        assert len(connections) == 1
        answers = await asyncio.gather(
            *(pool.post("/x", bytes([index]), "application/cbor", 2.0, 1024) for index in range(4))
        )
        assert [content for _, content in answers] == [bytes([index]) for index in range(4)]
        await pool.aclose()
        server.close()

    asyncio.run(scenario())


def test_a_connection_the_server_closed_is_replaced_and_the_request_sent_again() -> None:
    async def close_after_answer(body: bytes, writer: asyncio.StreamWriter) -> bool:
        await echo(body, writer)  # says keep-alive (no Connection: close), then closes
        return False

    async def scenario() -> None:
        server, address, connections = await serve(close_after_answer)
        pool = HttpConnectionPool(address)
        for index in range(3):
            assert (await pool.post("/x", b"%d" % index, "application/cbor", 2.0, 1024))[
                1
            ] == b"%d" % index
        assert len(connections) == 3
        await pool.aclose()
        server.close()

    asyncio.run(scenario())


def test_chunked_and_close_delimited_bodies_are_read() -> None:
    async def chunked(body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n")
        return True

    async def until_close(body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        return False

    async def scenario() -> None:
        for answer, expected in ((chunked, (404, b"abcde")), (until_close, (200, b"all of it"))):
            server, address, _ = await serve(answer)
            pool = HttpConnectionPool(address)
            assert await pool.post("/x", b"", "application/cbor", 2.0, 1024) == expected
            assert await pool.post("/x", b"", "application/cbor", 2.0, 1024) == expected
            await pool.aclose()
            server.close()

    asyncio.run(scenario())


def test_limits_timeouts_and_garbage_are_typed_failures() -> None:
    async def big(body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
        return True

    async def silent(body: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    async def garbage(body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SMTP ready\r\n\r\n")
        return True

    async def scenario() -> None:
        server, address, _ = await serve(big)
        pool = HttpConnectionPool(address)
        with pytest.raises(MessageTooLarge):
            await pool.post("/x", b"", "application/cbor", 2.0, 4096)
        assert (await pool.post("/x", b"", "application/cbor", 2.0, 8192))[1] == b"x" * 5000
        await pool.aclose()
        server.close()
        for answer in (silent, garbage):
            server, address, _ = await serve(answer)
            pool = HttpConnectionPool(address)
            with pytest.raises(TransportFailure):
                await pool.post("/x", b"", "application/cbor", 0.2, 4096)
            await pool.aclose()
            server.close()
        with pytest.raises(TransportFailure):
            await HttpConnectionPool("http://127.0.0.1:9").post(
                "/x", b"", "application/cbor", 1.0, 10
            )

    asyncio.run(scenario())


def test_only_loopback_addresses_are_dialled() -> None:
    with pytest.raises(AddressNotAllowed):
        HttpConnectionPool("http://192.0.2.1:80")


def test_a_request_its_caller_stopped_waiting_for_finishes_and_its_connection_is_reused() -> None:
    async def slow_echo(body: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.1)
        return await echo(body, writer)

    async def scenario() -> None:
        server, address, connections = await serve(slow_echo)
        pool = HttpConnectionPool(address)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.post("/x", b"late", "application/cbor", 2.0, 1024), 0.01)
        await asyncio.sleep(0.3)
        assert await pool.post("/x", b"next", "application/cbor", 2.0, 1024) == (200, b"next")
        assert len(connections) == 1
        await pool.aclose()
        server.close()

    asyncio.run(scenario())
