"""`dhub --version`, readable `--help`, the listings (`ls`, `models`, `services`) and
`diff --rows`, through the installed console script on an embedded home."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

from digitalhub_airflow.cli.main import FEATURES
from digitalhub_airflow.errors import InvalidOptionError, NotFoundError
from digitalhub_airflow.training.model_catalog import ModelRecord, record_model
from tests.unit.dhub_testlib import Cli, assert_cli_error, write

#: Sphinx/reST markup that means a docstring leaked into the help text.
MARKUP = re.compile(r"``|:(class|func|mod|meth|attr):`")


def test_version_comes_from_the_package_metadata(cli: Cli) -> None:
    proc = cli.ok("--version")
    assert proc.stdout.strip() == f"dhub {version('digitalhub-airflow')}"


def test_help_texts_carry_no_docstring_markup(cli: Cli) -> None:
    from importlib import import_module

    top = cli.ok("--help").stdout
    assert not MARKUP.search(top), top
    commands = [c for f in FEATURES for c in import_module(f"digitalhub_airflow.cli.{f}").COMMANDS]
    procs = cli.run_all(*[[command, "--help"] for command in commands])
    for command, proc in zip(commands, procs, strict=True):
        assert proc.returncode == 0, proc.stderr
        assert not MARKUP.search(proc.stdout), f"dhub {command} --help:\n{proc.stdout}"


def test_ls_lists_projects_then_a_projects_datasets(cli: Cli, tmp_path: Path) -> None:
    assert cli.json("ls") == []
    cli.ok("commit", "demo/wine", str(write(tmp_path / "w.csv", "a,b\n1,2\n3,4\n")))
    cli.ok("commit", "demo/raw", str(write(tmp_path / "r.csv", "x\n1\n")))
    cli.ok("commit", "other/one", str(write(tmp_path / "o.csv", "y\n1\n")))
    projects = cli.json("ls")
    assert [(p["name"], p["datasets"]) for p in projects] == [("demo", 2), ("other", 1)]
    datasets = cli.json("ls", "demo")
    assert [d["name"] for d in datasets] == ["raw", "wine"]
    wine = datasets[1]
    assert wine["versions"] == 1 and wine["latest"]["row_count"] == 2
    text = cli.ok("ls", "demo").stdout
    assert "store://demo/dataitem/table/wine" in text and "2 rows" in text
    assert "does not exist" in assert_cli_error(cli.run("ls", "nowhere"), NotFoundError)


def test_models_and_services_list_what_the_catalog_holds(cli: Cli, tmp_path: Path) -> None:
    assert cli.ok("models").stdout.strip() == "no models"
    assert cli.json("services") == []
    cli.ok("commit", "demo/wine", str(write(tmp_path / "w.csv", "a,class\n1,2\n")))
    key = "store://demo/model/mlflow/wine-classifier:0123456789abcdef"
    with cli.hub() as hub:
        hub.init()
        record_model(
            hub,
            ModelRecord(
                key=key, project="demo", name="wine-classifier", run_id="0123456789abcdef",
                experiment_id="1", tracking_uri="sqlite:///mlflow.db",
                model_uri="runs:/0123456789abcdef/model",
                entrypoint="digitalhub_airflow.training.estimators:train_estimator",
                code_digest="0" * 64, cache_key="0" * 64, params={},
                metrics={"accuracy": 0.9375}, datasets=["store://demo/dataitem/table/wine:v1"],
                target="class", task="classification",
            ),
        )  # fmt: skip
    assert [m["key"] for m in cli.json("models")] == [key]
    assert [m["key"] for m in cli.json("models", "demo")] == [key]
    text = cli.ok("models").stdout
    assert "accuracy=0.9375" in text and "trained on store://demo/dataitem/table/wine:v1" in text


def test_diff_rows_by_key_counts_and_samples(cli: Cli, tmp_path: Path) -> None:
    old = write(tmp_path / "old.csv", "shop,day,sales,note\n1,1,10,a\n1,2,20,b\n2,1,30,\n")
    new = write(tmp_path / "new.csv", "shop,day,sales,note\n1,1,10,a\n1,2,25,b\n3,1,5,n\n")
    cli.ok("commit", "demo/sales", str(old))
    cli.ok("commit", "demo/sales", str(new))
    found = cli.json("diff", "demo/sales:v1", "demo/sales:v2", "--rows", "shop,day")
    assert found["rows"] == {"a": 3, "b": 3}  # the plain diff's row counts stay
    rows = found["row_diff"]
    assert rows["keys"] == ["shop", "day"] and rows["compared_columns"] == ["sales", "note"]
    assert rows["added"] == {"count": 1, "sample": [{"shop": 3, "day": 1, "sales": 5, "note": "n"}]}
    assert rows["removed"] == {
        "count": 1,
        "sample": [{"shop": 2, "day": 1, "sales": 30, "note": ""}],  # CSV: empty, not null
    }
    assert rows["changed"] == {
        "count": 1,
        "sample": [{"key": {"shop": 1, "day": 2}, "changes": {"sales": {"from": 20, "to": 25}}}],
    }
    text = cli.ok("diff", "demo/sales:v1", "demo/sales:v2", "--rows", "shop,day").stdout
    assert "rows by shop, day: 1 added, 1 removed, 1 changed" in text
    assert "~ row shop=1 day=2  sales: 20 -> 25" in text
    assert "row_diff" not in cli.json("diff", "demo/sales:v1", "demo/sales:v2")
    missing = cli.run("diff", "demo/sales:v1", "demo/sales:v2", "--rows", "shop,nope")
    assert "key column(s) nope not in" in assert_cli_error(missing, InvalidOptionError)
    repeated = cli.run("diff", "demo/sales:v1", "demo/sales:v2", "--rows", "shop")
    assert "shop is not a key of" in assert_cli_error(repeated, InvalidOptionError)
    assert cli.run("diff", "demo/sales:v1", "demo/sales:v2", "--rows", "shop,").returncode == 2


def test_progress_goes_to_stderr_after_a_second_only_when_asked_off_a_terminal(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import argparse
    import time

    from digitalhub_airflow.cli.support import working

    with working(argparse.Namespace(progress=True, json=True), "profiling demo/wine"):
        time.sleep(1.6)
    out, err = capfd.readouterr()
    assert out == "" and err == "profiling demo/wine … 1s\n"
    with working(argparse.Namespace(progress=False, json=False), "profiling demo/wine"):
        time.sleep(1.3)  # stderr is no terminal here: nothing unless --progress
    assert capfd.readouterr() == ("", "")
    with working(argparse.Namespace(progress=True, json=False), "quick"):
        pass
    assert capfd.readouterr() == ("", "")
