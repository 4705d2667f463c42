"""Models, services, search, actions and project scoping of the catalog app, both backends.

Real catalog and store, real Airflow JWTs (viewer reads, op acts), the same
catalog rows training, the champion gate and deployments write.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from digitalhub_airflow.access.permissions import grant
from digitalhub_airflow.catalog.models import utcnow
from digitalhub_airflow.datasets.versions import QUARANTINED
from digitalhub_airflow.lineage.runs import SUCCESS, RunOutcome, RunSpec, record_run
from digitalhub_airflow.quality.state import set_state
from tests.ui_testlib import (
    REQUESTS,
    WINE,
    CatalogClient,
    Sample,
    open_catalog,
    populate,
    populate_ml,
)

API = "/dhub/api/v1"


@pytest.fixture
def sample(hub, tmp_path: Path) -> Sample:
    sample = populate(hub, tmp_path / "data")
    populate_ml(hub, sample)
    return sample


@pytest.fixture
def api(hub, sample: Sample) -> Iterator[CatalogClient]:
    with open_catalog(hub) as client:
        yield client


def quarantine(hub, seq: int) -> None:
    from sqlalchemy import select

    from digitalhub_airflow.catalog.models import Version

    with hub.catalog.session() as session:
        pk = session.scalar(select(Version.id).where(Version.seq == seq, Version.kind == "table"))
        set_state(session, pk, QUARANTINED, "tester", "failed validation")


def test_a_model_is_one_entry_with_its_versions_champion_data_and_gate(
    api: CatalogClient, sample: Sample
) -> None:
    [model] = api.ok(f"{API}/projects/demo/registered-models")["items"]
    assert model["name"] == "wine-clf" and model["champion"] == "2"
    assert [v["version"] for v in model["versions"]] == ["2", "1"]
    v2 = model["versions"][0]
    assert v2["aliases"] == ["champion"] and model["versions"][1]["aliases"] == []
    assert v2["run"]["metrics"] == {"accuracy": 0.9} and v2["run"]["params"] == {"max_depth": 5}
    assert v2["run"]["trained_on"] == [sample.wine[1]] and v2["evaluated_on"] == [sample.wine[2]]
    assert v2["run"]["mlflow"]["run"] == "http://mlflow.internal:5000/#/experiments/7/runs/" + (
        "02" * 16
    )
    assert v2["registry"] == "http://mlflow.internal:5000/#/models/demo.wine-clf/versions/2"
    gate = model["gates"][0]  # newest first
    assert gate["promoted"] and gate["champion_version"] == "1"
    assert gate["delta"] == pytest.approx(0.12)
    assert [r["run_id"] for r in model["runs"]] == ["03" * 16]  # the unregistered candidate
    assert model["run_count"] == 3
    page = api.ok("/dhub/ui/models/demo/wine-clf")
    assert 'class="badge champion">@champion' in page and "+0.12" in page
    assert "max_depth=5" in page and "Promote through the gate" in page
    assert "tracking-pass-123" not in page
    project = api.ok("/dhub/ui/projects/demo")
    assert project.count('href="/dhub/ui/models/demo/wine-clf"') == 1  # not one row per run


def test_a_service_shows_state_models_specs_history_stats_and_drift(
    api: CatalogClient, hub, sample: Sample
) -> None:
    import pyarrow as pa

    from digitalhub_airflow.serving.deploy.services import set_stats
    from digitalhub_airflow.serving.monitoring.drift import parse_window, serving_drift

    now = datetime.now(timezone.utc)
    for batch in range(2):
        n = 3 + batch
        hub.commit(
            REQUESTS,
            pa.table(
                {
                    "ts": pa.array(
                        [now - timedelta(seconds=i) for i in range(n)], pa.timestamp("us", "UTC")
                    ),
                    "request_id": pa.array([f"r{batch}{i}" for i in range(n)]),
                    "score": pa.array([9.0 + i for i in range(n)]),
                    "prediction": pa.array([1.0] * n),
                }
            ),
        )
    serving_drift(hub, REQUESTS, parse_window("1h"), reference=sample.wine[2], min_rows=1)
    set_stats(
        hub, "demo", "local", "wine",
        {"read_at": now.isoformat(), "requests": 40, "errors": 2, "error_rate": 0.05,
         "latency_seconds": {"p50": 0.01, "p95": 0.04, "p99": 0.2}},
    )  # fmt: skip
    found = api.ok(f"{API}/services/demo/local/wine")
    assert found["state"] == "running" and found["models"]["wine"]["version"] == "2"
    assert found["previous_spec"]["models"] == {"wine": "models:/demo.wine-clf/1"}
    assert [e["state"] for e in found["history"]] == ["running", "deploying"] * 2
    assert [p["rows"] for p in found["traffic"]] == [3, 4]
    [report] = found["drift"]
    assert report["status"] == "fail" and report["thresholds"]["psi_warn"] == 0.1
    assert [(c["name"], c["metric"]) for c in report["columns"]] == [("score", "psi")]
    assert [s["name"] for s in api.ok(f"{API}/services")["items"]] == ["wine"]
    page = api.ok("/dhub/ui/services/demo/local/wine")
    for text in ("Undeploy", "Roll back", "0.04", "psi", "models:/demo.wine-clf/1", "polyline"):
        assert text in page, text
    assert "wine" in api.ok("/dhub/ui/services")

    url = f"{API}/services/demo/local/wine/undeploy"
    assert api.request("POST", url, as_user="viewer").status_code == 403
    stopped = api.request("POST", url, as_user="op")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["state"] == "stopped" and stopped.json()["updated_by"] == "op"
    latest = api.ok(f"{API}/services/demo/local/wine")["history"][0]
    assert (latest["state"], latest["actor"]) == ("stopped", "op")


def test_latest_is_the_newest_usable_version_in_every_view(
    api: CatalogClient, hub, sample: Sample
) -> None:
    quarantine(hub, 3)
    summary = api.ok(f"{API}/datasets/demo/table/wine")
    latest = next(a for a in summary["aliases"] if a["alias"] == "latest")
    assert (latest["seq"], latest["newest_seq"]) == (2, 3)
    versions = api.ok(f"{API}/datasets/demo/table/wine/versions")["items"]
    assert {v["seq"]: v["aliases"] for v in versions} == {3: [], 2: ["latest", "prod"], 1: []}
    assert versions[0]["quality"] == "quarantined"
    [wine] = [d for d in api.ok(f"{API}/projects/demo/datasets")["items"] if d["name"] == "wine"]
    assert wine["latest"]["seq"] == 2
    assert hub.resolve(WINE).seq == 2  # SQL, the SDK and `dhub show` resolve through this
    assert [v.aliases for v in hub.log(WINE)] == [[], ["latest", "prod"], []]  # `dhub log`
    page = api.ok("/dhub/ui/datasets/demo/table/wine")
    assert "@latest → v2" in page and "v3 quarantined" in page


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def test_page_actions_need_the_role_the_csrf_token_and_a_write_grant(
    api: CatalogClient, hub, sample: Sample
) -> None:
    quarantine(hub, 3)
    client, cookies = api.client, {"_token": api.tokens["op"]}
    page = client.get("/dhub/ui/datasets/demo/table/wine/versions/v3", cookies=cookies)
    assert "Release this quarantined version" in page.text
    form = {"key": sample.wine[2], "reason": "reviewed", "csrf": csrf_of(page.text)}
    release = "/dhub/ui/actions/release"
    forged = client.post(release, data={**form, "csrf": "0" * 64}, cookies=cookies)
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert 'rel="stylesheet"' in forged.text  # a styled error page
    other_site = client.post(
        release, data=form, cookies=cookies, headers={"Origin": "https://evil.example"}
    )
    assert other_site.status_code == 403
    viewer_cookies = {"_token": api.tokens["viewer"]}
    viewer_page = client.get(
        "/dhub/ui/datasets/demo/table/wine/versions/v3", cookies=viewer_cookies
    )
    viewer_form = {**form, "csrf": csrf_of(viewer_page.text)}
    assert client.post(release, data=viewer_form, cookies=viewer_cookies).status_code == 403
    done = client.post(release, data=form, cookies=cookies, follow_redirects=False)
    assert done.status_code == 303 and "released" in done.headers["location"]
    assert hub.resolve(f"{WINE}:v3").quality == "released"
    assert hub.resolve(WINE).seq == 3  # released: latest again

    grant(hub.catalog, "demo", "user:op", "read", by="tests")  # op, but no write grant
    moved = api.request(
        "PUT", f"{API}/datasets/demo/table/wine/aliases/prod", as_user="op", json={"version": "v1"}
    )
    assert moved.status_code == 403 and "write" in moved.json()["detail"]


def test_a_user_of_one_project_cannot_see_another_until_granted(
    api: CatalogClient, hub, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("id,salary\n1,100\n", encoding="utf-8")
    payroll = hub.commit("store://other/dataitem/table/payroll", secret).key
    report = tmp_path / "report.csv"
    report.write_text("total\n100\n", encoding="utf-8")
    made = hub.commit("store://demo/dataitem/table/report", report).key
    with hub.catalog.session() as session:  # demo's report was made from other's payroll
        spec = RunSpec("demo", "report", "0123abcd", dag_id="d", task_id="report")
        record_run(session, spec, RunOutcome(SUCCESS, [payroll], [made]), utcnow())
    lineage = api.ok(f"{API}/datasets/demo/table/report/versions/v1/lineage")
    assert lineage["hidden"] == 1 and all("other" not in n["key"] for n in lineage["nodes"])
    assert [p["name"] for p in api.ok(f"{API}/projects")["items"]] == ["demo"]
    denied = api.get(f"{API}/datasets/other/table/payroll")
    assert denied.status_code == 403 and "other" in denied.json()["detail"]
    assert api.get(f"{API}/projects/other/datasets").status_code == 403
    page = api.get("/dhub/ui/datasets/other/table/payroll/versions/v1")
    assert page.status_code == 403 and 'rel="stylesheet"' in page.text
    assert api.ok(f"{API}/search?q=salary")["items"] == []
    assert "payroll" not in api.ok("/dhub/ui/")
    grant(hub.catalog, "other", "user:viewer", "read", by="tests")
    assert [p["name"] for p in api.ok(f"{API}/projects")["items"]] == ["demo", "other"]
    assert api.ok(f"{API}/datasets/other/table/payroll")["versions"] == 1
    assert api.ok(f"{API}/datasets/demo/table/report/versions/v1/lineage")["hidden"] == 0
    [column] = api.ok(f"{API}/search?q=salary")["items"]
    assert (column["type"], column["dataset"]) == ("column", "payroll")


def test_search_finds_every_kind_of_thing(api: CatalogClient, sample: Sample) -> None:
    found = api.ok(f"{API}/search?q=WIN")["items"]
    kinds = {(i["type"], i["name"]) for i in found}
    assert {("dataset", "wine"), ("model", "wine-clf"), ("service", "wine")} <= kinds
    assert ("column", "score") in {
        (i["type"], i["name"]) for i in api.ok(f"{API}/search?q=sco")["items"]
    }
    assert [i["name"] for i in api.ok(f"{API}/search?q=pro")["items"] if i["type"] == "alias"] == [
        "@prod"
    ]
    assert api.ok(f"{API}/search?q=%25")["items"] == []  # a wildcard is a plain character
    page = api.ok("/dhub/ui/search?q=score")
    assert "column of wine" in page and 'value="score"' in page


def test_the_sign_in_page_is_styled(api: CatalogClient) -> None:
    page = api.get("/dhub/ui/", as_user=None)
    assert page.status_code == 401 and 'href="/dhub/ui/static/catalog.css"' in page.text
    css = api.get("/dhub/ui/static/catalog.css", as_user=None)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_a_sql_transform_s_columns_are_traced_to_its_input_columns(
    api: CatalogClient, hub, sample: Sample
) -> None:
    from digitalhub_airflow.lineage.runs import RunSpec as Spec
    from digitalhub_airflow.transforms.transform import Transform, run_transform

    query = (
        f"SELECT w.name, w.score * 2 AS doubled, c.score AS clean_score, 1 AS one "
        f"FROM ds('{WINE}:v2') w JOIN ds('store://demo/dataitem/table/clean') c ON w.id = c.id"
    )
    out = "store://demo/dataitem/table/joined"
    made = run_transform(
        hub, Transform(output=out, kind="sql", query=query), Spec("demo", "j", "ab" * 8)
    )
    found = api.ok(f"{API}/datasets/demo/table/joined/versions/v1/column-lineage")
    fields = {
        c: [(i["name"], i["field"]) for i in f["inputFields"]] for c, f in found["fields"].items()
    }
    assert fields == {
        "name": [(sample.wine[1], "name")],
        "doubled": [(sample.wine[1], "score")],
        "clean_score": [(sample.clean, "score")],
        "one": [],
    }
    assert found["run"] == made.run
    assert api.ok(f"{API}/datasets/demo/table/wine/versions/v2/column-lineage")["fields"] is None
    page = api.ok("/dhub/ui/datasets/demo/table/joined/versions/v1")
    assert "Column lineage" in page and ">wine.score</a>" in page


def test_search_answers_from_its_index_and_sees_each_write(
    api: CatalogClient, hub, tmp_path: Path
) -> None:
    from sqlalchemy import text

    from digitalhub_airflow.browse.search import matching
    from digitalhub_airflow.browse.search_index import refresh
    from digitalhub_airflow.catalog.engine import catalog_schema

    api.ok(f"{API}/search?q=wine")
    assert refresh(hub) == []  # nothing written since: nothing rebuilt
    prices = tmp_path / "prices.csv"
    prices.write_text("grape_variety,price\nmerlot,3\n", encoding="utf-8")
    hub.commit("store://demo/dataitem/table/vintage-prices", prices)
    rebuilt = refresh(hub)
    assert "datasets" in rebuilt and "models" not in rebuilt and "services" not in rebuilt
    [column] = api.ok(f"{API}/search?q=VAR grape")["items"]  # every word, as prefixes
    assert (column["type"], column["name"], column["dataset"]) == (
        "column",
        "grape_variety",
        "vintage-prices",
    )
    assert [i["name"] for i in api.ok(f"{API}/search?q=vint")["items"]] == ["vintage-prices"]
    assert api.ok(f"{API}/search?q=merlot")["items"] == []  # values are not indexed
    with hub.catalog.session() as session:
        bind = session.get_bind()
        query = matching(bind.dialect.name, "column", ["grape"], {"demo"})
        sql = str(query.compile(dialect=bind.dialect, compile_kwargs={"literal_binds": True}))
        if bind.dialect.name == "postgresql":  # the GIN index, even on a tiny table
            session.execute(text("SET LOCAL enable_seqscan = off"))
            session.execute(
                text(f'SET LOCAL search_path TO "{catalog_schema(hub.catalog.engine)}"')
            )
            plan = "\n".join(session.execute(text(f"EXPLAIN {sql}")).scalars())
            assert "ix_dhub_search_entries_words_tsv" in plan, plan
        else:  # a word-prefix range on the terms' primary key
            plan = "\n".join(str(r[-1]) for r in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            assert "dhub_search_terms USING" in plan and "term>? AND term<?" in plan, plan


def test_a_run_in_the_lineage_graph_opens_the_versions_it_produced(
    api: CatalogClient, sample: Sample
) -> None:
    graph = api.ok("/dhub/ui/datasets/demo/table/clean/versions/v1/lineage")
    run_id = sample.run.rsplit(":", 1)[1]
    page_url = f"/dhub/ui/runs/demo/airflow/clean/{run_id}"
    assert f'href="{page_url}"' in graph
    run = api.ok(f"{API}/runs/demo/airflow/clean/{run_id}")
    assert [(o["key"], o["label"]) for o in run["outputs"]] == [(sample.clean, "clean v1")]
    assert [i["key"] for i in run["inputs"]] == [sample.wine[2]]
    assert (run["dag_id"], run["task_id"], run["hidden"]) == ("ingest", "clean", 0)
    page = api.ok(page_url)
    assert 'href="/dhub/ui/datasets/demo/table/clean/versions/' in page and "clean v1" in page
    assert "/dags/ingest/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00/tasks/clean" in page
    assert api.get(f"{API}/runs/demo/airflow/Bad Name/{run_id}").status_code == 400


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)  # pages of a stored spec
def test_a_data_service_shows_the_dataset_it_serves(
    api: CatalogClient, hub, sample: Sample
) -> None:
    from digitalhub_airflow.serving.deploy.services import RUNNING, begin_deployment, set_state
    from digitalhub_airflow.serving.deploy.spec import ServiceSpec

    spec = ServiceSpec("demo", "wine-data", "local", {}, kind="data", dataset="demo/wine@prod")
    begin_deployment(hub, spec, {})
    set_state(hub, spec, RUNNING, url="http://127.0.0.1:9/")
    found = api.ok(f"{API}/services/demo/local/wine-data")
    assert (found["kind"], found["dataset"]) == ("data", f"{WINE}@prod")
    assert api.ok(f"{API}/services/demo/local/wine")["kind"] == "model"
    page = api.ok("/dhub/ui/services/demo/local/wine-data")
    assert 'href="/dhub/ui/datasets/demo/table/wine/versions/@prod"' in page
    assert "Pinned models" not in page
    listed = api.ok("/dhub/ui/services")
    assert 'href="/dhub/ui/datasets/demo/table/wine/versions/@prod"' in listed


@pytest.mark.parametrize("backend", ["real"], indirect=True)  # the MLflow server
def test_promote_sends_a_trained_run_through_the_real_champion_gate(hub, tracking) -> None:
    from digitalhub_airflow.training.runner import train_model
    from digitalhub_airflow.training.selection import registered_model_name
    from tests.training_helpers import champion, commit_wine, model_name, request

    name = model_name()
    trained = train_model(
        hub, tracking, request(commit_wine(hub), name, entrypoint="tests.training_helpers:majority")
    )
    body = {"model": trained.model_key, "metric": "accuracy"}
    with open_catalog(hub, tracking_provider=lambda: tracking) as api:
        cookies = {"_token": api.tokens["op"]}
        page = api.client.get(f"/dhub/ui/models/demo/{name}", cookies=cookies).text
        assert "Promote through the gate" in page  # a candidate run, not registered yet
        promoted = api.client.post(
            "/dhub/ui/actions/promote",
            data={**body, "csrf": csrf_of(page)},
            cookies=cookies,
            follow_redirects=False,
        )
        url = f"{API}/models/promote"
        assert api.request("POST", url, as_user="viewer", json=body).status_code == 403
        again = api.request("POST", url, as_user="op", json=body)
        model = api.ok(f"{API}/models/demo/{name}")
    assert promoted.status_code == 303, promoted.text
    assert "no%20%40champion%20yet" in promoted.headers["location"]
    assert again.status_code == 200 and not again.json()["promoted"]
    assert "already" in again.json()["reason"]
    version = model["champion"]
    assert version and champion(tracking, registered_model_name("demo", name)) == version
    assert [(g["promoted"], g["actor"]) for g in model["gates"]] == [(False, "op"), (True, "op")]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)  # three server starts: once
def test_rollback_from_the_api_serves_the_replaced_version_again(
    hub, backend, dhub, tmp_path: Path
) -> None:
    import httpx

    from digitalhub_airflow.serving.deploy.deployer import LocalDeployer, deploy_service, undeploy
    from digitalhub_airflow.serving.deploy.environment import ServerEnvironment
    from digitalhub_airflow.serving.deploy.reconcile import Desired
    from digitalhub_airflow.serving.deploy.spec import ServiceSpec

    versions = []
    for rows in (2, 3):
        path = tmp_path / f"wine{rows}.csv"
        path.write_text("id\n" + "".join(f"{i}\n" for i in range(rows)), encoding="utf-8")
        versions.append(hub.commit(WINE, path).version)
    environment = ServerEnvironment(dhub.env(DHUB_SERVING_API_KEY="ui-rollback-key"), {})
    deployers = {"local": LocalDeployer(lambda: environment, home=backend.home)}
    for seq in (1, 2):  # the second deployment replaces the first
        spec = ServiceSpec(
            "demo", "wine-data", "local", {}, port=0, kind="data", dataset=f"demo/wine:v{seq}"
        )
        deploy_service(hub, deployers["local"], spec, lambda _, s: Desired(s, {}))
    try:
        with open_catalog(hub, deployers_provider=lambda: deployers) as api:
            url = f"{API}/services/demo/local/wine-data/rollback"
            back = api.request("POST", url, as_user="op")
            assert back.status_code == 200, back.text
            shown = api.ok(f"{API}/services/demo/local/wine-data")
        served = httpx.get(
            f"{back.json()['url']}/v1/rows?limit=5",
            headers={"Authorization": "Bearer ui-rollback-key"},
            timeout=30,
        )
    finally:
        stopped = undeploy(hub, deployers, "demo", "local", "wine-data")
    assert (back.json()["state"], back.json()["updated_by"]) == ("rolled_back", "op")
    assert shown["dataset"] == f"{WINE}:v1" and shown["history"][0]["actor"] == "op"
    assert served.headers["etag"] == f'"{versions[0].version_id}"' and len(served.json()) == 2
    assert stopped.state == "stopped"
