"""Spark settings for every test process, in-process or spawned.

Test data is tiny (a few machines, a few weeks), so a Spark query costs its planning and code
generation more than its work: whole-stage code generation (a Janino compile per new plan) and
adaptive re-planning were about a sixth of the correction re-flow scenario's wall time (149 s
mean of three runs with them, 122 s without). Spark's interpreted evaluation gives the same
rows; `make demo`, the benchmarks and every deployment keep Spark's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

TEST_SPARK_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
}


def spark_conf_env(extra: Mapping[str, str] | None = None) -> str:
    """The settings, plus ``extra``, as ``PDM_SPARK_CONF`` takes them ("k=v,k=v")."""
    conf = {**TEST_SPARK_CONF, **(extra or {})}
    return ",".join(f"{key}={value}" for key, value in conf.items())
