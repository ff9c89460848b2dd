"""Shared test ground: pytest plugin modules of fixtures, loaded by tests/conftest.py, and
the helpers that make the inputs of the bad-input corpus (tarballs, SOPS files, trees)."""
