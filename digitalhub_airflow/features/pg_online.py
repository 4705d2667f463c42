"""A PostgreSQL online store for Feast on psycopg 3, without ``psycopg_pool``.

Feast's own PostgreSQL online store imports ``psycopg_pool``, which the suite's lock does
not hold, so in real mode Feast loads this one instead (a custom online store, named by
class path, as Feast documents). Same layout as Feast's SQL online stores: one table per
feature view, ``(entity_key, feature_name)`` primary key, the serialized value protobuf,
the event time. One connection per store object, in autocommit; a batch of writes is one
transaction.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_table_id
from feast.infra.online_stores.online_store import OnlineStore
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import FeastConfigBaseModel
from pydantic import StrictStr

#: How Feast names this store in a ``RepoConfig`` (its class path).
STORE_TYPE: Literal["digitalhub_airflow.features.pg_online.PgOnlineStore"] = (
    "digitalhub_airflow.features.pg_online.PgOnlineStore"
)


class PgOnlineStoreConfig(FeastConfigBaseModel):
    type: Literal["digitalhub_airflow.features.pg_online.PgOnlineStore"] = STORE_TYPE
    conninfo: StrictStr
    db_schema: StrictStr = "public"


class PgOnlineStore(OnlineStore):
    _conn: Any = None

    def _connection(self, config: Any) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(config.online_store.conninfo, autocommit=True)
        return self._conn

    @staticmethod
    def _table(config: Any, table: Any) -> Any:
        from psycopg import sql

        name = compute_table_id(
            config.project, table, config.registry.enable_online_feature_view_versioning
        )
        return sql.Identifier(config.online_store.db_schema, name)

    def online_write_batch(
        self,
        config: Any,
        table: Any,
        data: list[tuple[Any, dict[str, Any], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        from psycopg import sql

        version = config.entity_key_serialization_version
        rows = [
            (serialize_entity_key(key, version), name, value.SerializeToString(), ts, created)
            for key, values, ts, created in data
            for name, value in values.items()
        ]
        statement = sql.SQL(
            "INSERT INTO {} (entity_key, feature_name, value, event_ts, created_ts) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (entity_key, feature_name) DO UPDATE "
            "SET value = EXCLUDED.value, event_ts = EXCLUDED.event_ts, "
            "created_ts = EXCLUDED.created_ts"
        ).format(self._table(config, table))
        conn = self._connection(config)
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(statement, rows)
        if progress:
            progress(len(data))

    def online_read(
        self,
        config: Any,
        table: Any,
        entity_keys: list[Any],
        requested_features: list[str] | None = None,
    ) -> list[tuple[datetime | None, dict[str, Any] | None]]:
        from psycopg import sql

        version = config.entity_key_serialization_version
        keys = [serialize_entity_key(k, version) for k in entity_keys]
        statement = sql.SQL(
            "SELECT entity_key, feature_name, value, event_ts FROM {} "
            "WHERE entity_key = ANY(%s) ORDER BY entity_key"
        ).format(self._table(config, table))
        with self._connection(config).cursor() as cur:
            cur.execute(statement, (keys,))
            fetched = cur.fetchall()
        grouped = {bytes(k): list(g) for k, g in itertools.groupby(fetched, key=lambda r: r[0])}
        result: list[tuple[datetime | None, dict[str, Any] | None]] = []
        for key in keys:
            found = grouped.get(key)
            if not found:
                result.append((None, None))
                continue
            values = {}
            for _, name, blob, _ts in found:
                value = ValueProto()
                value.ParseFromString(bytes(blob))
                values[name] = value
            result.append((found[-1][3].astimezone(timezone.utc), values))
        return result

    def update(  # noqa: PLR0917 - Feast's signature
        self,
        config: Any,
        tables_to_delete: Sequence[Any],
        tables_to_keep: Sequence[Any],
        entities_to_delete: Sequence[Any],
        entities_to_keep: Sequence[Any],
        partial: bool,
    ) -> None:
        from psycopg import sql

        conn = self._connection(config)
        with conn.transaction():
            for table in tables_to_keep:
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} (entity_key bytea, feature_name text, "
                        "value bytea, event_ts timestamptz, created_ts timestamptz, "
                        "PRIMARY KEY (entity_key, feature_name))"
                    ).format(self._table(config, table))
                )
            for table in tables_to_delete:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._table(config, table)))

    def teardown(self, config: Any, tables: Sequence[Any], entities: Sequence[Any]) -> None:
        self.update(config, tables, [], entities, [], partial=False)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
