"""Opaque paging cursors pinned to one version.

A version is immutable, so "the next page" is an offset into one deterministic order
(the requested order, then the row's position): the cursor carries the version id, the
offset and a fingerprint of the request, so it keeps reading the version it began on
after an alias moves, and a cursor replayed with other filters is refused, not misread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass

from digitalhub_airflow.errors import DataRequestError

MAX_CURSOR_LENGTH = 512
_VERSION_RE = re.compile(r"[0-9a-f]{16,128}")


@dataclass(frozen=True)
class Cursor:
    version_id: str
    offset: int
    fingerprint: str

    def encode(self) -> str:
        text = json.dumps([self.version_id, self.offset, self.fingerprint], separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def fingerprint(parts: list[str]) -> str:
    """What a cursor must be replayed with: the request's select, filters and order."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def decode(text: str) -> Cursor:
    """A cursor from its text; anything malformed is a 400 naming the problem."""
    if len(text) > MAX_CURSOR_LENGTH:
        raise DataRequestError(f"the cursor is {len(text)} characters; not one this server made")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        version_id, offset, printed = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise DataRequestError(f"the cursor is malformed ({type(exc).__name__})") from None
    if (
        not isinstance(version_id, str)
        or not _VERSION_RE.fullmatch(version_id)
        or isinstance(offset, bool)
        or not isinstance(offset, int)
        or offset < 0
        or not isinstance(printed, str)
    ):
        raise DataRequestError("the cursor is malformed (unexpected fields)")
    return Cursor(version_id, offset, printed)
