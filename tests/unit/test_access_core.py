"""Grants, levels and tokens: what every entry point's check relies on."""

from __future__ import annotations

import time

import pytest

from digitalhub_airflow.access import (
    Level,
    Principal,
    grant,
    grants,
    level_of,
    readable_projects,
    require,
    require_reads,
    revoke,
)
from digitalhub_airflow.access.tokens import issue, verify
from digitalhub_airflow.errors import (
    AuthenticationError,
    InvalidKeyError,
    NotFoundError,
    PermissionDeniedError,
)
from digitalhub_airflow.hub import DataHub

ALICE = Principal("alice", frozenset({"Viewer"}))
SECRET = b"s" * 32


def test_no_grant_no_access_and_a_grant_opens_exactly_its_level(ehub: DataHub) -> None:
    cat = ehub.catalog
    assert level_of(cat, ALICE, "a") is None and readable_projects(cat, ALICE) == frozenset()
    with pytest.raises(PermissionDeniedError, match="'alice' may not read project 'a'"):
        require(cat, ALICE, "a", Level.READ)
    grant(cat, "a", "user:alice", "read", by="admin")
    require(cat, ALICE, "a", Level.READ)
    with pytest.raises(PermissionDeniedError, match="may not write project 'a'"):
        require(cat, ALICE, "a", Level.WRITE)
    grant(cat, "b", "role:Viewer", Level.WRITE, by="admin")  # through a role
    assert level_of(cat, ALICE, "b") == Level.WRITE
    assert readable_projects(cat, ALICE) == frozenset({"a", "b"})
    assert [g.to_json()["level"] for g in grants(cat, "b")] == ["write"]
    revoke(cat, "a", "user:alice")
    assert level_of(cat, ALICE, "a") is None
    with pytest.raises(NotFoundError):
        revoke(cat, "a", "user:alice")


def test_admins_and_the_local_user_pass_everything(ehub: DataHub) -> None:
    admin = Principal.of_user("root", ["Admin"])
    assert admin.is_admin and Principal.local().is_admin
    assert level_of(ehub.catalog, admin, "any") == Level.ADMIN
    assert readable_projects(ehub.catalog, admin) is None


def test_cross_project_reads_need_a_project_grant_or_the_users_own(ehub: DataHub) -> None:
    cat = ehub.catalog
    with pytest.raises(PermissionDeniedError, match=r"project 'a' .* may not read project 'b'"):
        require_reads(cat, ALICE, ["a", "b"], into="a")
    grant(cat, "b", "project:a", "read", by="admin")
    require_reads(cat, ALICE, ["a", "b"], into="a")
    with pytest.raises(PermissionDeniedError, match="'alice' may not read project 'b'"):
        require_reads(cat, ALICE, ["b"])  # interactively: her own grant is needed


@pytest.mark.parametrize("subject", ["alice", "group:x", "user:", "user:a b", "project:Bad!"])
def test_bad_subjects_and_levels_are_refused(ehub: DataHub, subject: str) -> None:
    with pytest.raises(InvalidKeyError):
        grant(ehub.catalog, "a", subject, "read", by="admin")
    with pytest.raises(InvalidKeyError, match="not one of read, write, admin"):
        grant(ehub.catalog, "a", "user:x", "owner", by="admin")
    assert grants(ehub.catalog) == []


def test_tokens_round_trip_and_refuse_forgery_and_expiry() -> None:
    token = issue(ALICE, SECRET, 60)
    assert verify(token, SECRET) == ALICE
    with pytest.raises(AuthenticationError, match="signature"):
        verify(token, b"x" * 32)
    head, _payload, sig = token.split(".")
    forged = issue(Principal("root", is_admin=True), b"x" * 32, 60).split(".")[1]
    with pytest.raises(AuthenticationError, match="signature"):
        verify(f"{head}.{forged}.{sig}", SECRET)
    for bad in ["", "abc", "dhub1.a.b.c", "x" * 9000]:
        with pytest.raises(AuthenticationError):
            verify(bad, SECRET)
    old = issue(ALICE, SECRET, 1)
    time.sleep(1.1)
    with pytest.raises(AuthenticationError, match="expired") as info:
        verify(old, SECRET)
    assert old not in str(info.value)
