"""Watching served models: drift of logged requests against training data, and the
servers' own statistics."""
