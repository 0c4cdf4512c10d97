"""Networking libraries in real programs (issue 13): aiohttp (client and
server), httpx (sync and async) and websockets, unmodified, in a new network
namespace (unshare -n) through the broker, on the RPC path and with handoff;
each shown failing without the broker. A test whose library (Debian's
python3-aiohttp, python3-httpx, python3-websockets) is missing is skipped,
saying which package."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import unittest

import sbtest

MODES = (("rpc", False), ("handoff", True))

AIOHTTP_CLIENT = """\
    import asyncio, sys
    import aiohttp

    async def main(url):
        async with aiohttp.ClientSession(trust_env=False) as session:
            for _ in range(3):
                async with session.get(url) as response:
                    body = await response.text()
        print(response.status, body, end="")

    asyncio.run(main(sys.argv[1]))
    """

AIOHTTP_SERVER = """\
    import asyncio
    from aiohttp import web

    async def main():
        served = asyncio.Event()

        async def hello(request):
            served.set()
            return web.Response(text="hello from aiohttp in the sandbox\\n")

        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)
        await served.wait()
        await runner.cleanup()
        print("served", flush=True)

    asyncio.run(main())
    """

HTTPX_SYNC = """\
    import sys
    import httpx

    # New connections each time: the numbers of brokered sockets are real
    # descriptors, which httpcore polls.
    for _ in range(8):
        response = httpx.get(sys.argv[1], trust_env=False, timeout=30)
    print(response.status_code, response.text, end="")
    """

HTTPX_ASYNC = """\
    import asyncio, sys
    import httpx

    async def main(url):
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            responses = await asyncio.gather(*[client.get(url) for _ in range(4)])
        print(*[r.status_code for r in responses], responses[0].text, end="")

    asyncio.run(main(sys.argv[1]))
    """

WEBSOCKETS = """\
    import asyncio, sys
    import websockets

    async def main(url):
        async with websockets.connect(url) as ws:
            await ws.send("hello over a websocket")
            print(await ws.recv())

    asyncio.run(main(sys.argv[1]))
    """


def need(test: unittest.TestCase, module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        test.skipTest(f"{module} is missing (Debian: {package}; scripts/install-deps.sh "
                      "installs it)")


class WebSocketEchoServer:
    """A websockets echo server on 127.0.0.1:0, in a thread with its own
    event loop (this process's own sockets: nothing is installed here)."""

    def __init__(self) -> None:
        import websockets
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def echo(ws: object, path: str = "/") -> None:
            async for message in ws:  # type: ignore[attr-defined]
                await ws.send(message.upper())  # type: ignore[attr-defined]

        async def start() -> None:
            self.server = await websockets.serve(echo, "127.0.0.1", 0)
            self.port = next(iter(self.server.sockets)).getsockname()[1]
            started.set()

        def run() -> None:
            self.loop.run_until_complete(start())
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not started.wait(30):
            raise RuntimeError("the websockets server did not start within 30 s")

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


class LibrariesTest(sbtest.SandboxHttpTestCase):
    def each_mode(self, script: str, *args: str, expect: str) -> None:
        for name, handoff in MODES:
            with self.subTest(path=name):
                self.assert_runs(script, *args, expect=expect, handoff=handoff)

    def test_aiohttp_client(self) -> None:
        need(self, "aiohttp", "python3-aiohttp")
        script = self.program(AIOHTTP_CLIENT, "aiohttp_client.py")
        self.each_mode(script, self.http.url, expect="200 " + sbtest.PAGE.decode())
        self.assert_fails_without_broker(script, self.http.url)

    def test_aiohttp_server_reached_from_the_host(self) -> None:
        need(self, "aiohttp", "python3-aiohttp")
        script = self.program(AIOHTTP_SERVER, "aiohttp_server.py")
        for name, handoff in MODES:
            with self.subTest(path=name):
                process, port = self.start_server_program(script, handoff=handoff)
                with sbtest.real_create_connection(("127.0.0.1", port), timeout=30) as conn:
                    conn.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    response = conn.makefile("rb").read()
                self.assertTrue(response.startswith(b"HTTP/1.0 200 "), response)
                self.assertTrue(response.endswith(b"\r\n\r\nhello from aiohttp in the sandbox\n"),
                                response)
                self.assert_finishes(process, "served\n")
        self.assert_unreachable_from_the_host(script)

    def test_httpx_sync(self) -> None:
        need(self, "httpx", "python3-httpx")
        script = self.program(HTTPX_SYNC, "httpx_sync.py")
        self.each_mode(script, self.http.url, expect="200 " + sbtest.PAGE.decode())
        self.assert_fails_without_broker(script, self.http.url)

    def test_httpx_async(self) -> None:
        need(self, "httpx", "python3-httpx")
        script = self.program(HTTPX_ASYNC, "httpx_async.py")
        self.each_mode(script, self.http.url,
                       expect="200 200 200 200 " + sbtest.PAGE.decode())
        self.assert_fails_without_broker(script, self.http.url)

    def test_websockets_client(self) -> None:
        need(self, "websockets", "python3-websockets")
        server = WebSocketEchoServer()
        self.addCleanup(server.close)
        script = self.program(WEBSOCKETS, "websockets_client.py")
        url = f"ws://127.0.0.1:{server.port}/"
        self.each_mode(script, url, expect="HELLO OVER A WEBSOCKET\n")
        self.assert_fails_without_broker(script, url)


if __name__ == "__main__":
    unittest.main()
