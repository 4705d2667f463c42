"""Feature store: Feast feature views over catalog datasets, glued to lineage.

Definitions are Feast objects in Python files in git (``dags/features/``); a feature
view's ``FileSource`` names a catalog dataset by key (``path="store://…"``), which is
resolved to an exact version's Parquet files before Feast sees it. Feast keeps the
registry, the offline joins and the online store; this package adds the catalog
(versions, digests, runs and edges) around each of its calls. Feast is imported lazily.
"""
