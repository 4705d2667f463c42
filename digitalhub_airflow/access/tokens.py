"""Signed, expiring tokens that carry a :class:`Principal` to the SQL endpoint, Flight
and the SDK (as a password or a bearer token).

``dhub1.<payload>.<signature>``: the payload is base64url JSON (user, roles, admin,
expiry), the signature its HMAC-SHA256 under the platform's token secret, so anything
holding the secret can check a token without a database round trip.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from digitalhub_airflow.access.principal import Principal
from digitalhub_airflow.errors import AuthenticationError, InvalidOptionError

PREFIX = "dhub1"
MAX_TOKEN_LENGTH = 8192
MAX_TTL_S = 366 * 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, secret: bytes) -> str:
    return _b64(hmac.new(secret, f"{PREFIX}.{payload}".encode(), hashlib.sha256).digest())


def issue(principal: Principal, secret: bytes, ttl_s: int) -> str:
    """A token for ``principal`` valid for ``ttl_s`` seconds."""
    if not 0 < ttl_s <= MAX_TTL_S:
        raise InvalidOptionError(f"token lifetime {ttl_s}s is not between 1s and {MAX_TTL_S}s")
    body = {
        "sub": principal.name,
        "roles": sorted(principal.roles),
        "adm": principal.is_admin,
        "exp": int(time.time()) + ttl_s,
    }
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{PREFIX}.{payload}.{_sign(payload, secret)}"


def verify(token: str, secret: bytes) -> Principal:
    """The principal a token names; AuthenticationError if it is malformed, forged or
    expired (the message never repeats the token)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise AuthenticationError("no valid access token given")
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise AuthenticationError("the access token is malformed")
    if not hmac.compare_digest(_sign(parts[1], secret), parts[2]):
        raise AuthenticationError("the access token's signature does not match")
    try:
        body = json.loads(_unb64(parts[1]))
        name, roles, admin, expiry = body["sub"], body["roles"], body["adm"], body["exp"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthenticationError("the access token is malformed") from exc
    if not isinstance(name, str) or not isinstance(roles, list) or not isinstance(expiry, int):
        raise AuthenticationError("the access token is malformed")
    if expiry <= time.time():
        raise AuthenticationError(f"the access token of user {name!r} has expired")
    return Principal(name, frozenset(str(r) for r in roles), is_admin=admin is True)


def from_environment() -> Principal:
    """Who this process acts as: the user of the token in ``DHUB_TOKEN`` (a notebook or
    a pod on a shared catalog), else the trusted local user."""
    import os

    from digitalhub_airflow.settings import token_secret

    token = os.environ.get("DHUB_TOKEN")
    if token:
        return verify(token, token_secret())
    return Principal.local()
