"""Typed errors of the platform.

Every failure a user can cause or meet has its own class, so callers (CLI, operators,
API) can map it to an exit code or HTTP status without parsing messages.
"""

from __future__ import annotations

from typing import Any


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


class SuiteError(DhubError, ValueError):
    """An expectation suite file is missing, malformed or names an unknown expectation."""

    exit_code = 10


class ValidationFailedError(DhubError):
    """A dataset version failed its expectation suite; ``failures`` lists each expectation
    that failed with its column and unexpected examples."""

    exit_code = 11

    def __init__(self, message: str, failures: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.failures = failures


class QuarantinedError(DhubError):
    """A named alias points at a quarantined version: nothing downstream may use it."""

    exit_code = 12


class DriftError(DhubError):
    """Two versions' distributions differ beyond the failing thresholds."""

    exit_code = 13

    def __init__(self, message: str, columns: list[str]) -> None:
        super().__init__(message)
        self.columns = columns


class QueryError(DhubError, ValueError):
    """A SQL transform is not one read-only SELECT over ``ds('<key>')`` datasets."""

    exit_code = 20


class TransformError(DhubError):
    """A transformation's own code failed; its run is recorded as failed, nothing committed."""

    exit_code = 21


class InvalidOptionError(DhubError, ValueError):
    """An option has a value outside the ones it accepts (e.g. ``on_failure``)."""

    exit_code = 2


class TrainingInputError(DhubError, ValueError):
    """Training data or settings are unusable: unknown target or feature column,
    non-numeric features without a pipeline, an unknown metric, estimator or task."""

    exit_code = 23


class TrainingFunctionError(DhubError):
    """The training entrypoint cannot be loaded, raised, or returned no fitted model."""

    exit_code = 24


class TrackingError(DhubError):
    """The MLflow tracking server or model registry is unreachable or refused a call."""

    exit_code = 25


class InferenceError(DhubError, ValueError):
    """An inference request the model server refuses; ``status`` is its HTTP status
    (400 bad shape/datatype/body, 404 unknown model or version, 413 too large)."""

    exit_code = 26

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ServingSpecError(DhubError, ValueError):
    """A serving or deployment spec (pipeline, service YAML, model reference) is malformed."""

    exit_code = 27


class DeploymentError(DhubError):
    """A service could not be started, rolled out, rolled back or stopped."""

    exit_code = 28


class NotebookError(DhubError):
    """A notebook run as a step failed: a cell raised or timed out, or the kernel died.

    ``cell_index`` is the failing cell's position in the executed notebook (``None`` when
    no cell was running), ``ename``/``evalue`` the exception it raised, ``output_path``
    where the executed notebook was saved for inspection."""

    exit_code = 29

    def __init__(
        self,
        message: str,
        *,
        cell_index: int | None = None,
        ename: str | None = None,
        evalue: str | None = None,
        output_path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.output_path = output_path


class UnreadableTableError(InvalidSourceError):
    """A table would not read back as given (pyarrow, DuckDB, pandas): a duplicate, empty,
    over-long or control-character column name, text that is not valid UTF-8, a NUL in a
    text format. Refused before anything is stored."""


class PermissionDeniedError(DhubError):
    """The user may not do this in this project: no grant of the needed level
    (HTTP 403, SQL state 42501)."""

    exit_code = 30


class AuthenticationError(DhubError):
    """No identity, or one that cannot be believed: a missing, malformed, forged or
    expired token (HTTP 401, SQL state 28P01)."""

    exit_code = 31


class DataRequestError(DhubError, ValueError):
    """A data-service request refused before any row is read: a malformed filter, select,
    order or cursor, an unknown column, a limit too large. ``status`` is its HTTP status,
    ``code`` its PostgREST-style error code."""

    exit_code = 40

    def __init__(self, message: str, status: int = 400, code: str = "PGRST100") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
