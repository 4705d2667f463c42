"""Version reports on both backends: ``dhub report`` writes one self-contained HTML file
(profile and validation results, every value escaped, nothing loaded from elsewhere),
and the Catalog downloads the same report behind the project check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from digitalhub_airflow.access import revoke
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.quality.validate import validate_dataset
from digitalhub_airflow.reports.contents import gather
from digitalhub_airflow.reports.html import render
from tests.ui_testlib import open_catalog

ORDERS = "store://demo/dataitem/table/orders"
#: What would make a page load something from elsewhere or run code.
EXTERNAL = re.compile(r"<script|<link|<img|<iframe|src=|url\(|@import", re.IGNORECASE)


def commit_and_validate(hub: DataHub, tmp_path: Path) -> str:
    frame = pd.DataFrame(
        {"amount": [10.5, 250.0, 20.0], "city": ["Trento", "<b>Bolzano</b>", "Zürich"]}
    )
    version = hub.commit(ORDERS, frame).version
    suite = tmp_path / "orders.json"
    expectation = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "amount", "min_value": 0, "max_value": 100},
    }
    suite.write_text(json.dumps({"name": "orders", "expectations": [expectation]}), "utf-8")
    validate_dataset(hub, version.key, suite, on_failure="warn")
    return version.key


def test_the_report_holds_profile_and_results_and_needs_nothing_else(
    hub: DataHub, tmp_path: Path, dhub
) -> None:
    key = commit_and_validate(hub, tmp_path)
    out = tmp_path / "report.html"
    result = dhub.run("report", key, "--output", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["path"] == str(out)
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert not EXTERNAL.search(page)
    # the profile (computed since it was missing) and the failed expectation
    assert "3 rows, 2 columns" in page and "<svg" in page
    assert "expect_column_values_to_be_between" in page and "250" in page
    assert "0 of 1 expectations met" in page and 'class="badge warned"' in page
    # data is text, never markup
    assert "<b>Bolzano</b>" not in page and "&lt;b&gt;Bolzano&lt;/b&gt;" in page


def test_the_catalog_downloads_the_report_of_a_readable_version(
    hub: DataHub, tmp_path: Path
) -> None:
    key = commit_and_validate(hub, tmp_path)
    expected = render(gather(hub, key, profile_missing=False))
    with open_catalog(hub) as api:
        page = api.ok("/dhub/ui/datasets/demo/table/orders/versions/v1")
        link = "/dhub/ui/datasets/demo/table/orders/versions/"
        assert "/report.html" in page and link in page
        response = api.get(f"{link}v1/report.html")
        assert response.status_code == 200
        assert "attachment" in response.headers["content-disposition"]
        assert "orders-v1-report.html" in response.headers["content-disposition"]
        # the same page as dhub report builds, but for its generation time; a GET
        # profiles nothing
        stamp = re.compile(r"generated [0-9T:+-]+")
        assert stamp.sub("", response.text) == stamp.sub("", expected)
        assert "has not been profiled" in response.text
        assert api.get(f"{link}v1/report.html", as_user=None).status_code == 401
        revoke(hub.catalog, "demo", "user:viewer")  # no grant on the project: 403
        assert api.get(f"{link}v1/report.html").status_code == 403
