"""Loading a definition set: the Feast objects of a folder, its digest, and what is
refused before anything reaches a registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from digitalhub_airflow.features.definitions import load_definitions
from digitalhub_airflow.features.errors import FeatureDefinitionError

HEAD = """
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

wine = Entity(name="wine", join_keys=["wine_id"], value_type=ValueType.INT64)
"""
VIEW = """
{var}_source = FileSource(name="{name}_source", path="{path}", timestamp_field="ts")
{var} = FeatureView(
    name="{name}", entities=[wine], ttl=timedelta(days=1), source={var}_source,
    schema=[Field(name="alcohol", dtype=Float64)],
)
"""


def folder_with(tmp_path: Path, *views: tuple[str, str, str], service: bool = True) -> Path:
    folder = tmp_path / "defs"
    folder.mkdir(parents=True, exist_ok=True)
    text = HEAD + "".join(VIEW.format(var=v, name=n, path=p) for v, n, p in views)
    if service and views:
        text += f'service = FeatureService(name="svc", features=[{views[0][0]}])\n'
    (folder / "wine.py").write_text(text, encoding="utf-8")
    return folder


def test_a_folder_gives_its_objects_and_a_digest_of_its_files(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, ("a", "view_a", "store://demo/dataitem/table/wine"))
    (folder / "_private.py").write_text("raise SystemExit('never run')\n")
    found = load_definitions(folder)
    assert [e.name for e in found.entities] == ["wine"]
    assert [v.name for v in found.views] == ["view_a"]
    assert [s.name for s in found.services] == ["svc"]
    assert [s.name for s in found.sources] == ["view_a_source"]
    assert load_definitions(folder).digest == found.digest  # same files, same digest
    (folder / "wine.py").write_text((folder / "wine.py").read_text() + "\n# changed\n")
    assert load_definitions(folder).digest != found.digest


def test_two_folders_with_the_same_file_names_do_not_mix(tmp_path: Path) -> None:
    one = folder_with(tmp_path / "1", ("a", "view_a", "store://demo/dataitem/table/wine"))
    two = folder_with(tmp_path / "2", ("b", "view_b", "store://demo/dataitem/table/wine"))
    assert [v.name for v in load_definitions(one).views] == ["view_a"]
    assert [v.name for v in load_definitions(two).views] == ["view_b"]


@pytest.mark.parametrize(
    ("views", "message"),
    [
        ([("a", "view_a", "/data/wine.parquet")], "must name a catalog dataset"),
        (
            [
                ("a", "same", "store://demo/dataitem/table/wine"),
                ("b", "same", "store://demo/dataitem/table/wine"),
            ],
            "name defined twice: same",
        ),
        ([], "no FeatureView"),
    ],
)
def test_bad_sets_are_refused(
    tmp_path: Path, views: list[tuple[str, str, str]], message: str
) -> None:
    with pytest.raises(FeatureDefinitionError, match=message):
        load_definitions(folder_with(tmp_path, *views))


def test_a_file_that_fails_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "broken.py").write_text("from feast import Nope\n")
    with pytest.raises(FeatureDefinitionError, match=r"broken\.py: ImportError"):
        load_definitions(folder)
    with pytest.raises(FeatureDefinitionError, match="does not exist"):
        load_definitions(tmp_path / "missing")
