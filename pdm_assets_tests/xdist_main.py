"""Stands in for ``__main__`` in a pytest-xdist worker (see conftest.py); does nothing."""
