"""Typed errors of the platform.

Every failure a user can cause or meet has its own class, so callers (CLI, operators,
API) can map it to an exit code or HTTP status without parsing messages.
"""

from __future__ import annotations


class DhubError(Exception):
    """Base class: a clear, one-line message naming the problem."""

    exit_code = 1


class InvalidKeyError(DhubError, ValueError):
    """A key, name, version or alias does not follow the key grammar."""

    exit_code = 2


class NotFoundError(DhubError, LookupError):
    """A project, dataset, version or alias does not exist."""

    exit_code = 3


class InvalidSourceError(DhubError, ValueError):
    """The data given to a commit is missing, empty, or cannot be parsed."""

    exit_code = 4


class SchemaPolicyError(DhubError):
    """A commit would break the dataset's schema policy."""

    exit_code = 5

    def __init__(self, message: str, columns: list[str]) -> None:
        super().__init__(message)
        self.columns = columns


class ConflictError(DhubError):
    """A concurrent change won; the operation could not be completed after retries."""

    exit_code = 6


class StoreError(DhubError):
    """The object store cannot be reached, read or written."""

    exit_code = 7


class IntegrityError(DhubError):
    """Stored content does not match its digest."""

    exit_code = 8

    def __init__(self, message: str, digests: list[str]) -> None:
        super().__init__(message)
        self.digests = digests


class CatalogError(DhubError):
    """The catalog database cannot be reached or is not initialised."""

    exit_code = 9


class QueryError(DhubError, ValueError):
    """A SQL transform is not one read-only SELECT over ``ds('<key>')`` datasets."""

    exit_code = 20


class TransformError(DhubError):
    """A transformation's own code failed; its run is recorded as failed, nothing committed."""

    exit_code = 21
