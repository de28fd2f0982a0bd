"""asyncio_echo.py — the Python asyncio reference peer for bench/run.sh.

The fastest plain-asyncio shape: a Protocol (callbacks on the event loop's
selector, no stream objects, no coroutine per message), each chunk written
back as it arrives. When the transport's buffer fills (a client that does not
read), it stops reading until the buffer drains: memory stays bounded.

    python3 bench/asyncio_echo.py [PORT]   prints "listening on 127.0.0.1:PORT"
"""
import asyncio
import signal
import socket
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        # TCP_NODELAY, as the C++ servers set (asyncio sets it too; say so here).
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.t.write(data)

    def pause_writing(self):
        self.t.pause_reading()

    def resume_writing(self):
        self.t.resume_reading()


async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port, backlog=4096)
    host, real_port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{real_port}", flush=True)
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set_result, None)
    await stop
    server.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
