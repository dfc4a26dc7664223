"""What a Databricks cluster's driver provides to a ``spark_python_task``, for the stand-in.

Run as ``python databricks_runtime.py <python_file> <parameters...>`` by ``FakeDatabricks``: it
starts a local SparkSession (UTC, two cores, small shuffles: a cluster's own Spark settings),
defines the ``sc`` and ``dbutils`` globals the Databricks runtime injects, and runs the file as
``__main__``. The project's editable install is hidden first, so the code under test is the code
the launcher shipped, as on a real cluster.

On the existing cluster the task's Python attaches to the cluster's driver JVM, which is already
up and warm (``PYSPARK_GATEWAY_PORT``/``_SECRET``, as on Databricks): ``python
databricks_runtime.py --driver <info_file>`` starts that JVM once and keeps it until its stdin
closes. Each task gets a fresh SparkContext in it and stops it when done.
"""

import json
import os
import runpy
import shutil
import sys
from pathlib import Path

DBFS_ROOT = Path(os.environ["PDM_STANDIN_DBFS_ROOT"])


def _local(path: str) -> Path:
    for prefix in ("dbfs:", "/dbfs/"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    return DBFS_ROOT / path.lstrip("/")


class _Fs:
    def ls(self, path: str) -> list[str]:
        return sorted(str(p) for p in _local(path).iterdir())

    def head(self, path: str, max_bytes: int = 65536) -> str:
        return _local(path).read_bytes()[:max_bytes].decode()

    def put(self, path: str, contents: str, overwrite: bool = False) -> bool:
        target = _local(path)
        if target.exists() and not overwrite:
            raise FileExistsError(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(contents)
        return True

    def mkdirs(self, path: str) -> bool:
        _local(path).mkdir(parents=True, exist_ok=True)
        return True

    def rm(self, path: str, recurse: bool = False) -> bool:
        target = _local(path)
        if target.is_dir():
            shutil.rmtree(target) if recurse else target.rmdir()
        elif target.exists():
            target.unlink()
        return True


class _Secrets:
    def __init__(self) -> None:
        self._values = json.loads(os.environ.get("PDM_STANDIN_SECRETS", "{}"))

    def get(self, scope: str, key: str) -> str:
        try:
            return self._values[f"{scope}/{key}"]
        except KeyError:
            raise KeyError(f"Secret does not exist with scope: {scope} and key: {key}") from None


class DBUtils:
    fs = _Fs()
    secrets = _Secrets()


def _hide_editable_install() -> None:
    # This file's folder (sys.path[0]) holds the stand-in's ``databricks.py``, which would hide
    # the ``databricks`` namespace package of databricks-sdk.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != here]
    sys.meta_path[:] = [
        finder
        for finder in sys.meta_path
        if "__editable__" not in getattr(finder, "__module__", "")
    ]
    sys.modules.pop("pdm_assets", None)


CLUSTER_CONF = {
    "spark.master": "local[2]",
    "spark.app.name": "databricks-standin",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    # pdm_assets_tests/spark_conf.py's settings for tiny data (this file runs without the repo)
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
    "spark.ui.enabled": "false",
}


def _cluster_conf() -> dict[str, str]:
    java = os.environ.get("PDM_STANDIN_DRIVER_JAVA_OPTIONS", "-Duser.timezone=UTC")
    return {**CLUSTER_CONF, "spark.driver.extraJavaOptions": java}


def driver(info_file: str) -> None:
    """The cluster's driver JVM: started once, its gateway written to ``info_file``, kept until
    this process's stdin closes (the JVM exits with its parent)."""
    from pyspark import SparkConf
    from pyspark.java_gateway import launch_gateway

    gateway = launch_gateway(SparkConf(loadDefaults=False).setAll(_cluster_conf().items()))
    # A ClientServer (pinned threads, pyspark's default) or a JavaGateway.
    params = getattr(gateway, "java_parameters", None) or gateway.gateway_parameters
    info = {"port": params.port, "secret": params.auth_token}
    partial = Path(info_file + ".partial")
    partial.write_text(json.dumps(info))
    partial.replace(info_file)
    sys.stdin.read()


def _stop_leftover_context() -> None:
    """A cancelled task's process is killed without stopping its SparkContext; the JVM allows
    one active context, so the next task ends it first."""
    from pyspark import SparkContext

    SparkContext._ensure_initialized()
    # ``getActive`` is on the Scala companion object, which has no static forwarder for it.
    companion = getattr(getattr(SparkContext._jvm.org.apache.spark, "SparkContext$"), "MODULE$")
    active = companion.getActive()
    if active.isDefined():
        print("standin: stopping a SparkContext left by an earlier task", flush=True)
        active.get().stop()


def main() -> None:
    _hide_editable_install()
    from pyspark.sql import SparkSession

    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        _stop_leftover_context()
    builder = SparkSession.builder
    for key, value in _cluster_conf().items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    script, *parameters = sys.argv[1:]
    sys.argv = [script, *parameters]
    try:
        runpy.run_path(
            script,
            init_globals={"sc": spark.sparkContext, "dbutils": DBUtils()},
            run_name="__main__",
        )
    finally:
        module = sys.modules.get("pdm_assets")
        print(f"standin: pdm_assets loaded from {getattr(module, '__file__', None)}", flush=True)
        jvm_pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
        print(f"standin: driver JVM pid {jvm_pid}", flush=True)
        spark.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--driver"]:
        driver(sys.argv[2])
    else:
        main()
