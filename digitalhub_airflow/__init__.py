"""DigitalHub on Apache Airflow: versioned datasets, validation, lineage, models."""

__version__ = "0.1.0"
