"""Spark settings for every test process, in-process or spawned.

Test data is tiny (a few machines, a few weeks), so a Spark query costs its planning and code
generation more than its work: whole-stage code generation (a Janino compile per new plan) and
adaptive re-planning were about a sixth of the correction re-flow scenario's wall time (149 s
mean of three runs with them, 122 s without). Spark's interpreted evaluation gives the same
rows; `make demo`, the benchmarks and every deployment keep Spark's defaults.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pyspark.sql import SparkSession

TEST_SPARK_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
}


# A JVM that lives well under a minute spends its second core on C2 compiles it never gets to
# use: the client JIT alone (C1) took a fresh process's raw + features + labels of 3 machines
# from 21 s to 17 s, and the whole model path from 47 s to 42 s. Processes that live longer
# (the test session's own JVM, the re-flow scenario, the Databricks stand-in's warm driver, the
# published-files demo) were slower with it, so only the short-lived ones opt in.
SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1"


# Two test processes share the two cores all the time, so G1's concurrent threads and write
# barriers take CPU from the other one; a test JVM's few hundred MB live fine with the serial
# collector's short pauses. The whole suite, back to back: 810 s and 1,530 busy CPU-s with G1,
# 749 s and 1,397 with it.
TEST_JVM = "-XX:+UseSerialGC"


def spark_conf_env(extra: Mapping[str, str] | None = None, *, short_lived: bool = False) -> str:
    """The settings, plus ``extra``, as ``PDM_SPARK_CONF`` takes them ("k=v,k=v").

    Every JVM (driver, and executors on a cluster) uses the serial collector; ``short_lived``:
    C1 only too.
    """
    from pdm_assets.resources.spark import LOCAL_SPARK_CONF

    conf = {**TEST_SPARK_CONF, **(extra or {})}
    java = f"{TEST_JVM} {SHORT_LIVED_JVM}" if short_lived else TEST_JVM
    for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
        conf[key] = f"{conf.get(key, LOCAL_SPARK_CONF[key])} {java}"
    return ",".join(f"{key}={value}" for key, value in conf.items())


# Spark's defaults for the settings above, for the few tests with real volumes (they run faster
# with generated code: the 288,000-row quality test, run alone, 31 s with it and 39 s without).
SPARK_DEFAULTS: dict[str, str] = {
    "spark.sql.codegen.wholeStage": "true",
    "spark.sql.codegen.factoryMode": "FALLBACK",
    "spark.sql.adaptive.enabled": "true",
}


@contextmanager
def spark_defaults(spark: SparkSession) -> Iterator[None]:
    """Spark's own code generation and adaptive execution inside the block, then whatever the
    session had before."""
    before = {key: spark.conf.get(key) for key in SPARK_DEFAULTS}
    for key, value in SPARK_DEFAULTS.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            spark.conf.set(key, value)
