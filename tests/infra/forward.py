"""A TCP port forwarder, to make a server appear at an address only when a test says so,
to hold a client's requests at a chosen one (see `Hold`), and to turn one Kafka client away
while others get through (see `Refuse`)."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Callable

CHUNK = 65536


class Hold:
    """Once armed, stops a connection's client-to-server bytes at the first chunk that
    `matches` accepts, until `release`: the request waits, as behind a stuck network."""

    def __init__(self, matches: Callable[[bytes], bool]) -> None:
        self._matches = matches
        self._open = asyncio.Event()
        self._open.set()
        self.caught = asyncio.Event()  # set once a request is held
        self.held = b""  # the chunk that was held (the first bytes of the request)

    def arm(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def check(self, data: bytes) -> None:
        if not self._open.is_set() and self._matches(data):
            self.held = data
            self.caught.set()
            await self._open.wait()


class Refuse:
    """While shut, closes each connection whose first Kafka request comes from a client id
    that `matches` accepts, before anything reaches the broker: to that client the broker
    is down, to every other one it is up. `open` lets everyone through from then on."""

    def __init__(self, matches: Callable[[str], bool]) -> None:
        self._matches = matches
        self._shut = True
        self.refused = 0  # connections turned away so far

    def open(self) -> None:
        self._shut = False

    def refuses(self, request: bytes) -> bool:
        if self._shut and self._matches(client_id(request)):
            self.refused += 1
            return True
        return False


def client_id(request: bytes) -> str:
    """The client id of a Kafka request (without its size prefix): the request header is
    int16 api_key, int16 api_version, int32 correlation_id, then an int16-length string."""
    (length,) = struct.unpack_from(">h", request, 8)
    return "" if length < 0 else request[10:10 + length].decode(errors="replace")


async def _first_request(reader: asyncio.StreamReader) -> bytes:
    """The first Kafka request of a connection, whole (int32 size, then that many bytes)."""
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    return await reader.readexactly(size)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                hold: Hold | None = None) -> None:
    try:
        while data := await reader.read(CHUNK):
            if hold is not None:
                await hold.check(data)
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def forwarding(port: int, target: str, hold: Hold | None = None,
                     refuse: Refuse | None = None) -> AsyncIterator[None]:
    """Forward 127.0.0.1:`port` to `target` ("host:port") until the block ends."""
    host, target_port = target.rsplit(":", 1)
    writers: set[asyncio.StreamWriter] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        first = b""
        if refuse is not None:
            with contextlib.suppress(asyncio.IncompleteReadError):  # closed before a request
                first = await _first_request(reader)
            if not first or refuse.refuses(first):
                writer.close()
                return
        up_reader, up_writer = await asyncio.open_connection(host, int(target_port))
        writers.add(up_writer)
        if first:  # read to decide on it: it goes first
            up_writer.write(struct.pack(">i", len(first)) + first)
        await asyncio.gather(_pipe(reader, up_writer, hold), _pipe(up_reader, writer),
                             return_exceptions=True)

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for writer in writers:  # the server's close leaves open connections open
            writer.close()
        await server.wait_closed()
