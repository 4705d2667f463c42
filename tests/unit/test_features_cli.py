"""``dhub features``: listed in ``dhub --help`` without importing Feast; its actions
parse their options; a bad option is a one-line error."""

from __future__ import annotations

import subprocess
import sys

import pytest

from digitalhub_airflow.cli.main import build_parser


def test_help_lists_features_without_importing_feast() -> None:
    code = (
        "import sys; from digitalhub_airflow.cli.main import build_parser; "
        "build_parser(['--help']).format_help(); "
        "assert 'feast' not in sys.modules and 'pandas' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert "features" in build_parser(["--help"]).format_help()


def test_actions_parse() -> None:
    parser = build_parser(["features"])
    args = parser.parse_args(["features", "materialize", "demo", "--end", "2026-01-02T00:00:00"])
    assert args.end.isoformat() == "2026-01-02T00:00:00+00:00"
    assert args.start is None and args.view == []
    args = parser.parse_args(
        ["features", "training-set", "svc", "--entities", "demo/e", "--target", "demo/t", "--json"]
    )
    assert [args.service, args.entities, args.target] == ["svc", "demo/e", "demo/t"]
    assert args.json


def test_a_bad_time_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser(["features"]).parse_args(["features", "materialize", "demo", "--end", "soon"])
    assert exc.value.code == 2
    assert "'soon' is not an ISO-8601 time" in capsys.readouterr().err
