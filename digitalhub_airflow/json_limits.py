"""How deep a JSON body may nest, found without parsing it: every server here (the model
server, the plugin API) refuses a deeper body before ``json.loads`` would recurse into it
(a ``RecursionError`` is a 500; a limit is a 400)."""

from __future__ import annotations

#: The deepest array/object nesting a request body may have.
MAX_JSON_DEPTH = 64

_DEPTH_CHUNK = 1 << 20


def json_depth(body: bytes) -> int:
    """The deepest array/object nesting of a JSON text, without parsing or recursion.

    Escape pairs (``\\\\``, ``\\"``) are dropped first, so the quotes left alternate
    between opening and closing string literals; a bracket counts only outside them. The
    running sum of ``+1`` per ``[``/``{`` and ``-1`` per ``]``/``}`` is taken with numpy,
    a chunk at a time. Up to where a parser would stop on malformed text that sum is
    exactly the parser's depth, so its maximum bounds what ``json.loads`` recurses into.
    """
    import numpy as np

    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    data = np.frombuffer(body, dtype=np.uint8)
    deepest = depth = quotes = 0
    for start in range(0, data.size, _DEPTH_CHUNK):
        chunk = data[start : start + _DEPTH_CHUNK]
        in_string = np.cumsum(chunk == ord('"'), dtype=np.int64) + quotes
        quotes = int(in_string[-1])
        steps = ((chunk == ord("[")) | (chunk == ord("{"))).astype(np.int8)
        steps -= (chunk == ord("]")) | (chunk == ord("}"))
        steps[(in_string & 1).astype(bool)] = 0
        running = np.cumsum(steps, dtype=np.int64) + depth
        deepest = max(deepest, int(running.max()))
        depth = int(running[-1])
    return deepest
