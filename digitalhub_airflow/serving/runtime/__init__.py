"""The model server (`dhub serve`): protocols, loaded models, pipelines, metrics, the
request log and the API-key gate."""
