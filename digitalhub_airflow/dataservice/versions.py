"""The versions a data service serves: one pinned version, or whatever an alias names.

Each version is loaded once into its own in-memory DuckDB database (a native table, so
filters and sorts run on DuckDB's own storage) with external access disabled and the
configuration locked: the database can read nothing but that table. An alias is
re-resolved every ``refresh_seconds`` in the background; the new version is loaded
*before* it replaces the old one, so no request waits or fails while an alias moves,
and the old one stays loaded for the cursors still reading it. A quarantined version
is never served unless the service was started with ``allow_quarantined``.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.dataservice.request import TABLE
from digitalhub_airflow.errors import DataRequestError, NotFoundError, QuarantinedError

if TYPE_CHECKING:
    import pyarrow as pa

    from digitalhub_airflow.datasets.versions import VersionInfo
    from digitalhub_airflow.hub import DataHub

log = logging.getLogger(__name__)
#: Versions kept loaded besides the current one, for cursors that began on them.
KEEP_VERSIONS = 2


@dataclass
class LoadedVersion:
    info: VersionInfo
    schema: pa.Schema
    database: Any  # duckdb.DuckDBPyConnection, the version's own database

    def run(self, sql: str, params: list[Any]) -> pa.Table:
        """Run one query on a cursor of its own (safe from any thread). A bound value
        DuckDB cannot convert (a date that is no date, an integer past 64 bits) is the
        client's error; anything else is the server's."""
        import duckdb

        cursor = self.database.cursor()
        try:
            return cursor.sql(sql, params=params).to_arrow_table()
        except (duckdb.ConversionException, duckdb.InvalidInputException, OverflowError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataRequestError(
                f"a filter value does not convert: {first}", 400, "22P02"
            ) from None
        finally:
            cursor.close()


def load_version(info: VersionInfo, table: pa.Table) -> LoadedVersion:
    import duckdb

    database = duckdb.connect(":memory:")
    database.register("__dhub_source", table)
    database.execute(f"CREATE TABLE {TABLE} AS SELECT * FROM __dhub_source")
    database.unregister("__dhub_source")
    database.execute("SET enable_external_access = false")
    database.execute("SET lock_configuration = true")
    return LoadedVersion(info, table.schema, database)


class ServedDataset:
    """The versions of one dataset key, as a data service serves them."""

    def __init__(
        self,
        hub_factory: Callable[[], DataHub],
        key: str,
        *,
        allow_quarantined: bool = False,
        refresh_seconds: float = 2.0,
    ) -> None:
        self._hub_factory = hub_factory
        self._hub: DataHub | None = None
        self.key = key
        self.allow_quarantined = allow_quarantined
        self.refresh_seconds = refresh_seconds
        self._loaded: OrderedDict[str, LoadedVersion] = OrderedDict()
        self._current: LoadedVersion | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.pinned = False

    @property
    def hub(self) -> DataHub:
        if self._hub is None:
            self._hub = self._hub_factory()
        return self._hub

    @property
    def current(self) -> LoadedVersion:
        if self._current is None:
            raise DataRequestError("the dataset is still loading", 503, "PGRST002")
        return self._current

    @property
    def ready(self) -> bool:
        return self._current is not None

    def start(self) -> None:
        """Load the version the key names now (raises when it cannot be served); a key
        naming a version stays on it, an alias (or latest) is followed."""
        key = self.hub.key(self.key)
        self.key = str(key)
        self.pinned = key.version is not None
        self.refresh()
        if not self.pinned:
            threading.Thread(target=self._follow, name="dhub-data-follow", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _follow(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception:  # the catalog may be briefly away: keep serving what we have
                log.exception("re-resolving %s failed; still serving the loaded version", self.key)

    def refresh(self) -> None:
        """Resolve the key; load and switch to its version if it changed."""
        try:
            info = self.hub.resolve(self.key)
        except QuarantinedError:  # a named alias now on a quarantined version
            if self._current is None:
                raise
            log.warning("%s names a quarantined version: still serving the previous", self.key)
            return
        if self._current is not None and info.version_id == self._current.info.version_id:
            return
        if self._refused(info):
            if self._current is None:
                raise QuarantinedError(
                    f"{info.key} is quarantined: a data service serves it only with "
                    "allow_quarantined"
                )
            log.warning("%s names quarantined %s: still serving the previous", self.key, info.key)
            return
        loaded = self._load(info)
        self._current = loaded
        log.info("serving %s (version %s)", info.key, info.short_id)

    def _refused(self, info: VersionInfo) -> bool:
        return info.quality == "quarantined" and not self.allow_quarantined

    def _load(self, info: VersionInfo) -> LoadedVersion:
        with self._lock:
            loaded = self._loaded.get(info.version_id)
        if loaded is None:
            loaded = load_version(info, self.hub.read_table(info.key))
        with self._lock:
            self._loaded[info.version_id] = loaded
            self._loaded.move_to_end(info.version_id)
            current = self._current.info.version_id if self._current is not None else None
            while len(self._loaded) > KEEP_VERSIONS + 1:
                oldest = next(iter(self._loaded))
                if oldest in (current, info.version_id):
                    self._loaded.move_to_end(oldest)
                    continue
                self._loaded.pop(oldest).database.close()
        return loaded

    def version(self, version_id: str) -> LoadedVersion:
        """The version a cursor began on: loaded again if it was let go; refused when it
        is another dataset's, quarantined, or not this pinned service's version."""
        current = self.current
        if version_id == current.info.version_id:
            return current
        if self.pinned:
            raise DataRequestError(
                "the cursor is for another version than this service serves", code="PGRST103"
            )
        with self._lock:
            loaded = self._loaded.get(version_id)
        if loaded is not None:
            return loaded
        dataset = current.info.dataset
        try:
            info = self.hub.resolve(f"{dataset}:{version_id}")
        except NotFoundError:
            raise DataRequestError(
                f"the cursor's version {version_id[:12]} is not a version of {dataset}",
                code="PGRST103",
            ) from None
        if self._refused(info):
            raise DataRequestError(
                f"the cursor's version {info.short_id} is quarantined", 409, "PGRST103"
            )
        return self._load(info)
