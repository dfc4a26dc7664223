"""Re-importing the asset modules under other settings, inside the test session.

Asset partitions are fixed when their modules are imported, so settings must be in the
environment before that, as they are for the CLI, the webserver and the daemon (each a new
process). A scenario that needs other partitions could start a process of its own, but that
process pays a cold Spark JVM (about half of a short scenario's time); inside the session it
reuses the session's warm one. Earlier tests imported the modules with other settings: they are
dropped for the block so the scenario imports them after its settings, then restored.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest

PREFIXES = ("pdm_assets.assets", "pdm_assets.definitions", "pdm_assets.automation")
SETTINGS = ("PDM_", "DAGSTER_", "MLFLOW_")
# The session's own Spark settings: its SparkSession exists already, so they stay.
SESSION_SPARK = ("PDM_SPARK_MASTER", "PDM_SPARK_CONF", "PYSPARK_PYTHON")


@contextmanager
def fresh_asset_modules(*extra: str) -> Iterator[None]:
    """Inside the block, the asset, definition and automation modules (and ``extra`` module
    prefixes) import anew; after it, the session's own come back."""
    prefixes = (*PREFIXES, *extra)
    saved = {k: m for k, m in sys.modules.items() if k.startswith(prefixes)}
    for key in saved:
        del sys.modules[key]
    try:
        yield
    finally:
        for key in [k for k in sys.modules if k.startswith(prefixes)]:
            del sys.modules[key]
        sys.modules.update(saved)


@contextmanager
def in_session_with(env: Mapping[str, str], *extra: str) -> Iterator[None]:
    """Inside the block, the settings (``PDM_``, ``DAGSTER_``, ``MLFLOW_`` variables) are those
    of ``env``, a spawned process's environment, and the asset modules (and ``extra`` module
    prefixes) import anew for them; the session's Spark settings stay. Everything is as before
    afterwards."""

    def swapped(name: str) -> bool:
        return name.startswith(SETTINGS) and name not in SESSION_SPARK

    with pytest.MonkeyPatch.context() as mp, fresh_asset_modules(*extra):
        for name in [n for n in os.environ if swapped(n)]:
            mp.delenv(name)
        for name, value in env.items():
            if swapped(name):
                mp.setenv(name, value)
        yield
