"""What Airflow's ProvidersManager learns about the suite (``apache_airflow_provider``).

Plain data, no Airflow import: Airflow calls this while it configures itself.
"""

from __future__ import annotations

from typing import Any

from digitalhub_airflow import __version__


def get_provider_info() -> dict[str, Any]:
    integration = "DigitalHub"
    return {
        "package-name": "digitalhub-airflow",
        "name": "DigitalHub",
        "description": "Versioned datasets, validation, lineage, models and serving on Airflow.",
        "versions": [__version__],
        "integrations": [{"integration-name": integration, "tags": ["software"]}],
        "hooks": [
            {
                "integration-name": integration,
                "python-modules": [
                    "digitalhub_airflow.hooks.digitalhub",
                    "digitalhub_airflow.hooks.mlflow",
                    "digitalhub_airflow.hooks.kubernetes_apply",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": integration,
                "python-modules": [
                    "digitalhub_airflow.operators.commit",
                    "digitalhub_airflow.operators.tag",
                    "digitalhub_airflow.operators.quality",
                    "digitalhub_airflow.operators.transform",
                    "digitalhub_airflow.operators.training",
                    "digitalhub_airflow.operators.pods",
                    "digitalhub_airflow.operators.serving",
                    "digitalhub_airflow.operators.data_service",
                    "digitalhub_airflow.operators.monitoring",
                    "digitalhub_airflow.operators.notebook",
                    "digitalhub_airflow.operators.features",
                ],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "digitalhub_airflow.hooks.mlflow.MlflowHook",
                "connection-type": "mlflow",
            }
        ],
        "extra-links": ["digitalhub_airflow.provider.links.CatalogVersionsLink"],
        "sensors": [
            {
                "integration-name": integration,
                "python-modules": ["digitalhub_airflow.sensors.version"],
            }
        ],
        "triggers": [
            {
                "integration-name": integration,
                "python-modules": [
                    "digitalhub_airflow.triggers.version",
                    "digitalhub_airflow.triggers.rollout",
                ],
            }
        ],
        "asset-uris": [
            {"schemes": ["store"], "handler": "digitalhub_airflow.provider.asset_uri.sanitize_uri"}
        ],
        "plugins": [
            {
                "name": "digitalhub",
                "plugin-class": "digitalhub_airflow.plugins.plugin.DigitalHubPlugin",
            }
        ],
    }
