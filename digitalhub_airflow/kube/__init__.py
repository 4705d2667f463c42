"""Kubernetes without Airflow: named resource profiles for pods and model servers."""
