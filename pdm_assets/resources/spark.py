"""The local SparkSession: one per process, UTC, small shuffles, UI off unless asked."""

import json
import os
import sys
from collections.abc import Mapping

import pyspark
from dagster_pyspark import LazyPySparkResource
from pyspark.sql import SparkSession

from pdm_assets.resources.class_archive import with_class_archive

LISTING_THRESHOLD = "spark.sql.sources.parallelPartitionDiscovery.threshold"
LOCAL_SPARK_CONF: dict[str, str] = {
    "spark.master": "local[*]",
    "spark.app.name": "pdm-assets",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Holds a year of 1,000 machines and the platform's forest (60 trees of depth 10) within the
    # 4 GB target (JVM ~2.8 GB + Python); bigger forests (the reference's 200/15) need 4g.
    "spark.driver.memory": "2g",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.sources.partitionOverwriteMode": "static",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    # Reading more than 32 partition folders started a Spark job to list them; on local disk the
    # driver lists a year of folders faster than that job starts.
    LISTING_THRESHOLD: "1024",
}
# Settings that only suit one machine's local disk and memory.
LOCAL_ONLY = ("spark.driver.memory", LISTING_THRESHOLD)


def env_spark_conf() -> dict[str, str]:
    """Overrides from the environment: PDM_SPARK_MASTER and PDM_SPARK_CONF="k=v,k=v"."""
    conf: dict[str, str] = {}
    if os.environ.get("PDM_SPARK_MASTER"):
        conf["spark.master"] = os.environ["PDM_SPARK_MASTER"]
    for item in filter(None, os.environ.get("PDM_SPARK_CONF", "").split(",")):
        key, _, value = item.partition("=")
        conf[key.strip()] = value.strip()
    if os.environ.get("PDM_SPARK_UI", "").lower() in ("1", "true", "yes"):
        conf["spark.ui.enabled"] = "true"
    return conf


def local_spark_conf(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    return _with_driver_class_archive({**LOCAL_SPARK_CONF, **(overrides or {}), **env_spark_conf()})


def _with_driver_class_archive(conf: dict[str, str]) -> dict[str, str]:
    """The driver JVM starts from the class archive ``make install`` wrote, when there is one."""
    key = "spark.driver.extraJavaOptions"
    return {**conf, key: with_class_archive(conf.get(key, ""))}


def _local_process_env() -> None:
    # Workers must run the same interpreter as the driver (the venv's), not whatever is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode needs no other interface
    # The jars by their real path, whatever link the venv was reached through: the class
    # archive only maps for the class path it was made with.
    os.environ.setdefault("SPARK_HOME", os.path.realpath(os.path.dirname(pyspark.__file__)))


def build_local_spark(overrides: Mapping[str, str] | None = None) -> SparkSession:
    _local_process_env()
    builder = SparkSession.builder
    for key, value in local_spark_conf(overrides).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


class SparkSessionResource(LazyPySparkResource):
    """dagster-pyspark's lazy session, started only when an asset or IO manager first needs it.

    Sets PYSPARK_PYTHON first so Python workers run the interpreter Dagster runs in.
    """

    def _init_session(self) -> None:
        _local_process_env()
        if self._spark_session is None:
            self._spark_session = _reuse_session(self.spark_config)
        super()._init_session()
        _remember_session(self._spark_session, self.spark_config)


# Dagster builds the resource anew for every run (and every resource that depends on it), and
# ``getOrCreate`` on the running session re-applies every setting, several JVM calls each. The
# session this process configured last, and with what, lets an identical request skip that.
_configured: tuple[int, str] | None = None


def _config_key(spark_config: Mapping[str, object]) -> str:
    return json.dumps(spark_config, sort_keys=True, default=str)


def _reuse_session(spark_config: Mapping[str, object]) -> SparkSession | None:
    session = SparkSession._instantiatedSession
    if session is None or _configured != (id(session), _config_key(spark_config)):
        return None
    if getattr(session.sparkContext, "_jsc", None) is None:  # stopped
        return None
    return session


def _remember_session(session: SparkSession | None, spark_config: Mapping[str, object]) -> None:
    global _configured
    if session is not None:
        _configured = (id(session), _config_key(spark_config))


def local_spark_resource(overrides: Mapping[str, str] | None = None) -> SparkSessionResource:
    return SparkSessionResource(spark_config=local_spark_conf(overrides))


class ClusterSparkSessionResource(SparkSessionResource):
    """A session on a cluster, or the one a cluster's runtime already made (Databricks).

    Unlike the local resource it leaves the environment alone: on a real cluster the driver's
    address and the executors' Python are the cluster's business, not this process's.
    """

    def _init_session(self) -> None:
        LazyPySparkResource._init_session(self)


def cluster_spark_conf(master: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The local defaults minus what only suits one machine, pointed at ``master``."""
    if not master.startswith(("spark://", "yarn", "k8s://", "mesos://")):
        raise ValueError(
            f"PDM_SPARK_MASTER={master!r} is not a cluster master URL (spark://host:port, yarn, "
            "k8s://...); Spark Connect (sc://) is not supported: the table store swaps "
            "partitions through Hadoop's FileSystem API, which needs the JVM gateway"
        )
    conf = {k: v for k, v in LOCAL_SPARK_CONF.items() if k not in LOCAL_ONLY}
    conf = {**conf, **(overrides or {}), **env_spark_conf(), "spark.master": master}
    return _with_driver_class_archive(conf)


def cluster_spark_resource(
    master: str, overrides: Mapping[str, str] | None = None
) -> ClusterSparkSessionResource:
    return ClusterSparkSessionResource(spark_config=cluster_spark_conf(master, overrides))


def attached_spark_resource() -> ClusterSparkSessionResource:
    """The session the runtime already made (a Databricks cluster): no configuration of ours."""
    return ClusterSparkSessionResource(spark_config={})
