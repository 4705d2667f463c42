"""The catalog's search index on SQLite: word-prefix matching, and a search after any kind
of write (a new name, a removed alias, a service's new state, a moved alias) answers as
the catalog is now, rebuilding only the parts of the index whose source changed."""

from __future__ import annotations

from pathlib import Path

from digitalhub_airflow.browse.search import search
from digitalhub_airflow.browse.search_index import refresh, words_of
from digitalhub_airflow.serving.deploy.services import STOPPED, set_state
from digitalhub_airflow.serving.deploy.spec import ServiceSpec
from tests.ui_testlib import WINE, populate, populate_ml
from tests.unit.dhub_testlib import make_hub


def found(hub, text: str, projects=None) -> list[tuple[str, str]]:
    return [(i["type"], i["name"]) for i in search(hub, text, projects)["items"]]


def test_words_are_lowercase_letter_and_digit_runs() -> None:
    assert words_of("Wine-CLF_v2 größe") == ["wine", "clf", "v2", "größe"]
    assert words_of("%_ -") == []


def test_the_index_follows_every_kind_of_write(tmp_path: Path) -> None:
    hub = make_hub(tmp_path / "hub")
    sample = populate(hub, tmp_path / "data")
    populate_ml(hub, sample)
    assert found(hub, "wine clf") == [("model", "wine-clf")]
    assert found(hub, "clf wine") == [("model", "wine-clf")]  # any order
    assert found(hub, "ine") == []  # words match from their start
    assert ("service", "wine") in found(hub, "WI")
    assert found(hub, "wine", projects=set()) == []

    hub.untag(WINE, "prod", actor="tester")
    hub.tag(sample.wine[0], "golden")
    assert refresh(hub) == ["aliases"]
    assert found(hub, "prod") == [] and found(hub, "gold") == [("alias", "@golden")]

    spec = ServiceSpec("demo", "wine", "local", {"wine": "models:/demo.wine-clf/2"})
    set_state(hub, spec, STOPPED)
    [service] = [i for i in search(hub, "wine")["items"] if i["type"] == "service"]
    assert service["state"] == "stopped"
