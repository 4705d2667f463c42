"""The catalog's REST API and pages on both backends, through FastAPI's TestClient.

Real catalog (SQLite or PostgreSQL), real store (folder or S3), real Airflow JWTs.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from digitalhub_airflow.catalog.models import AliasEvent
from digitalhub_airflow.datasets.versions import QUARANTINED
from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.quality.state import set_state
from tests.ui_testlib import CLEAN, PRODUCER, WINE, CatalogClient, Sample, open_catalog, populate

API = "/dhub/api/v1"
WINE_API = f"{API}/datasets/demo/table/wine"


@pytest.fixture
def sample(hub, tmp_path: Path) -> Sample:
    return populate(hub, tmp_path / "data")


@pytest.fixture
def api(hub, sample: Sample) -> Iterator[CatalogClient]:
    with open_catalog(hub) as client:
        yield client


def test_projects_datasets_and_dataset_summary(api: CatalogClient, sample: Sample) -> None:
    projects = api.ok(f"{API}/projects")
    assert projects["items"] == [
        {
            "name": "demo",
            "key": "store://demo",
            "created_at": projects["items"][0]["created_at"],
            "datasets": 2,
        }
    ]
    datetime.fromisoformat(projects["items"][0]["created_at"])

    datasets = api.ok(f"{API}/projects/demo/datasets")["items"]
    assert [d["key"] for d in datasets] == [CLEAN, WINE]
    wine = datasets[1]
    assert wine["versions"] == 3
    assert wine["latest"]["key"] == sample.wine[2] and wine["latest"]["row_count"] == 3

    summary = api.ok(WINE_API)
    assert {a["alias"]: a["seq"] for a in summary["aliases"]} == {"latest": 3, "prod": 2}


def test_versions_are_paginated_newest_first_and_filtered(
    api: CatalogClient, sample: Sample
) -> None:
    first = api.ok(f"{WINE_API}/versions?limit=2")
    assert [v["seq"] for v in first["items"]] == [3, 2]
    assert first["total"] == 3 and first["next_before_seq"] == 2
    assert first["items"][0]["producer"]["task_id"] == "load_3"
    assert first["items"][1]["parent"] == f"{WINE}:v1"
    assert first["items"][1]["aliases"] == ["prod"]
    rest = api.ok(f"{WINE_API}/versions?limit=2&before_seq=2")
    assert [v["seq"] for v in rest["items"]] == [1] and rest["next_before_seq"] is None

    assert [v["seq"] for v in api.ok(f"{WINE_API}/versions?alias=prod")["items"]] == [2]
    created = [datetime.fromisoformat(v["created_at"]) for v in first["items"]]
    after = created[1].isoformat().replace("+00:00", "Z")
    newer = api.ok(f"{WINE_API}/versions", params={"created_after": after})
    assert [v["seq"] for v in newer["items"]] == [3, 2]
    assert api.ok(f"{WINE_API}/versions?quality=passed")["total"] == 0
    assert api.ok(f"{WINE_API}/versions?quality=none")["total"] == 3


def test_version_detail_schema_files_diff_and_preview(api: CatalogClient, sample: Sample) -> None:
    detail = api.ok(f"{WINE_API}/versions/v2")
    assert detail["key"] == sample.wine[1]
    assert [c["name"] for c in detail["schema"]] == ["id", "name", "score"]
    assert detail["parent_diff"]["schema"]["added"] == [{"name": "score", "type": "double"}]
    assert detail["parent_diff"]["rows"] == {"a": 2, "b": 2}
    assert detail["files"][0]["location"].endswith(detail["files"][0]["digest"])
    assert detail["validation"] == []
    by_id = api.ok(f"{WINE_API}/versions/{detail['version_id'][:12]}")
    assert by_id["key"] == detail["key"]
    assert api.ok(f"{WINE_API}/versions/@prod")["key"] == detail["key"]

    preview = api.ok(f"{WINE_API}/versions/v3/preview?rows=2")
    assert preview["columns"] == ["id", "name", "score"]
    assert preview["rows"] == [[1, "alpha", 0.5], [2, "beta", 1.5]]
    assert preview["verified"] is True


def test_lineage_and_produced_by(api: CatalogClient, sample: Sample) -> None:
    graph = api.ok(f"{API}/datasets/demo/table/clean/versions/v1/lineage?direction=upstream")
    assert graph["root"] == sample.clean
    assert {n["key"] for n in graph["nodes"]} == {sample.clean, sample.run, sample.wine[2]}
    assert {(e["source"], e["relation"], e["target"]) for e in graph["edges"]} == {
        (sample.clean, "produced_by", sample.run),
        (sample.run, "consumes", sample.wine[2]),
    }
    produced = api.ok(f"{API}/produced", params={"dag_id": "ingest", "task_id": "load_2"})
    assert [v["key"] for v in produced["items"]] == [sample.wine[1]]
    everything = api.ok(f"{API}/produced?dag_id=ingest")
    assert len(everything["items"]) == 4


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        (f"{API}/datasets/demo/table/Wine", 400, "uppercase"),
        (f"{API}/datasets/demo/table/nope", 404, "does not exist"),
        (f"{API}/datasets/demo/bogus/wine", 400, "kind"),
        (f"{WINE_API}/versions/v9", 404, "does not exist"),
        (f"{WINE_API}/versions/..passwd", 400, "invalid"),
        (f"{WINE_API}/versions/..%2F..%2Fetc", 404, "Not Found"),
        (f"{WINE_API}/versions?limit=0", 400, "limit"),
        (f"{WINE_API}/versions?quality=great", 400, "quality"),
        (f"{API}/projects/nope/datasets", 403, "needs a read grant"),
        (f"{API}/nothing-here", 404, "Not Found"),
    ],
)
def test_errors_are_json_with_a_message(
    api: CatalogClient, sample: Sample, path: str, status: int, words: str
) -> None:
    response = api.get(path)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]


def test_moving_an_alias_needs_edit_permission_and_records_the_user(
    api: CatalogClient, hub, sample: Sample
) -> None:
    url = f"{WINE_API}/aliases/prod"
    assert api.request("PUT", url, "viewer", json={"version": "v1"}).status_code == 403
    assert hub.resolve(f"{WINE}@prod").key == sample.wine[1]
    moved = api.request("PUT", url, "op", json={"version": "v1"})
    assert moved.status_code == 200 and moved.json()["key"] == sample.wine[0]
    assert hub.resolve(f"{WINE}@prod").key == sample.wine[0]
    with hub.catalog.session() as session:
        last = session.scalars(select(AliasEvent).order_by(AliasEvent.id.desc())).first()
        assert (last.alias, last.actor) == ("prod", "op")
    refused = api.request("PUT", f"{WINE_API}/aliases/latest", "op", json={"version": "v1"})
    assert refused.status_code == 400 and "latest" in refused.json()["detail"]


def test_removing_an_alias_needs_edit_permission_and_is_recorded(
    api: CatalogClient, hub, sample: Sample
) -> None:
    url = f"{WINE_API}/aliases/prod"
    assert api.request("DELETE", url, "viewer").status_code == 403
    assert hub.resolve(f"{WINE}@prod").key == sample.wine[1]
    removed = api.request("DELETE", url, "op")
    assert removed.status_code == 200 and removed.json()["key"] == sample.wine[1]
    with pytest.raises(NotFoundError, match=r"alias @prod of .*wine does not exist"):
        hub.resolve(f"{WINE}@prod")
    with hub.catalog.session() as session:
        last = session.scalars(select(AliasEvent).order_by(AliasEvent.id.desc())).first()
        assert (last.alias, last.version_pk, last.actor) == ("prod", None, "op")
        assert last.previous_version_pk is not None
    again = api.request("DELETE", url, "op")
    assert again.status_code == 404 and "alias @prod of" in again.json()["detail"]
    latest = api.request("DELETE", f"{WINE_API}/aliases/latest", "op")
    assert latest.status_code == 400 and "latest" in latest.json()["detail"]
    assert hub.resolve(WINE).key == sample.wine[2]  # latest untouched


def test_releasing_a_quarantined_version(api: CatalogClient, hub, sample: Sample) -> None:
    url = f"{WINE_API}/versions/v3/release"
    assert api.request("POST", url, "op", json={}).status_code == 409  # not quarantined
    with hub.catalog.session() as session:
        set_state(session, _pk(hub, sample.wine[2]), QUARANTINED, "gx", "failed")
    assert hub.resolve(WINE).seq == 2  # latest skips the quarantined version
    listed = api.ok(f"{WINE_API}/versions?quality=quarantined")
    assert [v["seq"] for v in listed["items"]] == [3]
    assert api.request("POST", url, "viewer", json={}).status_code == 403
    released = api.request("POST", url, "op", json={"reason": "checked by hand"})
    assert released.status_code == 200 and released.json()["quality"] == "released"
    assert hub.resolve(WINE).seq == 3


def _pk(hub, key: str) -> int:
    from digitalhub_airflow.catalog.models import Version

    with hub.catalog.session() as session:
        return session.scalar(
            select(Version.id).where(Version.version_id == key.rsplit(":", maxsplit=1)[-1])
        )


def test_pages_render_every_section(api: CatalogClient, sample: Sample) -> None:
    assert "demo" in api.ok("/dhub/ui/")
    assert 'href="/dhub/ui/datasets/demo/table/wine"' in api.ok("/dhub/ui/projects/demo")
    versions = api.ok("/dhub/ui/datasets/demo/table/wine?limit=2")
    assert "v3" in versions and "v2" in versions and "before_seq=2" in versions
    assert '/dags/ingest/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00/tasks/load_3"' in versions
    page = api.ok("/dhub/ui/datasets/demo/table/wine/versions/v2")
    for section in ("Schema", "Changes from the parent", "Validation", "Profile", "Preview"):
        assert f"<h2>{section}</h2>" in page
    assert "+ column <code>score</code>" in page and "<td>beta</td>" in page
    lineage = api.ok("/dhub/ui/datasets/demo/table/clean/versions/v1/lineage")
    assert lineage.count('<g class="node') == 3
    assert "/dhub/ui/datasets/demo/table/wine/versions/" in lineage  # clickable input
    produced = api.ok("/dhub/ui/produced?dag_id=ingest&task_id=clean")
    assert "demo/dataitem/table/clean" in produced
    css = api.get("/dhub/ui/static/catalog.css")
    assert css.status_code == 200 and "prefers-color-scheme: dark" in css.text
    assert api.get("/dhub/ui/static/..%2F..%2Fplugin.py").status_code == 404
    schema = api.ok(f"{API}/openapi.json")
    assert (
        f"{API.removeprefix('/dhub')}/datasets/{{project}}/{{kind}}/{{name}}/versions"
        in (schema["paths"])
    )


def test_user_strings_are_escaped_and_scripts_forbidden(
    api: CatalogClient, hub, tmp_path: Path
) -> None:
    payload = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    data = tmp_path / "evil.csv"
    data.write_text(f'id,note\n1,"{payload.replace(chr(34), chr(34) * 2)}"\n', encoding="utf-8")
    key = hub.commit("store://demo/dataitem/table/evil", data, message=payload).key
    for url in (
        "/dhub/ui/datasets/demo/table/evil",
        "/dhub/ui/datasets/demo/table/evil/versions/v1",
    ):
        response = api.get(url)
        assert response.status_code == 200
        assert "<script>window" not in response.text and "<img src=x" not in response.text
        assert html.escape(payload, quote=True) in response.text or html.escape(
            payload, quote=False
        ) in response.text.replace("&#34;", '"')
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    detail = api.ok(f"{API}/datasets/demo/table/evil/versions/v1")
    assert detail["message"] == payload and detail["key"] == key


def test_no_secret_in_any_response(api: CatalogClient, backend, sample: Sample) -> None:
    secrets = []
    if backend.services is not None:
        from sqlalchemy.engine import make_url

        secrets = [backend.services.s3_secret_key, backend.services.s3_access_key]
        secrets.append(make_url(backend.services.pg_url).password)
        # Short test passwords (the local PostgreSQL's is "dhub") are words of the app.
        secrets = [s for s in secrets if s and len(s) >= 8]
        assert secrets, "the real backend has long credentials to look for"
    for path in (
        f"{API}/projects",
        f"{API}/projects/demo/datasets",
        f"{WINE_API}",
        f"{WINE_API}/versions",
        f"{WINE_API}/versions/v3",
        f"{WINE_API}/versions/v3/preview",
        f"{API}/produced?dag_id=ingest",
        "/dhub/ui/datasets/demo/table/wine/versions/v3",
        "/dhub/ui/datasets/demo/table/wine",
    ):
        text = api.get(path).text
        for secret in secrets:
            assert secret not in text, f"a secret appears in {path}"
    store = api.ok(f"{WINE_API}/versions/v3")["store"]
    assert "@" not in store and "?" not in store


def test_version_shows_validation_failures_and_profile_histograms(
    api: CatalogClient, hub, sample: Sample, tmp_path: Path
) -> None:
    from digitalhub_airflow.quality.profiles import profile_dataset
    from digitalhub_airflow.quality.validate import validate_dataset

    suite = tmp_path / "wine.json"
    between = {"column": "score", "min_value": 0, "max_value": 2}
    suite.write_text(
        json.dumps(
            {
                "name": "wine",
                "expectations": [{"type": "expect_column_values_to_be_between", "kwargs": between}],
            }
        ),
        encoding="utf-8",
    )
    validate_dataset(hub, sample.wine[2], suite, on_failure="warn")
    profile_dataset(hub, sample.wine[2])

    detail = api.ok(f"{WINE_API}/versions/v3")
    assert detail["quality"] == "warned"
    [result] = detail["validation"]
    [failure] = result["failed_expectations"]
    assert failure["column"] == "score" and failure["unexpected_examples"] == [2.5]
    score = next(c for c in detail["profile"]["columns"] if c["name"] == "score")
    assert sum(score["histogram"]["counts"]) == 3

    listed = api.ok(f"{WINE_API}/versions?quality=warned")
    assert [v["seq"] for v in listed["items"]] == [3]
    page = api.ok("/dhub/ui/datasets/demo/table/wine/versions/v3")
    assert "<code>expect_column_values_to_be_between</code> on <code>score</code>" in page
    assert "<code>2.5</code>" in page
    assert 'aria-label="histogram of score"' in page
    assert page.count('<rect class="bar"') >= 20
    assert 'class="badge q-warned"' in api.ok("/dhub/ui/datasets/demo/table/wine")


def test_models_list_their_metrics_and_training_data_without_credentials(
    api: CatalogClient, hub, sample: Sample
) -> None:
    from digitalhub_airflow.training.model_catalog import ModelRecord, record_model

    key = "store://demo/model/mlflow/wine-clf:0123456789abcdef0123456789abcdef"
    record_model(
        hub,
        ModelRecord(
            key=key,
            project="demo",
            name="wine-clf",
            run_id="0123456789abcdef0123456789abcdef",
            experiment_id="1",
            tracking_uri="http://trainer:tracking-pass-123@mlflow.internal:5000",
            model_uri="runs:/0123456789abcdef0123456789abcdef/model",
            entrypoint="train.py",
            code_digest="c0de",
            cache_key="cafe",
            params={"max_depth": 3},
            metrics={"accuracy": 0.93},
            datasets=[sample.wine[2]],
            target="score",
            task="regression",
            producer={**PRODUCER, "task_id": "train"},
        ),
    )
    [model] = api.ok(f"{API}/projects/demo/models")["items"]
    assert model["key"] == key and model["metrics"] == {"accuracy": 0.93}
    assert model["datasets"] == [sample.wine[2]]
    assert model["tracking_uri"] == "http://mlflow.internal:5000"
    assert 'href="/dhub/ui/models/demo/wine-clf"' in api.ok("/dhub/ui/projects/demo")
    page = api.ok("/dhub/ui/models/demo/wine-clf")
    assert "wine-clf" in page and "accuracy 0.93" in page
    assert "tracking-pass-123" not in page + json.dumps(api.ok(f"{API}/projects/demo/models"))
    assert (
        f'href="/dhub/ui/datasets/demo/table/wine/versions/{sample.wine[2].split(":")[-1]}"' in page
    )
