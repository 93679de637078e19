"""`HttpConnectionPool`: keep-alive HTTP/1.1 POSTs to one loopback validator, on asyncio streams.

The validator client needs one thing of HTTP: POST a body, get a status and a bounded body
back, over connections that are kept open between calls. A general client (httpx) spent
more CPU per call than a validator spends handling a proposal (URL parsing, header models,
an anyio layer, a failed ``import sniffio`` searched on disk on every request), and on a
loaded machine that CPU is latency. This module does only what is needed:

- one request per connection at a time; idle connections are reused (a connection the
  server closed meanwhile is noticed before reuse, or on its first failed read, and the
  request is sent again once on a new connection: every request of this protocol is
  idempotent);
- responses framed by ``Content-Length`` (what the server sends), chunked encoding, or the
  end of the connection; a body above ``max_response_size`` is refused while reading;
- a connection that saw anything unexpected (a timeout, a framing error) is closed, never
  reused; a request whose caller stops waiting is still read to its end, in the
  background, so that its connection can be reused.

Failures to reach the server or to get a well-formed answer raise `TransportFailure`;
the caller retries those with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib

from edgechain.rpc.errors import MessageTooLarge
from edgechain.rpc.protocol import parse_http_address

MAX_HEADER_BYTES = 64 * 1024
"""Largest response head (status line and headers) accepted."""

MAX_IDLE_CONNECTIONS = 32
"""Idle connections kept per pool."""


class TransportFailure(Exception):
    """The request could not be sent or its answer not read (worth retrying)."""


def _retrieve_outcome(exchange: asyncio.Future[tuple[int, bytes]]) -> None:
    """Mark the outcome of an exchange nobody may be waiting for any more as seen."""
    if not exchange.cancelled():
        exchange.exception()


class _Connection:
    """One open HTTP/1.1 connection."""

    __slots__ = ("reader", "reused", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    def is_usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class HttpConnectionPool:
    """Keep-alive connections to ``http://HOST:PORT`` and POSTs over them (one event loop)."""

    def __init__(self, address: str, max_connections: int = 64) -> None:
        self.host, self.port = parse_http_address(address)
        self._host_header = f"{self.host}:{self.port}".encode("ascii")
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    async def post(
        self, path: str, body: bytes, content_type: str, timeout: float, max_response_size: int
    ) -> tuple[int, bytes]:
        """POST ``body`` to ``path``; return the status and the response body.

        Raises `TransportFailure` (not sent, or no complete answer within ``timeout``
        seconds) or `MessageTooLarge` (the answer is above ``max_response_size``).
        """
        exchange = asyncio.ensure_future(
            self._post(path, body, content_type, timeout, max_response_size)
        )
        exchange.add_done_callback(_retrieve_outcome)
        # A caller that stops waiting (a client that has its quorum cancels the slowest
        # validator's request) leaves the exchange to finish on its own within ``timeout``,
        # so that its connection goes back to the pool instead of being torn down and opened
        # again for the next request.
        return await asyncio.shield(exchange)

    async def _post(
        self, path: str, body: bytes, content_type: str, timeout: float, max_response_size: int
    ) -> tuple[int, bytes]:
        what = f"response from http://{self.host}:{self.port}{path}"
        head = (
            b"POST " + path.encode("ascii") + b" HTTP/1.1\r\nHost: " + self._host_header
            + b"\r\nContent-Type: " + content_type.encode("ascii")
            + b"\r\nContent-Length: " + str(len(body)).encode("ascii") + b"\r\n\r\n"
        )  # fmt: skip
        async with self._slots:
            try:
                async with asyncio.timeout(timeout):
                    connection = await self._connection()
                    try:
                        return await self._exchange(connection, head + body, what, max_response_size)
                    except TransportFailure:
                        if not connection.reused:
                            raise
                    # The server closed a kept-alive connection as we reused it: send again
                    # on a new one (the request is idempotent).
                    connection = await self._open()
                    return await self._exchange(connection, head + body, what, max_response_size)
            except TimeoutError as exc:
                raise TransportFailure(f"no answer within {timeout} s") from exc

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_usable():
                connection.reused = True
                return connection
            connection.close()
        return await self._open()

    async def _open(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, limit=MAX_HEADER_BYTES
            )
        except OSError as exc:
            raise TransportFailure(f"cannot connect: {exc}") from exc
        return _Connection(reader, writer)

    async def _exchange(
        self, connection: _Connection, request: bytes, what: str, max_response_size: int
    ) -> tuple[int, bytes]:
        keep = False
        try:
            connection.writer.write(request)
            status, length, chunked, close = await self._read_head(connection.reader)
            if chunked:
                content = await self._read_chunked(connection.reader, what, max_response_size)
            elif length is not None:
                if length > max_response_size:
                    raise MessageTooLarge(what, length, max_response_size)
                content = await connection.reader.readexactly(length)
            else:
                close = True
                content = await self._read_to_end(connection.reader, what, max_response_size)
            keep = not close
            return status, content
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise TransportFailure(f"connection failed: {type(exc).__name__}: {exc}") from exc
        finally:
            if keep and not self._closed and len(self._idle) < MAX_IDLE_CONNECTIONS:
                connection.reused = False
                self._idle.append(connection)
            else:
                connection.close()

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> tuple[int, int | None, bool, bool]:
        """The status, the Content-Length (None if absent), whether the body is chunked, and
        whether the server closes the connection after this response."""
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise TransportFailure("response head too large") from exc
        lines = raw[:-4].split(b"\r\n")
        status_line = lines[0].split(b" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1.") or not status_line[1].isdigit():
            raise TransportFailure(f"malformed status line {lines[0][:80]!r}")
        status = int(status_line[1])
        length: int | None = None
        chunked = False
        close = status_line[0] == b"HTTP/1.0"
        for line in lines[1:]:
            name, separator, value = line.partition(b":")
            if not separator:
                raise TransportFailure(f"malformed header line {line[:80]!r}")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                if not value.isdigit():
                    raise TransportFailure(f"bad Content-Length {value[:40]!r}")
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
            elif name == b"connection":
                tokens = value.lower()
                if b"close" in tokens:
                    close = True
                elif b"keep-alive" in tokens:
                    close = False
        return status, length, chunked, close

    @staticmethod
    async def _read_chunked(
        reader: asyncio.StreamReader, what: str, max_response_size: int
    ) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            size_line = (await reader.readuntil(b"\r\n"))[:-2].split(b";", 1)[0].strip()
            try:
                chunk_size = int(size_line, 16)
            except ValueError as exc:
                raise TransportFailure(f"bad chunk size {size_line[:40]!r}") from exc
            if chunk_size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(chunks)
            size += chunk_size
            if size > max_response_size:
                raise MessageTooLarge(what, size, max_response_size)
            chunks.append(await reader.readexactly(chunk_size))
            if await reader.readexactly(2) != b"\r\n":
                raise TransportFailure("chunk not followed by CRLF")

    @staticmethod
    async def _read_to_end(
        reader: asyncio.StreamReader, what: str, max_response_size: int
    ) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > max_response_size:
                raise MessageTooLarge(what, size, max_response_size)
            chunks.append(chunk)

    async def aclose(self) -> None:
        """Close every idle connection; connections in use close when their request ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        for connection in idle:
            with contextlib.suppress(OSError):
                await connection.writer.wait_closed()
