"""The distribution ships every package: a folder with an ``__init__.py`` that is not
listed in pyproject's ``packages`` works in the editable install and is missing from the
wheel (so from the image)."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from the lock
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_in_the_distribution() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for name, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            if (
                name == "digitalhub_airflow"
                and parts
                and parts[0] in {Path(f).name for f in config["package-dir"].values() if f != name}
            ):
                continue
            found.add(".".join((name, *parts)))
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert {"digitalhub_airflow.sdk", "digitalhub_airflow.operators"} <= found
