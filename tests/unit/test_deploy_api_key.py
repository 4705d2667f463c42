"""The API-key gate of a server exposed with ``auth: api-key``: requests without the
key (or with a wrong one) get a 401 JSON error, the key works as a header or a bearer
token, the kubelet's health probes pass without it, and without the variable the server
is not gated at all."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from digitalhub_airflow.serving.runtime.api_key import API_KEY_ENV, protect
from digitalhub_airflow.serving.runtime.asgi import ASGIApp, Receive, Scope, Send

KEY = "k3y-for-the-test"


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


def get(app: ASGIApp, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://server") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(call())


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {"X-API-Key": "wrong"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": "Bearer"},
    ],
)
def test_requests_without_the_key_are_refused(headers: dict | None) -> None:
    app = protect(echo, {API_KEY_ENV: KEY})
    response = get(app, "/v2/models/wine", headers)
    assert response.status_code == 401
    assert response.json() == {"error": "missing or wrong API key (X-API-Key header)"}
    assert KEY not in response.text


@pytest.mark.parametrize("headers", [{"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}])
def test_the_key_opens_every_route(headers: dict) -> None:
    app = protect(echo, {API_KEY_ENV: KEY})
    for path in ("/v2/models/wine/infer", "/invocations", "/metrics"):
        response = get(app, path, headers)
        assert response.status_code == 200 and response.text == path


def test_health_probes_need_no_key_and_no_variable_means_no_gate() -> None:
    gated = protect(echo, {API_KEY_ENV: KEY})
    for path in ("/v2/health/live", "/v2/health/ready"):
        assert get(gated, path).status_code == 200
    assert protect(echo, {}) is echo
