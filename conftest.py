"""Loaded by pytest for every run in the repository (tests/ and the chapters alike).

It registers the nbval tolerance plugin (tests/nbval_tolerance.py): chapter cells whose
metadata declares a ``tolerance`` have their numbers compared within it, all others exactly.
``pytester`` lets the plugin's own tests run pytest on small notebooks.
"""
pytest_plugins = ["tests.nbval_tolerance", "pytester"]
