"""helm-values/ against the charts' own files in ../shared/helm (no cluster, no Helm).

Each Airflow values file (airflow.yaml alone, and with each overlay) is merged the way Helm
merges ``-f`` files over the chart's values.yaml, then:

- validated against the chart's values.schema.json (JSON Schema draft-07);
- walked key by key: every key the suite sets must exist in the chart's values.yaml, or,
  where the default is empty (``resources: {}``, ``securityContexts.pod: {}``), among the
  schema's ``properties`` there; lists are walked item by item against the schema's
  ``items``. A misspelt key is a failure here, where Helm would silently ignore it.
- Free-form maps, whose keys are the user's own names, are named in FREE_FORM below: the
  schema gives them ``additionalProperties`` and no ``properties``. Their keys are checked
  another way where one exists: ``config.<section>.<option>`` against Airflow's and the
  installed providers' configuration reference; ``extraEnv`` / ``extraEnvFrom`` /
  ``podTemplate`` strings must not be used at all here (the ``secret`` and ``env`` lists are
  schema-checked instead).

Companion charts: Marquez and MLflow values are checked against those charts' values.yaml
(keys and scalar types; neither schema is in ../shared). MinIO and PostgreSQL
(CloudNativePG) values are only parsed: their charts' files are not in ../shared.

``../shared`` is located relative to the repository root; missing, it is a failure.
"""

from __future__ import annotations

import ast
import copy
import importlib
import importlib.metadata
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import REPO

SHARED = REPO.parent / "shared" / "helm"
VALUES = REPO / "helm-values"
AIRFLOW_CHART = SHARED / "airflow-chart"
OVERLAYS = ["dev.yaml", "prod.yaml"]
AIRFLOW_FILES = ["airflow.yaml", *OVERLAYS]

#: Chart keys whose value is a map of the user's own names (schema: additionalProperties, no
#: properties). Their keys cannot be misspelt chart keys; ``config`` is checked separately.
FREE_FORM = {
    "config",  # airflow.cfg sections -> options: checked against Airflow's config reference
    "nodeSelector",
    "labels",
    "annotations",
    "podAnnotations",
    "extraSecrets",
    "extraConfigMaps",
    "resources.limits",  # Kubernetes quantities by resource name (cpu, memory, nvidia.com/gpu)
    "resources.requests",
}
#: Templated-string keys the suite's values must not use: their content escapes validation.
UNCHECKED_STRINGS = {"extraEnv", "extraEnvFrom", "podTemplate"}
SECRET_MARKERS = re.compile(r"(password|passwd|secret_?key|token)\s*[:=]\s*\S", re.IGNORECASE)


def _shared() -> Path:
    if not (AIRFLOW_CHART / "values.schema.json").is_file():
        pytest.fail(
            f"{AIRFLOW_CHART} is missing: the chart reference files must sit in ../shared/helm "
            "next to the repository (see ../shared/helm/README.md)"
        )
    return SHARED


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) or {}


@cache
def chart_defaults() -> dict[str, Any]:
    return load_yaml(_shared() / "airflow-chart" / "values.yaml")


@cache
def chart_schema() -> dict[str, Any]:
    return json.loads((_shared() / "airflow-chart" / "values.schema.json").read_text())


