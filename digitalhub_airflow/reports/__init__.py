"""Shareable reports: a version's profile and validation results as one HTML file."""
