"""Global keys: ``store://<project>/<entity-type>/<kind>/<name>[:<version>|@<alias>]``.

One grammar for every entity, so a key read from a log, a lineage event or an Asset URI
always names the same thing. Names are strict: they end up in object-store paths and
URLs, so anything that could traverse, collide by case or overflow is refused here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from digitalhub_airflow.errors import InvalidKeyError

SCHEME = "store://"
NAME_PATTERN = r"[a-z0-9][a-z0-9._-]{0,62}"
VERSION_ID_PATTERN = r"[0-9a-f]{8,64}"
SEQUENCE_PATTERN = r"v[1-9][0-9]{0,17}"

#: Entity types and the kinds each accepts.
ENTITY_KINDS: dict[str, frozenset[str]] = {
    "dataitem": frozenset({"table", "files"}),
    "artifact": frozenset({"file", "files"}),
    "model": frozenset({"mlflow", "sklearn"}),
    "run": frozenset({"airflow", "python", "sql", "notebook"}),
    "service": frozenset({"local", "kubernetes"}),
    "suite": frozenset({"gx"}),
}

_NAME_RE = re.compile(NAME_PATTERN)
_VERSION_RE = re.compile(f"{VERSION_ID_PATTERN}|{SEQUENCE_PATTERN}")


def validate_name(value: str, what: str = "name") -> str:
    """Return ``value`` if it is a valid name, else raise :class:`InvalidKeyError`."""
    if not isinstance(value, str) or not value:
        raise InvalidKeyError(f"{what} must not be empty")
    if _NAME_RE.fullmatch(value) and value not in {".", ".."} and ".." not in value:
        return value
    if len(value) > 63:
        raise InvalidKeyError(
            f"{what} {value[:20]!r}... is {len(value)} characters long; at most 63"
        )
    if value != value.lower():
        raise InvalidKeyError(f"{what} {value!r} has uppercase letters; names are lowercase")
    raise InvalidKeyError(
        f"{what} {value!r} is invalid: use lowercase letters, digits, '.', '_' and '-', "
        "starting with a letter or digit, no '..'"
    )


def validate_version(value: str) -> str:
    """A version is a hex version id (8-64 chars, a prefix is allowed) or ``v<N>``."""
    if not _VERSION_RE.fullmatch(value or ""):
        raise InvalidKeyError(
            f"version {value!r} is invalid: expected a hex version id or a sequence like 'v3'"
        )
    return value


@dataclass(frozen=True)
class Key:
    """A parsed global key. ``version`` and ``alias`` are mutually exclusive."""

    project: str
    entity_type: str | None = None
    kind: str | None = None
    name: str | None = None
    version: str | None = None
    alias: str | None = None

    def __post_init__(self) -> None:
        validate_name(self.project, "project")
        parts = (self.entity_type, self.kind, self.name)
        if any(p is None for p in parts) and any(p is not None for p in parts):
            raise InvalidKeyError("a key names a project alone or type, kind and name together")
        if self.entity_type is not None:
            kinds = ENTITY_KINDS.get(self.entity_type)
            if kinds is None:
                raise InvalidKeyError(
                    f"entity type {self.entity_type!r} is unknown; one of {sorted(ENTITY_KINDS)}"
                )
            if self.kind not in kinds:
                raise InvalidKeyError(
                    f"kind {self.kind!r} is not valid for {self.entity_type}; "
                    f"one of {sorted(kinds)}"
                )
            validate_name(self.name or "", "name")
        if self.version is not None and self.alias is not None:
            raise InvalidKeyError("a key has either a version or an alias, not both")
        if (self.version is not None or self.alias is not None) and self.name is None:
            raise InvalidKeyError("a project key has no version or alias")
        if self.version is not None:
            validate_version(self.version)
        if self.alias is not None:
            validate_name(self.alias, "alias")

    @property
    def is_project(self) -> bool:
        return self.name is None

    @property
    def sequence(self) -> int | None:
        """The sequence number when the version is ``v<N>``."""
        if self.version and self.version.startswith("v"):
            return int(self.version[1:])
        return None

    def unversioned(self) -> Key:
        """The key without version or alias: the dataset itself and its Asset URI."""
        return replace(self, version=None, alias=None)

    def with_version(self, version: str) -> Key:
        return replace(self, version=version, alias=None)

    def __str__(self) -> str:
        if self.is_project:
            return f"{SCHEME}{self.project}"
        text = f"{SCHEME}{self.project}/{self.entity_type}/{self.kind}/{self.name}"
        if self.version is not None:
            text += f":{self.version}"
        elif self.alias is not None:
            text += f"@{self.alias}"
        return text


def parse_key(text: str) -> Key:
    """Parse a key, refusing anything that does not follow the grammar exactly."""
    if not isinstance(text, str) or not text.startswith(SCHEME):
        raise InvalidKeyError(f"key {text!r} must start with {SCHEME!r}")
    body = text[len(SCHEME) :]
    segments = body.split("/")
    if len(segments) == 1:
        return Key(project=segments[0])
    if len(segments) != 4:
        raise InvalidKeyError(
            f"key {text!r} must be store://<project> or store://<project>/<type>/<kind>/<name>"
        )
    project, entity_type, kind, last = segments
    version = alias = None
    if "@" in last and ":" in last:
        raise InvalidKeyError(f"key {text!r} has both a version and an alias; give one")
    if "@" in last:
        last, alias = last.split("@", 1)
    elif ":" in last:
        last, version = last.split(":", 1)
    return Key(project, entity_type, kind, last, version, alias)


def dataset_key(project: str, name: str, kind: str = "table") -> Key:
    """The key of a data item, checking each part."""
    return Key(project=project, entity_type="dataitem", kind=kind, name=name)


def as_key(key: str | Key) -> Key:
    return key if isinstance(key, Key) else parse_key(key)


def as_dataset_key(target: str | Key, kind: str | None = None) -> Key:
    """A dataset key from a full key or the CLI's short ``<project>/<name>`` form."""
    if isinstance(target, Key):
        if target.entity_type != "dataitem":
            raise InvalidKeyError(f"{target} is not a data item key")
        return target
    if target.startswith(SCHEME):
        key = parse_key(target)
        if key.entity_type != "dataitem":
            raise InvalidKeyError(f"{target} is not a data item key (store://<p>/dataitem/...)")
        if key.version or key.alias:
            raise InvalidKeyError(f"use the dataset {key.unversioned()}, not a version or alias")
        return key
    project, sep, name = target.partition("/")
    if not sep or "/" in name:
        raise InvalidKeyError(f"{target!r} must be <project>/<name> or a store:// key")
    return dataset_key(project, name, kind or "table")