def helm_merge(base: Any, override: Any) -> Any:
    """Helm's merge of a values file over another: maps deep-merge, a null removes the key,
    anything else (lists included) replaces."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def schema_errors(values: dict[str, Any], schema: dict[str, Any] | None = None) -> list[str]:
    """Draft-07 errors of ``values`` against ``schema`` (default: the Airflow chart's)."""
    validator = jsonschema.Draft7Validator(chart_schema() if schema is None else schema)
    return sorted(
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(values)
    )


def _resolve(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Follow $ref (all local) and merge allOf/anyOf alternatives' properties."""
    if not schema:
        return {}
    while "$ref" in schema:
        node: Any = chart_schema()
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    props: dict[str, Any] = dict(schema.get("properties") or {})
    for key in ("allOf", "anyOf", "oneOf"):
        for alt in schema.get(key) or []:
            props.update(_resolve(alt).get("properties") or {})
    return {**schema, "properties": props} if props else schema


def documented_in_defaults(key: str) -> bool:
    """values.yaml shows some keys only as comments (``# credentialsSecret: git-credentials``);
    those count as existing when the schema also declares them."""
    text = (_shared() / "airflow-chart" / "values.yaml").read_text()
    return re.search(rf"^\s*#\s*{re.escape(key)}:", text, re.MULTILINE) is not None


def _free_form(path: str, schema: dict[str, Any]) -> bool:
    tail2 = ".".join(path.split(".")[-2:])
    last = path.rsplit(".", maxsplit=1)[-1]
    if path in FREE_FORM or tail2 in FREE_FORM or last in FREE_FORM:
        return True
    return bool(
        isinstance(schema.get("additionalProperties"), dict) and not schema.get("properties")
    )


def unknown_keys(
    value: Any, default: Any, schema: dict[str, Any] | None, path: str = ""
) -> list[str]:
    """Keys of ``value`` that the chart does not have (see the module docstring)."""
    schema = _resolve(schema)
    found: list[str] = []
    if isinstance(value, dict):
        if path and _free_form(path, schema):
            return []
        props = schema.get("properties") or {}
        for key, sub in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(default, dict) and default:
                if key in default:
                    sub_default = default[key]
                elif key in props and documented_in_defaults(str(key)):
                    sub_default = None  # shown commented out in values.yaml
                else:
                    found.append(where)
                    continue
            elif key in props:
                sub_default = None
            else:
                found.append(where)
                continue
            found += unknown_keys(sub, sub_default, props.get(key), where)
    elif isinstance(value, list):
        items = schema.get("items")
        item_schema = items if isinstance(items, dict) else None
        for i, item in enumerate(value):
            found += unknown_keys(item, None, item_schema, f"{path}[{i}]")
    return found


def airflow_values(*names: str) -> dict[str, Any]:
    merged = chart_defaults()
    for name in names:
        merged = helm_merge(merged, load_yaml(VALUES / name))
    return merged


COMBINATIONS = [["airflow.yaml"], *[["airflow.yaml", o] for o in OVERLAYS]]


# -- the Airflow chart -----------------------------------------------------------------------
def test_chart_defaults_pass_the_schema() -> None:
    assert schema_errors(chart_defaults()) == []


@pytest.mark.parametrize("files", COMBINATIONS, ids="+".join)
def test_airflow_values_validate_against_the_chart_schema(files: list[str]) -> None:
    assert schema_errors(airflow_values(*files)) == []


@pytest.mark.parametrize("name", AIRFLOW_FILES)
def test_every_airflow_key_exists_in_the_chart(name: str) -> None:
    assert unknown_keys(load_yaml(VALUES / name), chart_defaults(), chart_schema()) == []


@pytest.mark.parametrize("name", AIRFLOW_FILES)
def test_no_unchecked_template_strings(name: str) -> None:
    assert sorted(UNCHECKED_STRINGS & set(load_yaml(VALUES / name))) == []


def test_a_misspelt_key_and_a_bad_value_are_reported() -> None:
    values = load_yaml(VALUES / "airflow.yaml")
    values["scheduler"]["replicaz"] = 2  # misspelt
    values["workers"]["resources"]["limitz"] = {"memory": "1Gi"}  # under an empty default
    values["secret"][0]["secretKee"] = "x"  # inside a list item
    values["pgbouncer"]["maxClientConn"] = "lots"  # schema: integer
    assert unknown_keys(values, chart_defaults(), chart_schema()) == [
        "workers.resources.limitz",
        "scheduler.replicaz",
        "secret[0].secretKee",
    ]
    errors = schema_errors(helm_merge(chart_defaults(), values))
    assert any(e.startswith("pgbouncer.maxClientConn: 'lots' is not of type") for e in errors)
    assert any(e.startswith("scheduler: Additional properties") for e in errors)


# -- airflow.cfg options and AIRFLOW_* variables --------------------------------------------
@cache
def airflow_config_reference() -> dict[str, set[str]]:
    """Sections -> options of Airflow core and every installed provider, read from the
    installed files (config.yml, get_provider_info.py) without importing Airflow."""
    core = importlib.metadata.distribution("apache-airflow-core")
    reference: dict[str, set[str]] = {}
    config_yml = Path(str(core.locate_file("airflow/config_templates/config.yml")))
    for section, body in yaml.safe_load(config_yml.read_text()).items():
        reference.setdefault(section, set()).update((body or {}).get("options") or {})
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        if not name.startswith("apache-airflow-providers-"):
            continue
        for file in dist.files or []:
            if file.name == "get_provider_info.py":
                info = _literal_return(Path(str(dist.locate_file(file))))
                for section, body in (info.get("config") or {}).items():
                    reference.setdefault(section, set()).update(body.get("options") or {})
    return reference


def _literal_return(path: Path) -> dict[str, Any]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict):
            return ast.literal_eval(node.value)
    return {}


@pytest.mark.parametrize("name", AIRFLOW_FILES)
def test_config_options_exist_in_airflow(name: str) -> None:
    reference = airflow_config_reference()
    config = load_yaml(VALUES / name).get("config") or {}
    unknown = [
        f"[{section}] {option}"
        for section, options in config.items()
        for option in options
        if option not in reference.get(section, set())
    ]
    assert unknown == []


def test_the_config_check_catches_a_misspelt_option() -> None:
    reference = airflow_config_reference()
    assert "transport" in reference["openlineage"]
    assert "remote_base_log_folder" in reference["logging"]
    assert "remote_logging" not in reference.get("openlineage", set())
    assert "remote_log_folder" not in reference["logging"]


def test_openlineage_transport_is_http_json() -> None:
    config = load_yaml(VALUES / "airflow.yaml")["config"]["openlineage"]
    transport = json.loads(config["transport"])
    assert transport["type"] == "http"
    assert transport["endpoint"] == "api/v1/lineage"
    assert "{{" not in config["transport"]  # config values go through Helm's tpl


# -- Secrets only ----------------------------------------------------------------------------
def test_connections_come_from_secrets_only() -> None:
    values = airflow_values("airflow.yaml", "prod.yaml")
    by_env = {s["envName"]: s for s in values["secret"]}
    for conn in ("DHUB_CATALOG", "DHUB_STORE", "MLFLOW_DEFAULT", "KUBERNETES_DEFAULT"):
        entry = by_env[f"AIRFLOW_CONN_{conn}"]
        assert entry["secretName"] and entry["secretKey"]
    env_names = {e["name"] for e in values.get("env") or []}
    assert not {n for n in env_names if n.startswith("AIRFLOW_CONN_")}
    assert values["data"]["metadataSecretName"]
    assert values["pgbouncer"]["configSecretName"]
    for key in ("fernetKeySecretName", "apiSecretKeySecretName", "jwtSecretName"):
        assert values[key]


#: Keys whose value would be a credential itself (not the name of a Secret or of a key in one).
CREDENTIAL_KEYS = {
    "password",
    "pass",
    "rootpassword",
    "adminpassword",
    "token",
    "fernetkey",
    "jwtsecret",
    "apisecretkey",
    "webserversecretkey",
    "flaskserversecretkey",
    "awssecretaccesskey",
    "awsaccesskeyid",
    "sshkey",
    "connectionstring",
    "clientsecret",
    "accesskey_secret",
}


def credential_leaks(data: Any, name: str) -> list[str]:
    """Paths in ``data`` holding a credential value (a Secret's name or key name is fine)."""
    leaks: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{where}.{key}"
                credential = str(key).lower() in CREDENTIAL_KEYS or (
                    # the Airflow chart's `secret[].secretKey` names a key of a Secret
                    key == "secretKey" and not where.startswith(f"{name}.secret[")
                )
                if credential and value not in (None, ""):
                    leaks.append(here)
                walk(value, here)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]")
        elif isinstance(node, str) and SECRET_MARKERS.search(node):
            leaks.append(where)

    walk(data, name)
    return leaks


