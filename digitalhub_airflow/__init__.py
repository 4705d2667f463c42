"""DigitalHub on Apache Airflow: versioned datasets, validation, lineage, models.

The notebook SDK is :mod:`digitalhub_airflow.sdk` (``import digitalhub_airflow.sdk as
dh``). This package itself stays import-light: DAG files import it.
"""

__version__ = "0.1.0"
