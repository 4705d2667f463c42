"""``dhub`` commands for access: grants on projects, tokens, and the SQL and Flight
endpoints that check them."""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING

from digitalhub_airflow.cli.support import AddCommand, emit, port_number, positive_int

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

COMMANDS = {
    "grant": "let a user, role or project read / write / administer a project",
    "revoke": "take a subject's grant on a project away",
    "grants": "list the grants, of every project or one",
    "token": "issue an access token for a user (the SQL/Flight password)",
    "sql-server": "serve datasets over the PostgreSQL wire protocol (psql, psycopg)",
    "flight-server": "serve versions and query results over Arrow Flight",
}


def cmd_grant(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.access import grant
    from digitalhub_airflow.settings import current_user

    info = grant(hub.catalog, args.project, args.subject, args.level, by=current_user())
    emit(
        args,
        info.to_json(),
        f"granted {info.level.name.lower()} on {info.project} to {info.subject}",
    )
    return 0


def cmd_revoke(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.access import revoke

    revoke(hub.catalog, args.project, args.subject)
    emit(
        args,
        {"project": args.project, "subject": args.subject},
        f"revoked {args.subject} on {args.project}",
    )
    return 0


def cmd_grants(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.access import grants

    rows = grants(hub.catalog, args.project)
    text = "\n".join(
        f"{g.project:20} {g.subject:30} {g.level.name.lower():6} by {g.granted_by}" for g in rows
    )
    emit(args, [g.to_json() for g in rows], text or "no grants")
    return 0


def cmd_token(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.access import Principal
    from digitalhub_airflow.access.tokens import issue
    from digitalhub_airflow.settings import token_secret

    principal = Principal.of_user(args.user, args.role)
    token = issue(principal, token_secret(), args.ttl)
    emit(args, {"user": principal.name, "token": token, "ttl_s": args.ttl}, token)
    return 0


def cmd_sql_server(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.endpoints.pgwire import SqlServer
    from digitalhub_airflow.endpoints.session import TableCache
    from digitalhub_airflow.settings import token_secret

    server = SqlServer((args.host, args.port), hub, token_secret(), TableCache())
    host, port = server.server_address[:2]
    print(f"dhub sql-server listening on postgresql://{host}:{port}", flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    finally:
        server.server_close()
    return 0


def cmd_flight_server(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.endpoints.flight import FlightServer
    from digitalhub_airflow.endpoints.session import TableCache
    from digitalhub_airflow.settings import token_secret

    server = FlightServer(f"grpc://{args.host}:{args.port}", hub, token_secret(), TableCache())
    print(f"dhub flight-server listening on grpc://{args.host}:{server.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve()
    return 0


def register(add: AddCommand) -> None:
    """Add the access commands to the ``dhub`` parser."""
    for name, func in (("grant", cmd_grant), ("revoke", cmd_revoke)):
        p = add(name, func)
        p.add_argument("project", help="the project")
        p.add_argument("subject", help="user:NAME, role:NAME (an Airflow role) or project:NAME")
        if name == "grant":
            p.add_argument("level", choices=["read", "write", "admin"])
    p = add("grants", cmd_grants)
    p.add_argument("project", nargs="?", help="only this project's grants")
    p = add("token", cmd_token)
    p.add_argument("user", help="the user the token speaks for")
    p.add_argument("--role", action="append", default=[], help="a role of the user")
    p.add_argument("--ttl", type=positive_int, default=3600, help="seconds it is valid")
    for name, func, port in (
        ("sql-server", cmd_sql_server, 5433),
        ("flight-server", cmd_flight_server, 8815),
    ):
        p = add(name, func)
        p.add_argument("--host", default="127.0.0.1", help="address to listen on")
        p.add_argument("--port", type=port_number, default=port, help=f"port (default {port})")
