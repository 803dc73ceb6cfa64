"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for generating load.

On two shared cores the load generator competes with the server it measures; httpx spends
close to a millisecond of CPU per request, twice what the server spends on GET /healthz.
This client sends a request and reads a Content-Length response and nothing more (no
redirects, no chunked bodies, no TLS), which is all the measured routes need.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Answer:
        assert self._reader is not None and self._writer is not None, "open() first"
        body = b"" if json_body is None else json.dumps(json_body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if json_body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                raise ValueError("chunked responses are not read by this client")
        return Answer(status, await self._reader.readexactly(length) if length else b"")


async def connect(base_url: str, count: int) -> list[Connection]:
    host, _, port = base_url.removeprefix("http://").partition(":")
    return list(await asyncio.gather(*(Connection(host, int(port)).open() for _ in range(count))))
