"""The catalog inside a real Airflow (``airflow standalone``), driven by Debian's Chromium.

A DAG run commits versions (``airflow dags test``), then ``airflow standalone`` serves
the UI with the plugin; Playwright logs in through Airflow's own login page and opens
the Catalog from the navigation, a dataset, a version and its lineage, the DAG run's
"Catalog versions" tab, and a version whose data and message carry HTML/JS payloads.
Screenshots go to ``test-artifacts/ui/``. No browser is downloaded: without Chromium the
test skips locally and fails in CI (``scripts/services/chromium.sh ensure`` installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from digitalhub_airflow.access.permissions import grant
from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store import LocalBlobStore
from tests.conftest import REPO
from tests.e2e.conftest import AirflowEnv, airflow_process, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ARTIFACTS = REPO / "test-artifacts" / "ui"
PASSWORDS = {"admin": "admin-e2e-pass", "viewer": "viewer-e2e-pass"}
PAYLOAD = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    path = (
        os.environ.get("DHUB_TEST_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not path:
        message = "Debian's chromium is not installed: scripts/services/chromium.sh ensure"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI: {message}")
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Standalone:
    url: str
    run_id: str  # of dhub_ingest_wine
    log: Path
    events_key: str  # the version dhub_wait_for_version's CommitDatasetOperator wrote
    events_run_id: str


@pytest.fixture(scope="module")
def standalone(
    airflow: AirflowEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Standalone]:
    root = tmp_path_factory.mktemp("ui")
    dhub_home = root / "dhub"
    evil = root / "evil.csv"
    evil.write_text(f'id,note\n1,"{PAYLOAD.replace(chr(34), chr(34) * 2)}"\n', encoding="utf-8")
    catalog_url = f"sqlite:///{dhub_home / 'catalog.sqlite'}"
    with DataHub(Catalog(catalog_url), LocalBlobStore(dhub_home / "store")) as hub:
        hub.init()
        hub.commit("store://demo/dataitem/table/evil", evil, message=PAYLOAD)
        for subject, level in (("user:viewer", "read"), ("user:admin", "admin")):
            grant(hub.catalog, "demo", subject, level, by="tests")
    # Only the DAGs used here: the test does not depend on every reference DAG parsing.
    dags = root / "dags"
    dags.mkdir()
    for name in ("dhub_ingest_wine.py", "dhub_wait_for_version.py"):
        shutil.copy(airflow.dags / name, dags / name)
    passwords = root / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS), encoding="utf-8")
    port = free_port()
    env = {
        "DHUB_HOME": str(dhub_home),
        "DHUB_CATALOG_URL": catalog_url,
        "DHUB_STORE_URL": str(dhub_home / "store"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "e2e-catalog-secret",
        "AIRFLOW__API__WORKERS": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    airflow.run("dags", "test", "dhub_ingest_wine", env=env)
    events = root / "events.csv"
    events.write_text("id,kind\n1,click\n", encoding="utf-8")
    airflow.run(
        "dags", "test", "dhub_wait_for_version", env={**env, "DHUB_TEST_SOURCE": str(events)}
    )
    with DataHub(Catalog(catalog_url), LocalBlobStore(dhub_home / "store")) as hub:
        run_id = hub.log("store://demo/dataitem/table/wine")[0].producer["run_id"]
        events_version = hub.log("store://demo/dataitem/table/events")[0]

    log = root / "standalone.log"
    child_env = {k: v for k, v in airflow.env(env).items() if k != "DHUB_CATALOG_SCHEMA"}
    url = f"http://127.0.0.1:{port}"
    try:
        with airflow_process(["standalone"], child_env, log) as proc:
            wait_for(f"{url}/api/v2/monitor/health", proc, log)
            wait_for(f"{url}/auth/login", proc, log)
            yield Standalone(
                url, run_id, log, events_version.key, events_version.producer["run_id"]
            )
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, ARTIFACTS / "standalone.log")


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_api_needs_a_token_from_airflow(standalone: Standalone) -> None:
    api = f"{standalone.url}/dhub/api/v1/projects"
    assert http("GET", api)[0] == 401
    status, token = http("POST", f"{standalone.url}/auth/token", login_body("viewer"))
    assert status == 201, token
    status, projects = http("GET", api, token=token["access_token"])
    assert status == 200 and [p["name"] for p in projects["items"]] == ["demo"]
    alias = f"{standalone.url}/dhub/api/v1/datasets/demo/table/wine/aliases/prod"
    assert http("PUT", alias, {"version": "v1"}, token["access_token"])[0] == 403
    status, admin = http("POST", f"{standalone.url}/auth/token", login_body("admin"))
    status, moved = http("PUT", alias, {"version": "v1"}, admin["access_token"])
    assert status == 200 and moved["seq"] == 1
    status, plugins = http("GET", f"{standalone.url}/api/v2/plugins", token=admin["access_token"])
    ours = next(p for p in plugins["plugins"] if p["name"] == "digitalhub")
    assert {v["destination"] for v in ours["external_views"]} == {"nav", "dag_run", "task_instance"}
    assert ours["fastapi_apps"][0]["url_prefix"] == "/dhub"


def test_task_instance_link_opens_the_version_the_operator_wrote(standalone: Standalone) -> None:
    status, login = http("POST", f"{standalone.url}/auth/token", login_body("viewer"))
    run = urllib.parse.quote(standalone.events_run_id, safe="")
    links = (
        f"{standalone.url}/api/v2/dags/dhub_wait_for_version/dagRuns/{run}"
        "/taskInstances/commit/links"
    )
    status, found = http("GET", links, token=login["access_token"])
    assert status == 200, found
    version_id = standalone.events_key.rsplit(":", 1)[1]
    link = found["extra_links"]["Catalog"]
    assert link == f"/dhub/ui/datasets/demo/table/events/versions/{version_id}"
    request = urllib.request.Request(f"{standalone.url}{link}")
    request.add_header("Authorization", f"Bearer {login['access_token']}")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert standalone.events_key in response.read().decode()


def login_body(user: str) -> dict[str, str]:
    return {"username": user, "password": PASSWORDS[user]}


@pytest.fixture(scope="module")
def browser(standalone: Standalone) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def logged_in(browser: Any, standalone: Standalone, user: str, **context: Any) -> Any:
    """A page signed in through Airflow's own login form."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}, **context).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{standalone.url}/auth/login")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(PASSWORDS[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    return page


