"""Lineage: runs and the relationships between versions and runs, recorded in the commit
transaction and walked by recursive SQL."""
