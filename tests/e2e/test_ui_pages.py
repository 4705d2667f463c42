"""The catalog's model, service, search and action pages in Debian's Chromium, both roles.

The catalog app runs under uvicorn on a free port (Airflow's own JWT checks, as in the
API server; the full ``airflow standalone`` round trip is test_ui_browser.py's), and
the browser carries Airflow's ``_token`` session cookie of a viewer or an op. Every
page is screenshotted into ``test-artifacts/screenshots/`` and checked with axe-core
(vendored from npm under ``tests/e2e/vendor/axe-core``, MPL-2.0): no serious or
critical violation. A viewer sees the buttons but is refused (403); an op's clicks
change the catalog and are recorded with the op's name.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.test_ui_browser import CHROMIUM_ARGS, chromium
from tests.ui_testlib import (
    REQUESTS,
    WINE,
    Sample,
    airflow_tokens,
    catalog_app,
    populate,
    populate_ml,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SHOTS = REPO / "test-artifacts" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
#: The main pages, by screenshot name.
PAGES = {
    "projects": "/dhub/ui/",
    "project": "/dhub/ui/projects/demo",
    "dataset": "/dhub/ui/datasets/demo/table/wine",
    "version-quarantined": "/dhub/ui/datasets/demo/table/wine/versions/v3",
    "version-wide-preview": "/dhub/ui/datasets/demo/table/wide/versions/v1",
    "lineage": "/dhub/ui/datasets/demo/table/clean/versions/v1/lineage",
    "run": "/dhub/ui/runs/demo/airflow/clean/0123abcd",
    "model": "/dhub/ui/models/demo/wine-clf",
    "services": "/dhub/ui/services",
    "service": "/dhub/ui/services/demo/local/wine",
    "search": "/dhub/ui/search?q=sco",
}


@dataclass
class Served:
    url: str
    hub: Any
    sample: Sample
    tokens: dict[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import uvicorn
    from sqlalchemy import select

    from digitalhub_airflow.catalog.models import Version
    from digitalhub_airflow.datasets.versions import QUARANTINED
    from digitalhub_airflow.quality.state import set_state
    from digitalhub_airflow.serving.deploy.services import set_stats
    from tests.unit.dhub_testlib import make_hub

    root = tmp_path_factory.mktemp("ui-pages")
    with make_hub(root / "hub") as hub:
        sample = populate(hub, root / "data")
        populate_ml(hub, sample)
        wide = root / "wide.csv"
        header = ",".join(f"measurement_{i:02d}" for i in range(30))
        row = ",".join(str(123456789.125 + i) for i in range(30))
        wide.write_text(f"{header}\n{row}\n{row}\n", encoding="utf-8")
        hub.commit("store://demo/dataitem/table/wide", wide)
        for batch in (3, 7, 5):  # three flushed batches of requests: the traffic chart
            log = root / f"requests{batch}.csv"
            log.write_text("request_id,score\n" + "r,1.0\n" * batch, encoding="utf-8")
            hub.commit(REQUESTS, log)
        set_stats(
            hub, "demo", "local", "wine",
            {"read_at": "2026-01-01T00:00:00Z", "requests": 15, "errors": 1, "error_rate": 1 / 15,
             "latency_seconds": {"p50": 0.012, "p95": 0.05, "p99": 0.21}},
        )  # fmt: skip
        with hub.catalog.session() as session:
            v3 = session.scalar(select(Version.id).where(Version.seq == 3, Version.kind == "table"))
            set_state(session, v3, QUARANTINED, "tester", "failed validation")
        tokens = airflow_tokens()
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(catalog_app(hub), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.started, "uvicorn did not start"
        try:
            yield Served(f"http://127.0.0.1:{port}", hub, sample, tokens)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def signed_in(browser: Any, served: Served, user: str, **options: Any) -> Any:
    """A page whose context carries Airflow's session cookie of ``user``."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, **options)
    context.add_cookies([{"name": "_token", "value": served.tokens[user], "url": served.url}])
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def serious_violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))"
    )
    return list(result)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_main_page_renders_and_passes_axe(browser: Any, served: Served, scheme: str) -> None:
    # bypass_csp: only so axe's script can be injected; the app's own CSP is unchanged.
    page = signed_in(browser, served, "viewer", color_scheme=scheme, bypass_csp=True)
    for name, path in PAGES.items():
        response = page.goto(served.url + path)
        assert response.status == 200, (path, response.status)
        page.locator("main h1").first.wait_for()
        page.screenshot(path=SHOTS / f"{name}-{scheme}.png", full_page=True)
        assert serious_violations(page) == [], path


