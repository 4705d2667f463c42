"""helm-values/workspaces/ against the Zero-to-JupyterHub chart's own files (no cluster, no Helm).

The reference data is tests/charts/zero-to-jupyterhub/ (z2jh 4.4.0: values.yaml,
values.schema.yaml, and the configurable traits of the hub image's JupyterHub, KubeSpawner
and OAuthenticator; README.md there). Each values file (jupyterhub.yaml alone and with
dev.yaml) is merged the way Helm merges ``-f`` files over the chart's values.yaml, then:

- validated against the chart's schema (JSON Schema draft-07, written in YAML);
- walked key by key: every key must exist in the chart's values.yaml or be declared by the
  schema (``properties``, or ``patternProperties`` such as ``hub.config.<Class>``); the
  free-form maps (``additionalProperties: true``: env variables, annotations) are checked
  another way where one exists: ``hub.config.<Class>.<trait>`` and every profile's
  ``kubespawner_override`` key against the traits, env entries against Kubernetes' EnvVar,
  the network policy rules and the GPU profile's scheduling fields against the Kubernetes
  schemas;
- no credential in any file: env entries are plain settings or ``secretKeyRef``s to the
  Secrets and keys docs/deploy.md tells users to create; the addresses agree with the
  connections documented there;
- the GPU profile is the suite's ``1xa100`` resource profile, and the workspace image
  recipe installs JupyterLab and the suite with requirements.lock as constraints.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from functools import cache
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest

from digitalhub_airflow.kube.resource_profiles import BUILTIN
from tests.conftest import REPO
from tests.unit.test_helm_values import credential_leaks, helm_merge, load_yaml
from tests.unit.test_helm_values import schema_errors as helm_schema_errors

CHART = REPO / "tests" / "charts" / "zero-to-jupyterhub"
VALUES = REPO / "helm-values" / "workspaces"
DOCKERFILE = REPO / "image" / "workspace.Dockerfile"
DEPLOY_DOC = REPO / "docs" / "deploy.md"
FILES = ["jupyterhub.yaml", "dev.yaml"]
COMBINATIONS = [["jupyterhub.yaml"], ["jupyterhub.yaml", "dev.yaml"]]
#: The keys KubeSpawner 7 reads from a profile_list entry (its ``profile_list`` help).
PROFILE_KEYS = {
    "display_name",
    "slug",
    "description",
    "default",
    "kubespawner_override",
    "profile_options",
}
#: hub.config classes the values may configure -> the class in traits.yaml.
CONFIG_CLASSES = {
    "JupyterHub",
    "KubeSpawner",
    "Spawner",
    "Authenticator",
    "GenericOAuthenticator",
    "DummyAuthenticator",
}


@cache
def chart_schema() -> dict[str, Any]:
    return load_yaml(CHART / "values.schema.yaml")


@cache
def chart_defaults() -> dict[str, Any]:
    return load_yaml(CHART / "values.yaml")


@cache
def traits() -> dict[str, set[str]]:
    return {cls: set(names) for cls, names in load_yaml(CHART / "traits.yaml").items()}


def merged(*names: str) -> dict[str, Any]:
    values = chart_defaults()
    for name in names:
        values = helm_merge(values, load_yaml(VALUES / name))
    return values


def schema_errors(values: dict[str, Any]) -> list[str]:
    return helm_schema_errors(values, chart_schema())


def unknown_keys(
    value: Any, default: Any, schema: dict[str, Any] | None, path: str = ""
) -> list[str]:
    """Keys of ``value`` that neither the chart's values.yaml nor its schema has. A map the
    schema leaves open (``additionalProperties: true``, no ``properties``) is not walked."""
    schema = schema or {}
    found: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        patterns = schema.get("patternProperties") or {}
        if path and schema.get("additionalProperties") is True and not props:
            return []
        for key, sub in value.items():
            where = f"{path}.{key}" if path else str(key)
            sub_default = default.get(key) if isinstance(default, dict) else None
            if key in props:
                sub_schema = props[key]
            elif matching := [s for p, s in patterns.items() if re.search(p, str(key))]:
                sub_schema = matching[0]
            elif (
                isinstance(default, dict)
                and key in default
                and schema.get("additionalProperties", True) is not False
            ):
                sub_schema = {}
            else:
                found.append(where)
                continue
            found += unknown_keys(sub, sub_default, sub_schema, where)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        # items the schema leaves open (profileList, networkPolicy rules, ingress.tls) are
        # checked by unknown_traits and the Kubernetes schemas instead
        for i, item in enumerate(value):
            found += unknown_keys(item, None, schema["items"], f"{path}[{i}]")
    return found


def unknown_traits(values: dict[str, Any]) -> list[str]:
    """hub.config.<Class>.<trait> and profile overrides that the hub image does not have."""
    found: list[str] = []
    config = (values.get("hub") or {}).get("config") or {}
    for cls, options in config.items():
        if cls not in CONFIG_CLASSES:
            found.append(f"hub.config.{cls}")
            continue
        found += [f"hub.config.{cls}.{t}" for t in options or {} if t not in traits()[cls]]
    profiles = (values.get("singleuser") or {}).get("profileList") or []
    for i, profile in enumerate(profiles):
        found += [f"profileList[{i}].{k}" for k in profile if k not in PROFILE_KEYS]
        override = profile.get("kubespawner_override") or {}
        found += [
            f"profileList[{i}].kubespawner_override.{k}"
            for k in override
            if k not in traits()["KubeSpawner"]
        ]
    return found


# -- the chart's schema and keys -------------------------------------------------------------
def test_chart_reference_data_is_the_release_the_values_name() -> None:
    assert chart_schema()["$schema"].startswith("http://json-schema.org/draft-07/schema")
    assert jsonschema.validators.validator_for(chart_schema()) is jsonschema.Draft7Validator
    assert schema_errors(chart_defaults()) == []
    readme = (CHART / "README.md").read_text()
    requirements = (CHART / "hub-image-requirements.txt").read_text()
    for pin in ("jupyterhub==5.5.0", "jupyterhub-kubespawner==7.0.0", "oauthenticator==17.4.0"):
        assert re.search(rf"^{re.escape(pin)}$", requirements, re.MULTILINE), pin
    for name in FILES:
        assert "4.4.0" in (VALUES / name).read_text(), name
    assert "4.4.0" in readme and "BSD-3-Clause" in readme
    assert (CHART / "LICENSE").read_text().startswith("BSD 3-Clause License")


@pytest.mark.parametrize("files", COMBINATIONS, ids="+".join)
def test_values_validate_against_the_chart_schema(files: list[str]) -> None:
    assert schema_errors(merged(*files)) == []


@pytest.mark.parametrize("name", FILES)
def test_every_key_exists_in_the_chart(name: str) -> None:
    values = load_yaml(VALUES / name)
    assert unknown_keys(values, chart_defaults(), chart_schema()) == []
    assert unknown_traits(values) == []


def test_a_misspelt_key_fails() -> None:
    values = load_yaml(VALUES / "jupyterhub.yaml")
    values["singleuser"]["storage"]["capacityy"] = "1Gi"  # under a closed map
    values["singleuser"]["extraFiles"]["dhub-airflow-login"]["mountPth"] = "/x"  # pattern item
    values["hub"]["config"]["GenericOAuthenticator"]["allowed_group"] = ["x"]  # trait
    values["singleuser"]["profileList"][2]["kubespawner_override"]["node_selectors"] = {}
    values["singleuser"]["profileList"][0]["displayname"] = "x"
    values["hub"]["config"]["KubeSpawnr"] = {}
    assert sorted(unknown_keys(values, chart_defaults(), chart_schema())) == [
        "singleuser.extraFiles.dhub-airflow-login.mountPth",
        "singleuser.storage.capacityy",
    ]
    assert sorted(unknown_traits(values)) == [
        "hub.config.GenericOAuthenticator.allowed_group",
        "hub.config.KubeSpawnr",
        "profileList[0].displayname",
        "profileList[2].kubespawner_override.node_selectors",
    ]
    errors = schema_errors(helm_merge(chart_defaults(), values))
    assert any(e.startswith("singleuser.storage: Additional properties") for e in errors)
    values = load_yaml(VALUES / "jupyterhub.yaml")
    values["singleuser"]["cpu"]["guarantee"] = "1"  # schema: number
    errors = schema_errors(helm_merge(chart_defaults(), values))
    assert any(e.startswith("singleuser.cpu.guarantee: '1' is not of type") for e in errors)


# -- login -----------------------------------------------------------------------------------
def test_production_login_is_the_identity_provider_not_the_dummy() -> None:
    assert chart_defaults()["hub"]["config"]["JupyterHub"]["authenticator_class"] == "dummy"
    hub = merged("jupyterhub.yaml")["hub"]
    assert hub["config"]["JupyterHub"]["authenticator_class"] == "generic-oauth"
    oauth = hub["config"]["GenericOAuthenticator"]
    assert oauth["allowed_groups"] and not oauth.get("allow_all")
    assert "client_secret" not in oauth
    assert hub["extraEnv"]["OAUTH_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]["name"]
    dev_text = (VALUES / "dev.yaml").read_text()
    assert (
        merged("jupyterhub.yaml", "dev.yaml")["hub"]["config"]["JupyterHub"]["authenticator_class"]
        == "dummy"
    )
    assert "DEV ONLY" in dev_text and "ANYONE" in dev_text


# -- Secrets only ----------------------------------------------------------------------------
@cache
def documented_secret_keys() -> dict[str, set[str]]:
    """Secret name -> keys, from the Secrets table of docs/deploy.md."""
    table: dict[str, set[str]] = {}
    for line in DEPLOY_DOC.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 4 and cells[1].startswith("`dhub-"):
            keys = set(re.findall(r"`([A-Za-z0-9_.-]+)`", cells[3]))
            for name in re.findall(r"`(dhub-[a-z0-9-]+)`", cells[1]):
                table.setdefault(name, set()).update(keys)
    return table


def env_entries(values: dict[str, Any]) -> dict[str, Any]:
    return dict(values["singleuser"]["extraEnv"])


def test_env_is_settings_or_secret_refs_to_documented_secrets() -> None:
    documented = documented_secret_keys()
    assert "dhub-jupyterhub-oauth" in documented  # the Workspaces section's table
    env = {**env_entries(merged("jupyterhub.yaml")), **merged("jupyterhub.yaml")["hub"]["extraEnv"]}
    refs = {}
    for name, value in env.items():
        if isinstance(value, dict):
            assert set(value) == {"valueFrom"}, name
            ref = value["valueFrom"]["secretKeyRef"]
            assert set(ref) == {"name", "key"}, name
            assert ref["key"] in documented[ref["name"]], (name, ref)
            refs[name] = ref
        else:
            assert isinstance(value, str), name
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), name  # no user:password@
    for name in (
        "PGPASSWORD",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "DHUB_MLFLOW_PASSWORD",
        "MLFLOW_TRACKING_PASSWORD",
        "OAUTH_CLIENT_SECRET",
    ):
        assert name in refs, name
    for conn in ("DHUB_CATALOG", "DHUB_STORE", "MLFLOW_DEFAULT"):
        assert refs[f"AIRFLOW_CONN_{conn}"] == {
            "name": "dhub-airflow-connections",
            "key": f"AIRFLOW_CONN_{conn}",
        }


#: Keys (lower case, without ``_``/``-``) whose scalar value would be a credential here, beyond
#: test_helm_values' CREDENTIAL_KEYS: JupyterHub's own secrets and the env variables above.
WORKSPACE_CREDENTIAL_KEYS = {
    "clientsecret",
    "cookiesecret",
    "secrettoken",
    "apitoken",
    "cryptkey",
    "password",
    "oauthclientsecret",
    "pgpassword",
    "awssecretaccesskey",
    "awssessiontoken",
    "dhubmlflowpassword",
    "dhubmlflowtoken",
    "mlflowtrackingpassword",
    "mlflowtrackingtoken",
    "airflowapitoken",
    "dhubapitoken",
}


def workspace_leaks(data: Any, name: str) -> list[str]:
    leaks = credential_leaks(data, name)

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{where}.{key}"
                normal = re.sub(r"[_-]", "", str(key).lower())
                if normal in WORKSPACE_CREDENTIAL_KEYS and isinstance(value, (str, int)):
                    leaks.append(here)
                walk(value, here)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]")

    walk(data, name)
    return sorted(set(leaks))


@pytest.mark.parametrize("name", FILES)
def test_no_secret_value_in_the_files(name: str) -> None:
    assert workspace_leaks(load_yaml(VALUES / name), name) == []


def test_the_secret_checks_catch_a_credential() -> None:
    values = load_yaml(VALUES / "jupyterhub.yaml")
    values["hub"]["config"]["GenericOAuthenticator"]["client_secret"] = "abc"
    values["singleuser"]["extraEnv"]["DHUB_CATALOG_URL"] = "postgresql://dhub:password=x@h/db"
    values["singleuser"]["extraEnv"]["PGPASSWORD"] = "s3cr3t"
    assert workspace_leaks(values, "j") == [
        "j.hub.config.GenericOAuthenticator.client_secret",
        "j.singleuser.extraEnv.DHUB_CATALOG_URL",
        "j.singleuser.extraEnv.PGPASSWORD",
    ]


@cache
def documented_connections() -> dict[str, dict[str, Any]]:
    """The AIRFLOW_CONN_* JSON of docs/deploy.md's `kubectl create secret` example."""
    text = DEPLOY_DOC.read_text()
    found = re.findall(r"--from-literal=AIRFLOW_CONN_([A-Z_]+)='(\{.*?\})'", text, re.DOTALL)
    return {name: json.loads(body) for name, body in found}


