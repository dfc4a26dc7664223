"""One local SparkSession per test process; small shuffles, no UI.

The suite runs on two pytest-xdist workers (setup.cfg). Each module is one xdist group, so a
module's fixtures (a built history, a landing zone, a stand-in) are built once, on one worker;
the live Dagster stack's modules share one group because they share that session fixture. The
longest groups are queued first so the two workers finish together.
"""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

# Groups that share a session fixture: one worker builds it once.
SHARED_GROUPS = {
    "e2e/test_live_dagster.py": "live-dagster",
    "e2e/test_browser.py": "live-dagster",
    "reliability/test_secrets.py": "reliability/january",
    "reliability/test_model_registry.py": "reliability/january",
}
# Queued first: the groups that take minutes (measured with --durations on 2 cores).
LONG_FIRST = (
    "reliability/test_correction_reflow.py",
    "live-dagster",
    "e2e/test_databricks.py",
    "bad_input/test_corpus.py",
    "test_docs_commands.py",
    "e2e/test_spark_cluster.py",
    "reliability/",
    "test_published_files.py",
)


def _group(item: pytest.Item) -> str:
    module = item.nodeid.split("::")[0].removeprefix("pdm_assets_tests/")
    return SHARED_GROUPS.get(module, module)


def _rank(group: str) -> int:
    for rank, prefix in enumerate(LONG_FIRST):
        if group.startswith(prefix):
            return rank
    return len(LONG_FIRST)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
    items.sort(key=lambda item: _rank(_group(item)))  # stable: module order kept within a rank


@pytest.fixture(scope="session")
def spark():
    from pdm_assets.resources.spark import build_local_spark

    session = build_local_spark({"spark.master": "local[2]", "spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()
