"""Named failpoints for crash tests: ``DHUB_FAILPOINT=<name>`` kills the process there.

Crash-safety claims ("a SIGKILL at any point leaves no partial version") are proven by
killing a real commit at each of these points; unset, a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

#: The points of a commit, in the order they are reached.
COMMIT_POINTS = (
    "commit.before_ingest",
    "commit.after_first_blob",
    "commit.after_ingest",
    "commit.in_transaction",
    "commit.after_transaction",
)
#: Reached only by a commit under a producing run: after the version, before its
#: ``produced_by`` edge, in the same transaction (between after_ingest and in_transaction).
PRODUCED_BY_POINT = "commit.before_produced_by"
#: Reached only by a commit of a chunked file: after its first pack is stored, before
#: its chunk manifest (between before_ingest and after_first_blob).
FIRST_PACK_POINT = "commit.after_first_pack"


def failpoint(name: str) -> None:
    if os.environ.get("DHUB_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