def test_settings_agree_with_the_documented_connections() -> None:
    from sqlalchemy.engine import make_url

    env = env_entries(merged("jupyterhub.yaml"))
    conns = documented_connections()
    catalog = conns["DHUB_CATALOG"]
    url = make_url(env["DHUB_CATALOG_URL"])
    assert url.password is None
    assert (url.username, url.host, url.port, url.database) == (
        catalog["login"],
        catalog["host"],
        catalog["port"],
        catalog["schema"],
    )
    assert url.query.get("sslmode") == catalog["extra"]["sslmode"]
    assert env["DHUB_CATALOG_SCHEMA"] == catalog["extra"]["schema"]
    store = conns["DHUB_STORE"]["extra"]
    assert env["DHUB_STORE_URL"] == store["store_url"]
    assert env["AWS_ENDPOINT_URL_S3"] == store["endpoint_url"]
    assert env["AWS_DEFAULT_REGION"] == store["region_name"]
    mlflow = conns["MLFLOW_DEFAULT"]["host"]
    assert env["DHUB_MLFLOW_TRACKING_URI"] == env["MLFLOW_TRACKING_URI"] == mlflow
    assert env["DHUB_API_URL"] == env["AIRFLOW_API_URL"] + "/dhub/api/v1"


def test_env_and_scheduling_fields_are_valid_kubernetes() -> None:
    from tests.kube_schemas import validate_k8s

    values = merged("jupyterhub.yaml")
    env = [
        {"name": k, **v} if isinstance(v, dict) else {"name": k, "value": v}
        for k, v in env_entries(values).items()
    ]
    (gpu,) = [p for p in values["singleuser"]["profileList"] if p["slug"] == "1xa100"]
    override = gpu["kubespawner_override"]
    validate_k8s(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "jupyter-x"},
            "spec": {
                "containers": [{"name": "notebook", "image": "x", "env": env}],
                "nodeSelector": override["node_selector"],
                "tolerations": override["tolerations"],
            },
        }
    )
    validate_k8s(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "singleuser"},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": values["singleuser"]["networkPolicy"]["egress"],
            },
        }
    )


