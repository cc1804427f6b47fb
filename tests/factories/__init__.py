"""Builders of test data shared across the suite, by context (fixtures stay in conftest.py files)."""
