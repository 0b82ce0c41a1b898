"""Test helpers shared across the suite: models whose answers are known, phantoms, scenes, paths.

Plain classes and functions only; fixtures live in the ``conftest.py`` files.
"""
