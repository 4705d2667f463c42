"""``dhub grant | revoke | grants | token``: one line per error, typed exit codes, and a
token the endpoints accept."""

from __future__ import annotations

from digitalhub_airflow.access.tokens import verify
from tests.unit.dhub_testlib import Cli, cli_env


def test_grants_are_listed_replaced_and_revoked(cli: Cli) -> None:
    cli.ok("grant", "demo", "user:alice", "read")
    cli.ok("grant", "demo", "user:alice", "write")  # replaces, not adds
    cli.ok("grant", "demo", "role:Op", "admin")
    rows = cli.json("grants", "demo")
    assert [(r["subject"], r["level"]) for r in rows] == [
        ("role:Op", "admin"),
        ("user:alice", "write"),
    ]
    cli.ok("revoke", "demo", "role:Op")
    assert [r["subject"] for r in cli.json("grants")] == ["user:alice"]
    missing = cli.run("revoke", "demo", "role:Op")
    assert (missing.returncode, missing.stderr.count("\n")) == (3, 1)
    bad = cli.run("grant", "demo", "alice", "read")
    assert bad.returncode == 2 and "is not user:NAME, role:NAME or project:NAME" in bad.stderr


def test_token_speaks_for_the_user_it_names(cli: Cli) -> None:
    env = {**cli_env(cli.home), "DHUB_TOKEN_SECRET": "cli-test-secret-0123456789abcdef"}
    out = cli.json("token", "alice", "--role", "Viewer", "--ttl", "60", env=env)
    principal = verify(out["token"], env["DHUB_TOKEN_SECRET"].encode())
    assert (principal.name, principal.roles) == ("alice", frozenset({"Viewer"}))
    denied = cli.run(
        "query", "SELECT * FROM ds('demo/wine')", env={**env, "DHUB_TOKEN": out["token"]}
    )
    assert denied.returncode == 30 and "'alice' may not read project 'demo'" in denied.stderr
    forged = cli.run("query", "SELECT 1 FROM ds('demo/x')", env={**env, "DHUB_TOKEN": "dhub1.a.b"})
    assert forged.returncode == 31 and "signature does not match" in forged.stderr
