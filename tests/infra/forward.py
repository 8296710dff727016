"""A TCP port forwarder, to make a server appear at an address only when a test says so,
and to hold a client's requests at a chosen one (see `Hold`)."""

from __future__ import annotations

import asyncio
import contextlib
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

    def arm(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def check(self, data: bytes) -> None:
        if not self._open.is_set() and self._matches(data):
            self.caught.set()
            await self._open.wait()


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
async def forwarding(port: int, target: str, hold: Hold | None = None) -> AsyncIterator[None]:
    """Forward 127.0.0.1:`port` to `target` ("host:port") until the block ends."""
    host, target_port = target.rsplit(":", 1)
    writers: set[asyncio.StreamWriter] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(target_port))
        writers.update((writer, up_writer))
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
