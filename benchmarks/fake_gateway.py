"""A loopback fake of an eSMS-style SMS gateway, in its own process, that counts what it receives.

It behaves like the real gateway where it matters for delivery guarantees: a second request with a
RequestId it has already accepted is refused with code 124, and it reports, per RequestId, how many
requests came in, so a crash test can count duplicates the gateway saw and duplicates a citizen got.

    python -m benchmarks.fake_gateway [--port 0] [--delay-ms 0]   # prints "PORT <n>" once listening
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter

from aiohttp import web

SEND_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"


def make_app(delay_ms: float) -> web.Application:
    requests: Counter[str] = Counter()
    accepted: Counter[str] = Counter()

    async def send(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ConnectionResetError:  # the sender was killed mid-request (crash tests do that)
            return web.Response(status=499)
        request_id = str(body.get("RequestId", ""))
        requests[request_id] += 1
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        if accepted[request_id]:
            return web.json_response({"CodeResult": "124", "ErrorMessage": "Duplicate RequestId"})
        accepted[request_id] += 1
        return web.json_response({"CodeResult": "100", "SMSID": f"fake-{len(accepted)}"})

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({
            "requests": sum(requests.values()),
            "distinct": len(requests),
            "accepted": sum(accepted.values()),
            "repeated_request_ids": sum(1 for n in requests.values() if n > 1),
            "delivered_twice": sum(1 for n in accepted.values() if n > 1),
        })

    app = web.Application()
    app.router.add_post(SEND_PATH, send)
    app.router.add_get("/stats", stats)
    return app


async def serve(port: int, delay_ms: float) -> None:
    runner = web.AppRunner(make_app(delay_ms), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"PORT {bound}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, args.delay_ms))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
