"""One local SparkSession for the whole test session; small shuffles, no UI."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark():
    from pdm_assets.resources.spark import build_local_spark

    session = build_local_spark({"spark.master": "local[2]", "spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()