def test_wide_previews_scroll_and_numbers_stay_on_one_line(browser: Any, served: Served) -> None:
    page = signed_in(browser, served, "viewer")
    page.goto(served.url + PAGES["version-wide-preview"])
    box = page.locator(".preview")
    assert box.evaluate("e => e.scrollWidth > e.clientWidth")  # scrolls, not cut
    cell = page.locator(".preview td.num").first
    line = cell.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    assert cell.bounding_box()["height"] < 2 * line + 16  # one line of text + padding
    assert page.locator(".preview td.num", has_text="123456789.125").count() == 2


def test_a_run_in_the_lineage_graph_leads_to_what_it_produced(browser: Any, served: Served) -> None:
    page = signed_in(browser, served, "viewer")
    page.goto(served.url + PAGES["lineage"])
    page.locator("g.node.run").click()
    page.get_by_role("heading", name="Run clean").wait_for()
    assert page.get_by_role("link", name="ingest \u203a clean").count() == 1  # the Airflow task
    page.get_by_role("link", name="clean v1").click()
    page.wait_for_url("**/datasets/demo/table/clean/versions/*")
    assert page.locator("main h1").count() == 1


def test_a_viewer_sees_but_may_not_act(browser: Any, served: Served) -> None:
    page = signed_in(browser, served, "viewer")
    page.goto(served.url + PAGES["service"])
    page.get_by_role("button", name="Undeploy").click()
    page.get_by_text("may not change the catalog").wait_for()
    assert page.locator("main h1").inner_text() == "Error 403"
    page.screenshot(path=SHOTS / "viewer-refused.png", full_page=True)
    page.goto(served.url + PAGES["version-quarantined"])
    page.get_by_role("button", name="Release this quarantined version").click()
    page.get_by_text("may not change the catalog").wait_for()
    assert served.hub.resolve(f"{WINE}:v3").quality == "quarantined"


def test_an_op_releases_moves_an_alias_and_undeploys(browser: Any, served: Served) -> None:
    page = signed_in(browser, served, "op")
    page.goto(served.url + PAGES["version-quarantined"])
    page.get_by_label("reason").fill("reviewed in the browser")
    page.get_by_role("button", name="Release this quarantined version").click()
    page.get_by_role("status").filter(has_text="released v3").wait_for()
    assert served.hub.resolve(WINE).seq == 3  # latest again
    page.goto(served.url + "/dhub/ui/datasets/demo/table/wine/versions/v1")
    page.get_by_label("alias").fill("golden")
    page.get_by_role("button", name="Point the alias here").click()
    page.get_by_role("status").filter(has_text="@golden → v1").wait_for()
    assert served.hub.resolve(f"{WINE}@golden").seq == 1
    page.goto(served.url + PAGES["service"])
    page.get_by_role("button", name="Undeploy").click()
    page.get_by_role("status").filter(has_text="undeploy: stopped").wait_for()
    assert "stopped" in page.locator("main h1").inner_text()
    assert page.locator("svg.spark polyline").count() == 1
    assert page.locator("table").last.locator("tr").nth(1).inner_text().split("\t")[2] == "op"
    page.screenshot(path=SHOTS / "op-after-undeploy.png", full_page=True)
