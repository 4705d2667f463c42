"""Network endpoints over a project's datasets: PostgreSQL wire protocol
(:mod:`.pgwire`) and Arrow Flight (:mod:`.flight`), both on one sandboxed,
read-only, per-user SQL session (:mod:`.session`)."""
