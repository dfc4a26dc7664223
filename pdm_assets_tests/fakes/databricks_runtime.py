"""What a Databricks cluster's driver provides to a ``spark_python_task``, for the stand-in.

Run as ``python databricks_runtime.py <python_file> <parameters...>`` by ``FakeDatabricks``: it
starts a local SparkSession (UTC, two cores, small shuffles: a cluster's own Spark settings),
defines the ``sc`` and ``dbutils`` globals the Databricks runtime injects, and runs the file as
``__main__``. The project's editable install is hidden first, so the code under test is the code
the launcher shipped, as on a real cluster.
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


def main() -> None:
    _hide_editable_install()
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("databricks-standin")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config(
            "spark.driver.extraJavaOptions",
            os.environ.get("PDM_STANDIN_DRIVER_JAVA_OPTIONS", "-Duser.timezone=UTC"),
        )
        .getOrCreate()
    )
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
        spark.stop()


if __name__ == "__main__":
    main()
