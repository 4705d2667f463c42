"""Bad input: a clear typed error from the API and the CLI, and nothing committed.

Each test calls the DataHub API (asserting the exact error class), then the real ``dhub``
script (exit code = the class's ``exit_code``, one ``dhub: error:`` line on stderr), and
checks after each that the catalog (every row of every table) and the store folder (every
file) are exactly as before.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.datasets.hashcache import HashCache
from digitalhub_airflow.errors import (
    ConflictError,
    DhubError,
    InvalidKeyError,
    InvalidSourceError,
    NotFoundError,
    StoreError,
    UnreadableTableError,
)
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store import open_store
from tests.unit.dhub_testlib import (
    Cli,
    Snapshot,
    assert_cli_error,
    catalog_dump,
    cli_env,
    python_usable_by,
    store_files,
    write,
)

WINE = "store://demo/dataitem/table/wine"
WINE_CSV = "id,grape,score\n1,merlot,8.5\n2,syrah,7.0\n"


@pytest.fixture
def wine(cli: Cli, tmp_path: Path) -> Cli:
    """A home holding one table, demo/wine v1."""
    with cli.hub() as hub:
        hub.commit("demo/wine", write(tmp_path / "wine.csv", WINE_CSV))
    return cli


def _snapshot(cli: Cli) -> Snapshot:
    return Snapshot.of(cli.home / "catalog.sqlite", cli.store)


def _refused(
    cli: Cli,
    api: Callable[[DataHub], Any],
    argv: Sequence[str] | None,
    error: type[DhubError],
    env: dict[str, str] | None = None,
) -> tuple[str, str]:
    """Both the API and the CLI refuse with ``error`` and change nothing; the messages.

    ``argv=None`` checks the API only (for cases beyond the CLI's list, to keep the
    suite fast: each ``dhub`` process costs most of a second).
    """
    before = _snapshot(cli)
    with cli.hub() as hub, pytest.raises(DhubError) as info:
        api(hub)
    assert type(info.value) is error, repr(info.value)
    assert "\n" not in str(info.value)
    assert _snapshot(cli) == before
    if argv is None:
        return str(info.value), ""
    proc = cli.run(*argv, env=env)
    line = assert_cli_error(proc, error)
    assert "Traceback" not in proc.stderr
    assert _snapshot(cli) == before
    return str(info.value), line


# -- sources ---------------------------------------------------------------------------


def test_malformed_csv_wrong_column_count(wine: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad" / "wine.csv", "id,grape\n1,merlot\n2,syrah,extra\n")
    message, line = _refused(
        wine,
        lambda h: h.commit("demo/wine", bad),
        ["commit", "demo/wine", str(bad)],
        InvalidSourceError,
    )
    for text in (message, line):
        assert str(bad) in text
        assert "not valid csv" in text
        assert "Expected 2 columns, got 3" in text


def test_empty_file(wine: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.touch()
    message, line = _refused(
        wine,
        lambda h: h.commit("demo/new", empty),
        ["commit", "demo/new", str(empty)],
        InvalidSourceError,
    )
    for text in (message, line):
        assert str(empty) in text
        assert "empty" in text


def test_duplicate_column_names(wine: Cli, tmp_path: Path) -> None:
    """Committed, ``a,a`` used to break ``dhub query`` and ``dhub profile`` afterwards."""
    bad = write(tmp_path / "dup.csv", "a,a\n1,2\n")
    message, line = _refused(
        wine,
        lambda h: h.commit("demo/dup", bad),
        ["commit", "demo/dup", str(bad)],
        UnreadableTableError,
    )
    for text in (message, line):
        assert f"{bad}: duplicate column name 'a'" in text


def test_latin1_csv_is_refused_then_decoded_with_its_encoding(wine: Cli, tmp_path: Path) -> None:
    latin1 = tmp_path / "cafe.csv"
    latin1.write_bytes("id,name\n1,café\n".encode("latin-1"))
    message, line = _refused(
        wine,
        lambda h: h.commit("demo/cafe", latin1),
        ["commit", "demo/cafe", str(latin1)],
        UnreadableTableError,
    )
    for text in (message, line):
        assert "column 'name' is not valid UTF-8 text (first invalid byte at line 2" in text
    wine.ok("commit", "demo/cafe", str(latin1), "--encoding", "latin-1")
    query = "SELECT name FROM ds('store://demo/dataitem/table/cafe')"
    assert wine.json("query", query)["rows"] == [{"name": "café"}]


def test_names_and_nul_bytes_that_would_not_read_back(wine: Cli, tmp_path: Path) -> None:
    cases = [
        ("long.csv", "id," + "x" * 200_000 + "\n1,2\n", "the limit is 255"),
        ("nul.csv", "id,note\n1,a\x00b\n", "holds a NUL character (row 1)"),
        ("case.csv", "Id,id\n1,2\n", "differ only in case"),
        ("empty.csv", "id,\n1,2\n", "column 2 has an empty name"),
    ]
    for name, text, words in cases:
        bad = write(tmp_path / name, text)
        message, _ = _refused(
            wine, lambda h, bad=bad: h.commit("demo/bad", bad), None, UnreadableTableError
        )
        assert words in message


def test_empty_folder(wine: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "nothing"
    folder.mkdir()
    message, _ = _refused(
        wine,
        lambda h: h.commit("demo/new", folder),
        None,
        InvalidSourceError,
    )
    assert "holds no file" in message


def test_missing_path(wine: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such.csv"
    message, line = _refused(
        wine,
        lambda h: h.commit("demo/wine", missing),
        ["commit", "demo/wine", str(missing)],
        InvalidSourceError,
    )
    for text in (message, line):
        assert str(missing) in text
        assert "does not exist" in text


def test_glob_matching_nothing(wine: Cli, tmp_path: Path) -> None:
    pattern = str(tmp_path / "*.parquet")
    message, _ = _refused(
        wine,
        lambda h: h.commit("demo/wine", pattern),
        None,
        InvalidSourceError,
    )
    assert "matches no file" in message


# -- names and keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "words", "via_cli"),
    [
        ("demo/Wine", "uppercase", True),
        ("demo/..", "'..'", True),
        ("Demo/wine", "uppercase", False),
        ("demo/a..b", "'..'", False),
        ("demo/../../etc", "must be <project>/<name>", False),
        ("store://demo/dataitem/table/%2e%2e", "invalid", False),
        ("demo/" + "w" * 64, "at most 63", False),
    ],
)
def test_invalid_name(wine: Cli, tmp_path: Path, target: str, words: str, via_cli: bool) -> None:
    src = write(tmp_path / "ok.csv", "a\n1\n")
    argv = ["commit", target, str(src)] if via_cli else None
    message, line = _refused(wine, lambda h: h.commit(target, src), argv, InvalidKeyError)
    assert words in message
    assert not via_cli or words in line


def test_unknown_key(wine: Cli) -> None:
    key = "store://demo/dataitem/table/nope"
    message, line = _refused(wine, lambda h: h.log(key), ["log", key], NotFoundError)
    for text in (message, line):
        assert key in text
        assert "does not exist" in text


def test_unknown_project(wine: Cli) -> None:
    key = "store://elsewhere/dataitem/table/wine"
    message, _ = _refused(wine, lambda h: h.resolve(key), None, NotFoundError)
    assert key in message


def test_unknown_version(wine: Cli) -> None:
    message, line = _refused(
        wine, lambda h: h.resolve(f"{WINE}:v9"), ["show", f"{WINE}:v9"], NotFoundError
    )
    assert "version v9" in message
    assert "latest is v1" in message
    assert "v9" in line


def test_unknown_version_id(wine: Cli) -> None:
    message, _ = _refused(
        wine,
        lambda h: h.resolve(f"{WINE}:00000000"),
        None,
        NotFoundError,
    )
    assert "version 00000000" in message


def test_unknown_alias(wine: Cli) -> None:
    message, line = _refused(
        wine, lambda h: h.resolve(f"{WINE}@prod"), ["show", f"{WINE}@prod"], NotFoundError
    )
    for text in (message, line):
        assert f"@prod of {WINE}" in text
        assert "does not exist" in text


def test_tag_with_reserved_alias_latest(wine: Cli) -> None:
    message, _ = _refused(
        wine,
        lambda h: h.tag(f"{WINE}:v1", "latest"),
        None,
        InvalidKeyError,
    )
    assert "latest" in message


def test_kind_mismatch_on_read(wine: Cli) -> None:
    wrong = "store://demo/dataitem/files/wine"
    message, line = _refused(wine, lambda h: h.resolve(wrong), ["show", wrong], NotFoundError)
    assert "is of kind 'table', not 'files'" in message
    assert f"use {WINE}" in message
    assert f"use {WINE}" in line


def test_kind_mismatch_on_commit(wine: Cli, tmp_path: Path) -> None:
    wrong = "store://demo/dataitem/files/wine"
    new = write(tmp_path / "new" / "wine.csv", "id,grape\n3,gamay\n")
    before = _snapshot(wine)
    with wine.hub() as hub, pytest.raises(NotFoundError, match="is of kind 'table'"):
        hub.commit(wrong, new)
    after = _snapshot(wine)
    assert after.catalog == before.catalog  # no version: this part holds
    assert after.store == before.store, f"left behind: {after.store - before.store}"


def test_stale_parent_on_commit(wine: Cli, tmp_path: Path) -> None:
    new = write(tmp_path / "new" / "wine.csv", "id,grape\n3,gamay\n")
    before = _snapshot(wine)
    with wine.hub() as hub, pytest.raises(ConflictError, match="moved on"):
        hub.commit("demo/wine", new, parent="deadbeef")
    after = _snapshot(wine)
    assert after.catalog == before.catalog
    assert after.store == before.store, f"left behind: {after.store - before.store}"


def test_unknown_schema_policy(wine: Cli, tmp_path: Path) -> None:
    src = write(tmp_path / "new" / "wine.csv", WINE_CSV)
    with wine.hub() as hub, pytest.raises(DhubError):
        hub.commit("demo/other", src, schema_policy="strict")


# -- stores that cannot be written or reached ------------------------------------------

_API_COMMIT = """
import sys
from digitalhub_airflow.errors import DhubError
from digitalhub_airflow.hub import DataHub
with DataHub.from_settings() as hub:
    try:
        hub.commit(sys.argv[1], sys.argv[2])
    except DhubError as exc:
        print(type(exc).__name__)
        sys.exit(0)
