"""The HTTP transport of the provider plugins: one aiohttp session per channel and event loop.

Measured on the 2-core machine against a fixed-answer gateway, httpx spent about 1.3 ms of CPU per request
in its connection pool and was the ceiling of dispatch; aiohttp's client costs a fraction of that
(`python -m benchmarks.dispatch` prints both bare loops side by side). Each channel talks to one
provider host, so a session per channel is the process's one pool for that host: connections are kept
alive and reused, and a few of them carry all the traffic.

Failures are translated here once for every plugin: a timeout or a connection failure is a
`TransientError` naming the provider; what the provider answered is the plugin's to judge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from notifier.channels.base import TransientError
from notifier.channels.common import LoopBound

# Kept-alive connections per provider host. More do not help on loopback (the measured optimum was
# 8–16 at 50 messages in flight) and a real gateway throttles a brandname long before that.
CONNECTIONS_PER_HOST = 16
# A provider's answer is a small JSON object; anything far larger is not one, and is not read whole.
MAX_ANSWER_BYTES = 1 << 20


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes
    retry_after: float | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not (json.JSONDecodeError is one)."""
        return json.loads(self.body)

    def json_object(self, provider: str) -> dict[str, Any]:
        """The answer of an API that always answers a JSON object (Zalo's): 429, 5xx and anything that is not
        a JSON object are worth another try later (after the provider's Retry-After, if it gave one)."""
        if self.status == 429 or self.status >= 500:
            raise TransientError(f"{provider} HTTP {self.status}", retry_after=self.retry_after)
        try:
            result = self.json()
        except ValueError as exc:
            raise TransientError(f"{provider} answered non-JSON (HTTP {self.status})") from exc
        if not isinstance(result, dict):
            raise TransientError(f"{provider} answered JSON that is not an object (HTTP {self.status})")
        return result


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: the dispatcher's own backoff applies


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    if response.content_length is not None and response.content_length <= MAX_ANSWER_BYTES:
        return await response.read()  # the common case, and the cheapest
    body = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            break  # the start is enough to report what came back
    return bytes(body[:MAX_ANSWER_BYTES])


class HttpClient:
    """POSTs to one provider, from whichever event loop is running (see LoopBound)."""

    def __init__(self, provider: str, timeout_seconds: float, base_url: str = "") -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: LoopBound[aiohttp.ClientSession] = LoopBound(self._make, lambda s: s.close())

    def _make(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=CONNECTIONS_PER_HOST, limit_per_host=CONNECTIONS_PER_HOST, keepalive_timeout=30,
            ttl_dns_cache=300,
        )
        return aiohttp.ClientSession(connector=connector, timeout=self._timeout)

    async def aclose(self) -> None:
        await self._session.aclose()

    async def post(
        self,
        path_or_url: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        """`content`: bytes sent exactly as given (a signed body must not be re-serialised)."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        data: Any = content if content is not None else form
        try:
            async with self._session.get().post(url, json=json_body, data=data, headers=headers) as response:
                body = await _read_capped(response)
                return HttpAnswer(response.status, body, _retry_after(response.headers))
        except TimeoutError as exc:
            raise TransientError(f"{self.provider} timeout: {exc!r}") from exc
        except aiohttp.ClientError as exc:
            raise TransientError(f"{self.provider} unreachable: {type(exc).__name__}: {exc}") from exc