@pytest.mark.parametrize(
    "path",
    sorted(p for p in VALUES.rglob("*.yaml") if p.parent.name != "manifests"),
    ids=lambda p: p.name,
)
def test_no_secret_value_in_any_values_file(path: Path) -> None:
    assert credential_leaks(load_yaml(path), path.name) == []


def test_the_secret_check_catches_credentials() -> None:
    marquez = load_yaml(VALUES / "companions" / "marquez.yaml")
    marquez["marquez"]["db"]["password"] = "macondo"
    assert credential_leaks(marquez, "m") == ["m.marquez.db.password"]
    airflow = load_yaml(VALUES / "airflow.yaml")
    airflow["fernetKey"] = "abc"
    airflow["config"]["core"]["sql_alchemy_conn"] = "postgresql://u:password=x@h/db"
    assert credential_leaks(airflow, "a") == ["a.config.core.sql_alchemy_conn", "a.fernetKey"]


# -- GPU pod templates = the resource profiles -----------------------------------------------
def _profiles_module() -> Any:
    return importlib.import_module("digitalhub_airflow.kube.resource_profiles")


def test_a_gpu_pod_template_per_gpu_profile_matching_it() -> None:
    from kubernetes.client import ApiClient, V1Pod

    profiles = {n: p for n, p in _profiles_module().BUILTIN.items() if p.gpus}
    files = {p.stem: p for p in (VALUES / "pod-templates").glob("*.yaml")}
    assert sorted(files) == sorted(profiles)
    for name, profile in profiles.items():
        doc = load_yaml(files[name])
        spec = doc["spec"]
        (container,) = spec["containers"]
        assert container["name"] == "base"  # the KubernetesExecutor's container
        assert {k: str(v) for k, v in container["resources"]["limits"].items()} == profile.limits
        assert {k: str(v) for k, v in container["resources"]["requests"].items()} == (
            profile.requests
        )
        assert spec["nodeSelector"] == profile.node_selector
        assert spec["tolerations"] == [dict(t) for t in profile.tolerations]
        pod = ApiClient()._ApiClient__deserialize(doc, V1Pod)  # as PodGenerator reads it
        assert pod.spec.containers[0].resources.limits["nvidia.com/gpu"] == str(profile.gpus)


