"""One local SparkSession per test process; settings for tiny data, no UI.

The suite runs on two pytest-xdist workers (setup.cfg), a module at a time: on two cores one
worker leaves about a third of the CPU idle (Spark on tiny data, waits on spawned processes).
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import pytest

from pdm_assets_tests.spark_conf import spark_conf_env

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# Every Spark session of this process and of the processes it starts: settings for tiny data.
os.environ["PDM_SPARK_CONF"] = spark_conf_env()

# An xdist worker's ``__main__`` is execnet's ``python -c``: no ``__spec__``, no ``__file__``.
# pyspark takes such a process for a doctest run and exits when MLflow imports
# ``pyspark.ml.connect`` (pyspark/sql/connect/utils.py), which Dagster reports as an interrupted
# step. Point it at an empty module (multiprocessing's spawned children run it; it does nothing).
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = str(Path(__file__).with_name("xdist_main.py"))

# Modules whose tests use one of these package-scoped fixtures share a worker, so it is built once.
SHARED_FIXTURES = ("live_stack", "model_history", "january")
# Queued first, longest first, so the two workers finish together (seconds of one worker,
# measured with --durations); the rest follow in collection order.
LONG_FIRST = (
    "live_stack",  # 108
    "e2e/test_databricks.py",  # 99
    "reliability/test_correction_reflow.py",  # 88
    "test_benchmarks.py",  # 68
    "model_history",  # 66
    "transforms/test_model.py",  # 61
    "january",  # 54
    "reliability/test_concurrent_runs.py",  # 48
    "test_docs_commands.py",  # 47
    "test_published_files.py",  # 47
    "assets/test_feature_assets.py",  # 44
    "e2e/test_spark_cluster.py",  # 34
    "transforms/test_partition_equivalence.py",  # 34
    "reliability/test_killed_runs.py",  # 27
)


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0].removeprefix("pdm_assets_tests/")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One xdist group per module, or per shared fixture; long groups first."""
    shared_by_module: dict[str, str] = {}
    for item in items:
        shared = [f for f in SHARED_FIXTURES if f in getattr(item, "fixturenames", ())]
        if shared:
            shared_by_module[_module(item)] = shared[0]
    group = {item: shared_by_module.get(_module(item), _module(item)) for item in items}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(group[item]))

    def rank(item: pytest.Item) -> int:
        return LONG_FIRST.index(group[item]) if group[item] in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)  # stable: collection order within a rank


LONG_SETUP_SECONDS = 10


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest):
    """Shared fixtures say on the terminal what they build, and the long ones how long it took:
    pytest shows nothing of a worker's tests until each ends, and the live stack takes minutes."""
    if fixturedef.scope not in ("module", "package"):
        yield
        return
    name = f"{fixturedef.argname} ({request.node.nodeid.removeprefix('pdm_assets_tests/')})"
    progress(request.config, f"setting up {name}")
    started = time.monotonic()
    outcome = yield
    seconds = time.monotonic() - started
    failed = outcome.excinfo is not None
    if failed or seconds >= LONG_SETUP_SECONDS:
        progress(request.config, f"{name} {'failed' if failed else 'ready'} after {seconds:.0f} s")


def progress(config: pytest.Config, message: str) -> None:
    """A timestamped line on the real stderr, which an xdist worker shares with pytest's own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    line = f"\n[{time.strftime('%H:%M:%S')}{' ' + worker if worker else ''}] {message}"
    capture = config.pluginmanager.getplugin("capturemanager")  # None with -p no:capture
    with capture.global_and_fixture_disabled() if capture else nullcontext():
        print(line, file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def spark():
    from pdm_assets.resources.spark import build_local_spark

    session = build_local_spark({"spark.master": "local[2]", "spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()
