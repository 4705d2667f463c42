"""Model training: MLflow-tracked runs on exact dataset versions, hyperparameter search,
and a gated model registry. No Airflow import: operators, the CLI and pods call this."""
