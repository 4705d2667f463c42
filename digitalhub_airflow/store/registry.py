"""Which backend serves a store URL: a registry keyed by URI scheme.

A backend is a :class:`~digitalhub_airflow.store.base.BlobStore` subclass, registered
under the entry point group ``digitalhub_airflow.stores`` (name = URI scheme, value =
``module:Class``), as MLflow registers its tracking and artifact stores. The built-ins
(``file``, ``s3``) are declared there too, and also registered here by import path, so
the registry works from a source tree without the distribution's metadata. Entry points
are loaded only when their scheme is first asked for; one that fails to load is an error
for its scheme alone.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from digitalhub_airflow.errors import InvalidOptionError
from digitalhub_airflow.store.base import BlobStore

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "digitalhub_airflow.stores"
#: The built-in backends, by import path (the same values as pyproject's entry points).
BUILTIN: dict[str, str] = {
    "file": "digitalhub_airflow.store.local:LocalBlobStore",
    "s3": "digitalhub_airflow.store.s3:S3BlobStore",
}
SCHEME_RE = re.compile(r"[a-z][a-z0-9+.-]*")

Backend = type[BlobStore]


class UnknownStoreSchemeError(InvalidOptionError):
    """A store URL whose scheme no registered backend serves; ``scheme`` is that scheme,
    ``known`` the registered ones."""

    def __init__(self, url: str, scheme: str, known: Iterable[str]) -> None:
        self.url, self.scheme, self.known = url, scheme, sorted(known)
        super().__init__(
            f"store URL {url!r} has the scheme {scheme!r}, which no store backend serves "
            f"(registered: {', '.join(self.known) or 'none'}; a backend registers under "
            f"the entry point group {ENTRY_POINT_GROUP!r})"
        )


class StoreBackendError(InvalidOptionError):
    """A registered backend that cannot be loaded or is not a ``BlobStore`` subclass."""


def url_scheme(url: str) -> str:
    """The URI scheme of a store URL, lower case; a plain path is ``file``."""
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else "file"


def _load_path(path: str) -> object:
    module, _, attr = path.partition(":")
    target: object = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        target = getattr(target, part)
    return target


class StoreRegistry:
    """Scheme -> backend. ``entry_points`` replaces the installed ones (tests)."""

    def __init__(
        self, entry_points: Iterable[EntryPoint] | None = None, builtins: bool = True
    ) -> None:
        self._given = None if entry_points is None else list(entry_points)
        self._builtins = builtins
        self._pending: dict[str, EntryPoint | str] = {}
        self._loaded: dict[str, Backend] = {}
        self._discovered = False
        self._lock = threading.RLock()

    # -- registration -------------------------------------------------------------------
    def register(self, scheme: str, backend: Backend | EntryPoint | str) -> None:
        """Register ``backend`` (a class, an entry point or a ``module:Class`` path)."""
        scheme = scheme.lower()
        if not SCHEME_RE.fullmatch(scheme):
            raise InvalidOptionError(f"{scheme!r} is not a URI scheme")
        with self._lock:
            self._loaded.pop(scheme, None)
            self._pending.pop(scheme, None)
            if isinstance(backend, (EntryPoint, str)):
                self._pending[scheme] = backend
            else:
                self._loaded[scheme] = self._checked(scheme, backend, backend)

    def _discover(self) -> None:
        with self._lock:
            if self._discovered:
                return
            self._discovered = True
            found = self._given
            if found is None:
                found = list(entry_points(group=ENTRY_POINT_GROUP))
            defaults = dict(BUILTIN) if self._builtins else {}
            for scheme, path in defaults.items():
                self._pending.setdefault(scheme, path)
            for point in found:
                scheme = point.name.lower()
                if scheme in self._loaded:
                    continue  # registered in code: that wins
                if defaults.get(scheme) not in (None, point.value):
                    log.warning(
                        "store backend %r: entry point %s replaces the built-in %s",
                        scheme,
                        point.value,
                        defaults[scheme],
                    )
                self._pending[scheme] = point

    # -- lookup ---------------------------------------------------------------------------
    def schemes(self) -> list[str]:
        """The registered schemes, loaded or not."""
        self._discover()
        with self._lock:
            return sorted({*self._pending, *self._loaded})

    def backend(self, scheme: str) -> Backend:
        """The backend for ``scheme``; :class:`UnknownStoreSchemeError` when none."""
        scheme = scheme.lower()
        self._discover()
        with self._lock:
            if scheme in self._loaded:
                return self._loaded[scheme]
            source = self._pending.get(scheme)
            if source is None:
                raise UnknownStoreSchemeError(f"{scheme}://", scheme, self.schemes())
            where = source if isinstance(source, str) else source.value
            try:
                loaded = _load_path(source) if isinstance(source, str) else source.load()
            except (ImportError, AttributeError) as exc:
                raise StoreBackendError(
                    f"the store backend for {scheme!r} ({where}) cannot be loaded: {exc}"
                ) from exc
            backend = self._checked(scheme, loaded, where)
            self._loaded[scheme] = backend
            del self._pending[scheme]
            return backend

    def for_url(self, url: str) -> Backend:
        """The backend serving ``url``; the error names the URL's scheme and the known."""
        scheme = url_scheme(url)
        try:
            return self.backend(scheme)
        except UnknownStoreSchemeError as exc:
            raise UnknownStoreSchemeError(url, scheme, exc.known) from None

    def for_connection_type(self, conn_type: str) -> Backend | None:
        """The backend that maps Airflow connections of ``conn_type``, if one claims it
        (every registered backend is loaded to ask; one that cannot load is skipped)."""
        for scheme in self.schemes():
            try:
                backend = self.backend(scheme)
            except StoreBackendError as exc:
                log.warning("%s", exc)
                continue
            if conn_type in backend.connection_types:
                return backend
        return None

    @staticmethod
    def _checked(scheme: str, backend: object, where: object) -> Backend:
        if not (isinstance(backend, type) and issubclass(backend, BlobStore)):
            raise StoreBackendError(
                f"the store backend for {scheme!r} ({where}) is {backend!r}, "
                "not a BlobStore subclass"
            )
        return backend


_default = StoreRegistry()


def default_registry() -> StoreRegistry:
    """The process's registry: the built-ins and the installed entry points."""
    return _default
