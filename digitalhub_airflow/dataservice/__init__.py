"""Data services: a dataset version served as REST (PostgREST-style) and GraphQL."""
