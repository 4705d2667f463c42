"""Data quality: Great Expectations suites, validation results, profiles and drift."""
