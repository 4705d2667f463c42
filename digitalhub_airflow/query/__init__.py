"""SQL over dataset versions: DuckDB, read-only and sandboxed."""