# -- profiles = the suite's resource profiles -------------------------------------------------
def _bytes(quantity: str) -> int:
    """A Kubernetes quantity (``64Gi``) or a JupyterHub ByteSpecification (``64G`` = 2^30)."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)", str(quantity))
    assert match, quantity
    return int(float(match.group(1)) * units[match.group(2)[0]])


@pytest.mark.parametrize("slug", ["cpu-small", "cpu-large", "1xa100"])
def test_profile_matches_the_resource_profile(slug: str) -> None:
    profiles = merged("jupyterhub.yaml")["singleuser"]["profileList"]
    (entry,) = [p for p in profiles if p["slug"] == slug]
    override = entry["kubespawner_override"]
    profile = BUILTIN[slug]
    assert str(override["cpu_guarantee"]) == profile.requests["cpu"]
    assert _bytes(override["mem_guarantee"]) == _bytes(profile.requests["memory"])
    assert _bytes(override["mem_limit"]) == _bytes(profile.limits["memory"])
    assert "cpu_limit" not in override and "cpu" not in profile.limits
    extra = {k: v for k, v in profile.limits.items() if k not in ("cpu", "memory")}
    assert override.get("extra_resource_limits", {}) == extra
    assert override.get("node_selector", {}) == profile.node_selector
    assert override.get("tolerations", []) == [dict(t) for t in profile.tolerations]


def test_the_gpu_profile_asks_for_the_gpu() -> None:
    profiles = merged("jupyterhub.yaml")["singleuser"]["profileList"]
    (gpu,) = [p for p in profiles if p["slug"] == "1xa100"]
    assert gpu["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert BUILTIN["1xa100"].gpus == 1


@pytest.mark.parametrize("files", COMBINATIONS, ids="+".join)
def test_a_code_server_profile(files: list[str]) -> None:
    profiles = merged(*files)["singleuser"]["profileList"]
    (vscode,) = [p for p in profiles if p["slug"] == "vscode"]
    # jupyter-vscode-proxy registers the `vscode` server of jupyter-server-proxy
    assert vscode["kubespawner_override"]["default_url"] == "/vscode/"
    assert sum(bool(p.get("default")) for p in profiles) == 1


# -- the workspace image ---------------------------------------------------------------------
def test_workspace_image_installs_jupyterlab_and_the_suite_under_the_lock() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM \$\{DHUB_IMAGE\}$", text, re.MULTILINE)  # the suite's image
    assert "source=requirements.lock,target=/tmp/constraints.txt" in text
    (install,) = re.findall(r"pip install (?:[^\n\\]|\\\n)*", text)
    assert "--constraint /tmp/constraints.txt" in install
    for package in (
        "apache-airflow==",
        "digitalhub-airflow==",
        "jupyterlab==",
        "jupyterhub==",
        "jupyter-server-proxy==",
        "jupyter-vscode-proxy==",
    ):
        assert f'"{package}' in install, package
    assert "pip check" in text and "code-server --version" in text
    args = dict(re.findall(r"^ARG ([A-Z_]+)=(\S*)$", text, re.MULTILINE))
    hub_pins = (CHART / "hub-image-requirements.txt").read_text()
    assert f"jupyterhub=={args['JUPYTERHUB_VERSION']}" in hub_pins  # same as the hub
    assert args["DHUB_IMAGE"] == "digitalhub-airflow:0.1.0"
    assert 'ENTRYPOINT ["/usr/bin/dumb-init", "--"]' in text
    values = merged("jupyterhub.yaml")["singleuser"]
    assert values["cmd"] == "jupyterhub-singleuser" and values["uid"] == 50000
    assert values["image"]["name"] == "digitalhub-airflow-workspace"
    # the persistent folder must not hide the image's ~/.local (where pip put the suite)
    assert values["storage"]["homeMountPath"].startswith("/home/airflow/")


# -- the user's token for the plugin API -----------------------------------------------------
class _TokenEndpoint(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, body))
        ok = body == {"username": "ada", "password": "pw-1"}
        self.send_response(201 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        reply = {"access_token": "eyJ.jwt.sig"} if ok else {"detail": "Invalid credentials"}
        self.wfile.write(json.dumps(reply).encode())

    def log_message(self, *args: Any) -> None:
        pass


def test_login_helper_gets_an_airflow_token(tmp_path: Path) -> None:
    files = merged("jupyterhub.yaml")["singleuser"]["extraFiles"]
    helper = files["dhub-airflow-login"]
    assert helper["mode"] == 0o755
    script = tmp_path / "dhub-airflow-login"
    script.write_text(helper["stringData"])
    server = HTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token_file = tmp_path / "cfg" / "airflow-token"
    env = {
        **os.environ,
        "AIRFLOW_API_URL": f"http://127.0.0.1:{server.server_port}/",
        "DHUB_API_TOKEN_FILE": str(token_file),
        "JUPYTERHUB_USER": "ada",
    }
    try:
        ok = subprocess.run(
            [sys.executable, str(script), "--password-stdin"],
            input="pw-1\n",
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        bad = subprocess.run(
            [sys.executable, str(script), "--password-stdin"],
            input="no\n",
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
    assert ok.returncode == 0, ok.stderr
    assert token_file.read_text() == "eyJ.jwt.sig\n"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert _TokenEndpoint.seen[0] == ("/auth/token", {"username": "ada", "password": "pw-1"})
    assert bad.returncode != 0 and "HTTP 401" in bad.stderr
