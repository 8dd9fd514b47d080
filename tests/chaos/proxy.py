"""A loopback TCP proxy between Kafka clients and the broker, with faults on command.

The broker advertises the proxy's address, so every connection of every client (the
workers' consumers, producers and group coordinators) goes through it. The proxy runs an
asyncio loop in a thread of its own; the test calls its methods from its own thread:

- :meth:`set_latency` delays every chunk, both ways;
- :meth:`drop_all` resets every open connection (clients reconnect);
- :meth:`hang_one` stops forwarding on one connection for a while, then resets it (a peer
  that stopped answering: requests on it time out);
- :meth:`refuse` turns new connections away and drops open ones (the broker unreachable).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stream.broker import free_port


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream twin."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    flowing: asyncio.Event = field(default_factory=asyncio.Event)

    def close(self) -> None:
        for w in (self.client, self.upstream):
            with contextlib.suppress(Exception):
                sock = w.get_extra_info("socket")
                if sock is not None:  # RST, not FIN: a connection torn, not closed politely
                    import socket
                    import struct

                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                w.close()


class FaultProxy:
    """Forward ``127.0.0.1:port`` to ``upstream_host:upstream_port`` (see the module doc)."""

    def __init__(self, upstream_host: str, upstream_port: int, port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self.latency = 0.0
        self.refusing = False
        self.accepted = 0
        self.dropped = 0
        self._links: set[_Link] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy",
                                        daemon=True)
        self._server: asyncio.Server | None = None

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Listen (returns once the port accepts connections)."""
        self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        """Close every connection and the listener, stop the thread."""
        with contextlib.suppress(Exception):
            self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def open_links(self) -> int:
        """Connections open now."""
        return len(self._links)

    # -- faults -------------------------------------------------------------------------------

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk forwarded from now on by ``seconds``."""
        self.latency = seconds

    def drop_all(self) -> int:
        """Reset every open connection; returns how many."""
        return int(self._call(self._drop_all()))

    def hang_one(self, seconds: float, rng: random.Random) -> bool:
        """Freeze one open connection (chosen by ``rng``) for ``seconds``, then reset it."""
        return bool(self._call(self._hang_one(seconds, rng)))

    def refuse(self, on: bool) -> None:
        """Turn new connections away (and drop the open ones) while ``on``."""
        self.refusing = on
        if on:
            self.drop_all()

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """The broker unreachable for the duration of the ``with`` block."""
        self.refuse(True)
        try:
            yield
        finally:
            self.refuse(False)

    # -- inside the proxy's loop ------------------------------------------------------------------

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        await self._drop_all()
        if self._server is not None:
            self._server.close()
        # Every pump and timer ends here: a task left pending is destroyed (and logged) by
        # the garbage collector later, anywhere in the test process.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _drop_all(self) -> int:
        links = list(self._links)
        for link in links:
            link.close()
        self._links.difference_update(links)
        self.dropped += len(links)
        return len(links)

    async def _hang_one(self, seconds: float, rng: random.Random) -> bool:
        links = sorted(self._links, key=id)
        if not links:
            return False
        link = links[rng.randrange(len(links))]
        link.flowing.clear()

        async def later() -> None:
            await asyncio.sleep(seconds)
            link.close()
            self._links.discard(link)
            self.dropped += 1

        asyncio.get_running_loop().create_task(later())
        return True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        link = _Link(writer, up_writer)
        link.flowing.set()
        self._links.add(link)
        self.accepted += 1
        try:
            await asyncio.gather(self._pump(reader, up_writer, link),
                                 self._pump(up_reader, writer, link), return_exceptions=True)
        except asyncio.CancelledError:  # the proxy stops; asyncio would log the cancellation
            pass
        link.close()
        self._links.discard(link)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    link: _Link) -> None:
        while True:
            chunk = await src.read(65536)
            if not chunk:
                break
            if self.latency:
                await asyncio.sleep(self.latency)
            await link.flowing.wait()
            dst.write(chunk)
            await dst.drain()
        with contextlib.suppress(Exception):
            dst.close()
