"""One local SparkSession for the whole test session; settings for tiny data, no UI."""

from __future__ import annotations

import os
import sys

import pytest

from pdm_assets_tests.spark_conf import spark_conf_env

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# Every Spark session of this process and of the processes it starts: settings for tiny data.
os.environ["PDM_SPARK_CONF"] = spark_conf_env()


@pytest.fixture(scope="session")
def spark():
    from pdm_assets.resources.spark import build_local_spark

    session = build_local_spark({"spark.master": "local[2]", "spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()