print("committed")
sys.exit(1)
"""
_NO_DAC = "-dac_override,-dac_read_search,-fowner"


def _cannot_write(prefix: Sequence[str], folder: Path) -> bool:
    """Whether a process started with ``prefix`` is refused a write into ``folder``."""
    probe = "import sys, pathlib; pathlib.Path(sys.argv[1], 'probe').touch()"
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", probe, str(folder)],
        capture_output=True,
        check=False,
        cwd="/",
        timeout=60,
    )
    return proc.returncode != 0 and b"PermissionError" in proc.stderr


@pytest.fixture
def read_only_home() -> Iterator[tuple[Cli, list[str]]]:
    """A home whose store folder is owned by root with mode 0555, and a command prefix
    under which the store cannot be written.

    As root, chmod alone does not stop writes. The unprivileged user ``nobody`` is
    used when it can run this interpreter; otherwise (the interpreter lives under
    /root) the process keeps uid 0 but drops the capabilities that bypass file
    permissions (setpriv), which makes the mode bits binding.
    """
    home = Path(tempfile.mkdtemp(prefix="dhub-ro-")).resolve()  # traversable by others
    cli = Cli(home / "home")
    cli.home.mkdir()
    src = write(home / "wine.csv", WINE_CSV)
    with cli.hub() as hub:
        hub.init()
        hub.commit("demo/wine", src)
    try:
        prefix: list[str] | None = None
        if os.geteuid() != 0:
            prefix = []
        elif python_usable_by("nobody"):
            prefix = ["runuser", "-u", "nobody", "--"]
            for path in [home, *home.rglob("*")]:
                shutil.chown(path, "nobody")
            for path in [cli.store, *cli.store.rglob("*")]:
                shutil.chown(path, "root")
        elif shutil.which("setpriv"):
            prefix = ["setpriv", f"--bounding-set={_NO_DAC}", f"--inh-caps={_NO_DAC}", "--"]
        for folder in [cli.store, *cli.store.rglob("*")]:
            if folder.is_dir():
                folder.chmod(0o555)
        if prefix is None or not _cannot_write(prefix, cli.store):
            pytest.skip(
                "cannot make the store read-only here: running as root without a user that "
                "can run this interpreter and without setpriv to drop CAP_DAC_OVERRIDE"
            )
        yield cli, prefix
    finally:
        for folder in [home, *home.rglob("*")]:
            if folder.is_dir():
                folder.chmod(0o755)
        shutil.rmtree(home, ignore_errors=True)


def test_read_only_store(read_only_home: tuple[Cli, list[str]]) -> None:
    cli, prefix = read_only_home
    new = write(cli.home.parent / "new.csv", "id,grape\n3,gamay\n")
    env = cli_env(cli.home)
    before = _snapshot(cli)

    api = subprocess.run(
        [*prefix, sys.executable, "-c", _API_COMMIT, "demo/wine", str(new)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=cli.home,
        timeout=120,
    )
    assert api.returncode == 0, api.stdout + api.stderr
    assert api.stdout.strip() == "StoreError"
    assert _snapshot(cli) == before

    proc = cli.run("commit", "demo/wine", str(new), env=env, prefix=prefix, cwd=cli.home)
    line = assert_cli_error(proc, StoreError)
    assert "not writable" in line
    assert cli.store.as_uri() in line
    assert _snapshot(cli) == before

    # Reading from a read-only store still works.
    dest = cli.home.parent / "out"
    dest.mkdir()
    if prefix[:1] == ["runuser"]:
        shutil.chown(dest, "nobody")
    got = cli.run("get", WINE, str(dest), env=env, prefix=prefix, cwd=cli.home)
    assert got.returncode == 0, got.stderr
    assert (dest / "wine.csv").read_text(encoding="utf-8") == WINE_CSV


def test_unreachable_s3_store(wine: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", 9)) == 0:
            pytest.skip("something listens on 127.0.0.1:9; the test needs a closed port")
    s3 = {
        "DHUB_STORE_URL": "s3://bucket/prefix",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "dummy",
        "AWS_SECRET_ACCESS_KEY": "dummy",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    for name, value in s3.items():
        monkeypatch.setenv(name, value)
    new = write(tmp_path / "new" / "wine.csv", "id,grape\n3,gamay\n")
    before_catalog = catalog_dump(wine.home / "catalog.sqlite")
    before_store = store_files(wine.store)

    hub = DataHub(
        Catalog(f"sqlite:///{wine.home / 'catalog.sqlite'}"),
        open_store(s3["DHUB_STORE_URL"], s3["AWS_ENDPOINT_URL_S3"]),
        HashCache(tmp_path / "h.sqlite"),
    )
    with hub, pytest.raises(DhubError) as info:
        hub.commit("demo/other", new)
    assert type(info.value) is StoreError
    assert "s3://bucket/prefix" in str(info.value)
    assert "unreachable" in str(info.value)
    assert catalog_dump(wine.home / "catalog.sqlite") == before_catalog

    proc = wine.run("commit", "demo/other", str(new), env=cli_env(wine.home, **s3))
    line = assert_cli_error(proc, StoreError)
    assert "s3://bucket/prefix" in line
    assert catalog_dump(wine.home / "catalog.sqlite") == before_catalog
    assert store_files(wine.store) == before_store
    with wine.hub() as local, pytest.raises(NotFoundError):
        local.log("store://demo/dataitem/table/other")
