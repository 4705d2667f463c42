"""The few ASGI pieces ``dhub serve`` needs: its types and a whole-body response.

The server is a plain ASGI app (no framework on the hot path); the API-key gate in
front of it answers through the same :func:`respond`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
JSON = b"application/json"


async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send ``body`` as the whole response."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def respond_server_fault(
    send: Send, method: str, path: str, body_of: Callable[[str], bytes], log: logging.Logger
) -> None:
    """A 500 for a server fault (call it while handling the exception): the traceback is
    logged under a request id, and the client gets that id, never the exception's text."""
    request_id = uuid.uuid4().hex
    log.exception("request %s: %s %s failed", request_id, method, path)
    await respond(send, 500, body_of(request_id), headers=[(b"x-request-id", request_id.encode())])
