"""Shared test ground: pytest plugin modules of fixtures, loaded by tests/conftest.py."""