def test_pod_templates_are_mounted_where_the_dag_processor_reads_them() -> None:
    values = load_yaml(VALUES / "airflow.yaml")
    (volume,) = [v for v in values["volumes"] if v["name"] == "dhub-pod-templates"]
    assert volume["configMap"]["optional"] is True
    (mount,) = [m for m in values["volumeMounts"] if m["name"] == "dhub-pod-templates"]
    for path in (VALUES / "pod-templates").glob("*.yaml"):
        assert f"{mount['mountPath']}/{path.name}" in path.read_text()


# -- overlays --------------------------------------------------------------------------------
def test_dev_is_single_replica_and_prod_is_highly_available() -> None:
    dev = airflow_values("airflow.yaml", "dev.yaml")
    assert dev["scheduler"]["replicas"] == 1 and dev["apiServer"]["replicas"] == 1
    assert not dev["scheduler"]["podDisruptionBudget"]["enabled"]
    prod = airflow_values("airflow.yaml", "prod.yaml")
    assert prod["executor"] == "KubernetesExecutor"
    assert prod["scheduler"]["replicas"] == 2 and prod["apiServer"]["replicas"] == 2
    for part in ("scheduler", "apiServer", "pgbouncer"):
        assert prod[part]["podDisruptionBudget"]["enabled"], part
    assert prod["pgbouncer"]["enabled"] and prod["triggerer"]["enabled"]
    assert prod["triggerer"]["replicas"] >= 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_component_has_requests_and_limits(overlay: str) -> None:
    values = airflow_values("airflow.yaml", overlay)
    parts = ["scheduler", "apiServer", "triggerer", "dagProcessor", "workers", "pgbouncer"]
    parts += [p for p in ("statsd", "cleanup") if values[p].get("enabled")]
    for part in parts:
        resources = values[part]["resources"]
        assert resources.get("requests") and resources.get("limits", {}).get("memory"), part
    assert values["dags"]["gitSync"]["resources"]["limits"]


# -- companion charts ------------------------------------------------------------------------
def scalar_type_errors(value: Any, default: Any, path: str = "") -> list[str]:
    """A scalar whose type differs from the default's non-empty scalar of the same key."""
    if isinstance(value, dict) and isinstance(default, dict):
        return [
            e
            for k, v in value.items()
            if k in default
            for e in scalar_type_errors(v, default[k], f"{path}.{k}".lstrip("."))
        ]
    if default in (None, "") or isinstance(default, (dict, list)) or value is None:
        return []
    numeric = (int, float)
    if isinstance(default, bool) != isinstance(value, bool):
        return [path]
    if isinstance(default, numeric) and not isinstance(value, numeric):
        return [path]
    if isinstance(default, str) and not isinstance(value, str):
        return [path]
    return []


@pytest.mark.parametrize(
    ("values_file", "chart"),
    [("marquez.yaml", "marquez-chart"), ("mlflow.yaml", "mlflow-chart")],
)
def test_companion_values_exist_in_their_chart(values_file: str, chart: str) -> None:
    defaults = load_yaml(_shared() / chart / "values.yaml")
    values = load_yaml(VALUES / "companions" / values_file)
    unknown = unknown_keys(values, defaults, {"additionalProperties": False})
    # resources/extraEnvVars are maps of Kubernetes names / variable names in both charts
    assert [k for k in unknown if not re.search(r"resources|extraEnvVars", k)] == []
    assert scalar_type_errors(values, defaults) == []


def test_mlflow_chart_is_the_release_the_values_name() -> None:
    chart = load_yaml(_shared() / "mlflow-chart" / "Chart.yaml")
    text = (VALUES / "companions" / "mlflow.yaml").read_text()
    assert f"{chart['name']} {chart['version']}" in text


@pytest.mark.parametrize("values_file", ["minio.yaml", "postgresql.yaml"])
def test_companions_without_chart_files_parse(values_file: str) -> None:
    # MinIO's and CloudNativePG's chart files are not in ../shared: parsed only.
    assert isinstance(load_yaml(VALUES / "companions" / values_file), dict)