def catalog_frame(page: Any) -> Any:
    """The catalog inside the Airflow UI's frame (whatever URL Airflow gives the frame)."""
    page.wait_for_selector("iframe")
    frame = page.frame_locator("iframe").first
    frame.locator("nav.crumbs").wait_for()
    return frame


def test_catalog_in_airflow_ui_dataset_version_lineage(
    browser: Any, standalone: Standalone
) -> None:
    page = logged_in(browser, standalone, "viewer")
    page.goto(f"{standalone.url}/")
    page.get_by_role("link", name="Catalog").first.click()
    frame = catalog_frame(page)
    frame.get_by_role("link", name="demo").click()
    frame.get_by_role("link", name="wine", exact=True).wait_for()
    page.screenshot(path=ARTIFACTS / "1-project.png", full_page=True)

    frame.get_by_role("link", name="wine", exact=True).click()
    frame.get_by_text("produced by").first.wait_for()
    rows = frame.locator("tbody tr")
    assert rows.count() == 2
    table = frame.locator("table").inner_text()
    assert "load_wine" in table and "add_alcohol_band" in table
    page.screenshot(path=ARTIFACTS / "2-dataset-versions.png", full_page=True)

    frame.locator("tbody tr").first.locator("a.mono").click()
    frame.get_by_role("heading", name="Preview").wait_for()
    assert frame.locator(".preview tbody tr").count() == 20
    assert "alcohol_band" in frame.locator("h2 + ul").first.inner_text()  # diff to the parent
    page.screenshot(path=ARTIFACTS / "3-version.png", full_page=True)

    frame.get_by_role("link", name="Lineage graph »").click()
    frame.locator("svg.lineage").wait_for()
    assert frame.locator("svg.lineage g.node").count() >= 3  # v2, its run, v1
    page.screenshot(path=ARTIFACTS / "4-lineage.png", full_page=True)
    root = frame.locator("svg.lineage g.node.root")
    before = root.get_attribute("data-key")
    frame.locator("svg.lineage a:has(g.node.dataitem:not(.root))").first.click()
    frame.locator(f"svg.lineage g.node.dataitem:not(.root)[data-key='{before}']").wait_for()
    assert root.get_attribute("data-key") != before  # centred on the input now
    page.screenshot(path=ARTIFACTS / "5-lineage-of-input.png", full_page=True)


def test_dag_run_tab_lists_the_versions_it_produced(browser: Any, standalone: Standalone) -> None:
    page = logged_in(browser, standalone, "viewer")
    run = urllib.parse.quote(standalone.run_id, safe="")
    page.goto(f"{standalone.url}/dags/dhub_ingest_wine/runs/{run}")
    page.get_by_role("tab", name="Catalog versions").or_(
        page.get_by_role("link", name="Catalog versions")
    ).first.click()
    frame = catalog_frame(page)
    frame.locator("tbody tr").nth(1).wait_for()
    assert frame.locator("tbody tr").count() == 2
    page.screenshot(path=ARTIFACTS / "6-dag-run-tab.png", full_page=True)


def test_payloads_are_shown_as_text_and_never_run(browser: Any, standalone: Standalone) -> None:
    page = logged_in(browser, standalone, "admin", color_scheme="dark")
    page.goto(f"{standalone.url}/dhub/ui/datasets/demo/table/evil/versions/v1")
    page.get_by_role("heading", name="Preview").wait_for()
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator(".preview td", has_text="<script>window.__pwned=1</script>").count() == 1
    assert page.get_by_text(PAYLOAD).first.is_visible()  # the message, as text
    assert page.locator("main script, main img").count() == 0
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 20, 24)"  # dark mode
    page.screenshot(path=ARTIFACTS / "7-escaped-payload-dark.png", full_page=True)
    page.goto(f"{standalone.url}/dhub/ui/datasets/demo/table/evil")
    assert page.evaluate("() => window.__pwned") is None
