"""Loading a definition set: the Feast objects in a folder of Python files, checked.

Each file runs in a fresh namespace (``runpy``), never through ``sys.modules``, so two
folders with files of the same name (two projects, two tests) cannot see each other's
objects. Objects are collected the way ``feast apply`` collects them (every module-level
Entity, FileSource, FeatureView and FeatureService); the set's digest is over the files'
bytes, so the same commit of ``dags/features/`` always has the same digest.
"""

from __future__ import annotations

import hashlib
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitalhub_airflow.features.errors import FeatureDefinitionError

#: A ``FileSource`` whose path starts with this names a catalog dataset.
STORE_SCHEME = "store://"


@dataclass
class Definitions:
    """One definition set: Feast objects by kind, and the digest of its files."""

    folder: Path
    digest: str
    entities: list[Any] = field(default_factory=list)
    sources: list[Any] = field(default_factory=list)
    views: list[Any] = field(default_factory=list)
    services: list[Any] = field(default_factory=list)

    @property
    def objects(self) -> list[Any]:
        """Everything to register, in the order Feast applies it."""
        return [*self.entities, *self.sources, *self.views, *self.services]

    def summary(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "digest": self.digest,
            "entities": sorted(e.name for e in self.entities),
            "feature_views": sorted(v.name for v in self.views),
            "feature_services": sorted(s.name for s in self.services),
        }


def definition_files(folder: Path) -> list[Path]:
    """The definition files: every ``*.py`` below ``folder`` but ``__init__`` and
    private (``_*``) ones, in a stable order."""
    return sorted(
        p
        for p in folder.rglob("*.py")
        if p.name != "__init__.py" and not p.name.startswith("_") and "__pycache__" not in p.parts
    )


def files_digest(folder: Path, files: list[Path]) -> str:
    hasher = hashlib.sha256()
    for path in files:
        hasher.update(path.relative_to(folder).as_posix().encode() + b"\x00")
        hasher.update(path.read_bytes() + b"\x00")
    return hasher.hexdigest()


def load_definitions(folder: str | Path) -> Definitions:
    """The definition set in ``folder``; a file that fails to run, a duplicate name or a
    feature view whose source is not a catalog dataset is refused."""
    from feast import Entity, FeatureService, FeatureView, FileSource

    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise FeatureDefinitionError(f"feature definitions folder {root} does not exist")
    files = definition_files(root)
    if not files:
        raise FeatureDefinitionError(f"no feature definition files (*.py) in {root}")
    found = Definitions(root, files_digest(root, files))
    kinds: list[tuple[type, list[Any]]] = [
        (Entity, found.entities),
        (FileSource, found.sources),
        (FeatureView, found.views),
        (FeatureService, found.services),
    ]
    for path in files:
        try:
            namespace = runpy.run_path(str(path), run_name=f"dhub_features_{path.stem}")
        except Exception as exc:
            raise FeatureDefinitionError(f"{path.name}: {type(exc).__name__}: {exc}") from exc
        for value in namespace.values():
            for kind, bucket in kinds:
                if isinstance(value, kind) and not any(value is seen for seen in bucket):
                    bucket.append(value)
    for view in found.views:
        source = view.batch_source
        if not any(source is s for s in found.sources):
            found.sources.append(source)
    check_names(found)
    return found


def check_names(found: Definitions) -> None:
    """Unique names per kind, at least one feature view, every source a catalog key."""
    if not found.views:
        raise FeatureDefinitionError(f"no FeatureView in {found.folder}")
    for label, objects in (
        ("entity", found.entities),
        ("data source", found.sources),
        ("feature view", found.views),
        ("feature service", found.services),
    ):
        names = [o.name for o in objects]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise FeatureDefinitionError(f"{label} name defined twice: {', '.join(twice)}")
    for source in found.sources:
        if not str(getattr(source, "path", "")).startswith(STORE_SCHEME):
            raise FeatureDefinitionError(
                f"data source {source.name!r} must name a catalog dataset "
                f"(FileSource(path='store://…')), not {getattr(source, 'path', source)!r}"
            )
