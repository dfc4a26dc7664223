"""A class-data-sharing archive of Spark's JVM classes, so a new Spark process starts warm.

Every process that starts local Spark (a daemon-launched run, a CLI command, a Databricks or
cluster step's driver) loads and verifies some ten thousand Spark classes from the jars before its
first job. A dynamic CDS archive (JDK 13+) made once after install maps them ready-made: on this
2-core machine a cold process reached its first written partition in 9 s instead of 14-18 s.

``pdm-assets class-archive`` (run by ``make install``) writes the archive; the local Spark
configuration uses it when the file exists. A JVM that cannot use it (another JDK, another Spark
jar set) prints nothing and loads classes as usual: the archive is only ever a speed-up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARCHIVE_ENV = "PDM_SPARK_CLASS_ARCHIVE"  # a path, or "off"
QUIET_CDS = "-Xlog:cds=off -Xlog:cds+dynamic=off"  # an unusable archive is not worth a warning


def archive_path() -> Path | None:
    """PDM_SPARK_CLASS_ARCHIVE, else the one ``make install`` writes into the environment."""
    value = os.environ.get(ARCHIVE_ENV, "")
    if value.lower() == "off":
        return None
    if value:
        return Path(value)
    import pyspark

    return Path(sys.prefix) / "share" / "pdm-assets" / f"spark-{pyspark.__version__}.jsa"


def with_class_archive(java_options: str) -> str:
    """``java_options`` plus the archive, unless there is none or the options choose their own."""
    path = archive_path()
    if path is None or not path.is_file() or "Archive" in java_options:
        return java_options
    return f"{java_options} -XX:SharedArchiveFile={path} {QUIET_CDS}".strip()


def build_class_archive(target: Path, timeout: float = 600.0) -> float:
    """Runs ``warm_up`` in a fresh process whose JVM dumps its loaded classes at exit.

    Returns the seconds it took. The archive is written beside ``target`` and renamed over it
    only when complete, so a failed build leaves the old archive (or none) in place.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    java = f"-Duser.timezone=UTC -XX:ArchiveClassesAtExit={partial} {QUIET_CDS}"
    env = {
        **os.environ,
        ARCHIVE_ENV: "off",
        "PDM_SPARK_CONF": f"spark.driver.extraJavaOptions={java}",
    }
    env.pop("PDM_SPARK_MASTER", None)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pdm-class-archive-") as work:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pdm_assets.resources.class_archive", work],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # the JVM joins this group: wait for it too
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
            _wait_for_group(proc.pid, timeout)  # the JVM writes the archive as it exits
        except (subprocess.TimeoutExpired, TimeoutError):
            _kill_group(proc)
            partial.unlink(missing_ok=True)
            raise TimeoutError(
                f"the class-archive warm-up did not finish within {timeout:.0f} s; "
                "it was stopped and no archive was written"
            ) from None
    if proc.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"the class-archive warm-up failed:\n{output[-4000:]}")
    os.replace(partial, target)
    return time.monotonic() - t0


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()
    _wait_for_group(proc.pid, 30.0)


def _wait_for_group(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the warm-up's JVM (process group {pgid}) did not exit")


def warm_up(work: Path) -> None:
    """The kinds of Spark work the platform does, on a few rows: CSV parsing with a corrupt-record
    column, pandas through Arrow, windows, joins, aggregates, partitioned parquet writes and
    reads, Hadoop file renames, and an MLlib random forest fitted, saved, loaded and applied."""
    import numpy as np
    import pandas as pd
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import StringIndexer, VectorAssembler
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from pdm_assets.resources.spark import build_local_spark

    spark = build_local_spark({"spark.master": "local[2]", "spark.sql.shuffle.partitions": "2"})
    rng = np.random.default_rng(0)
    hours = pd.date_range("2015-01-01", periods=96, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {
            "datetime": np.tile(hours, 3),
            "machineID": np.repeat([1, 2, 3], len(hours)),
            "volt": rng.normal(170, 10, 3 * len(hours)),
            "failure": rng.choice(["none", "comp1", "comp2"], 3 * len(hours)),
        }
    )
    telemetry = spark.createDataFrame(frame).withColumn("dt", F.to_date("datetime"))

    csv = work / "raw.csv"
    csv.write_text("datetime,machineID,volt\n2015-01-01 06:00:00,1,170.5\nbad,row\n")
    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in ("datetime", "machineID", "volt")]
        + [T.StructField("_corrupt_record", T.StringType())]
    )
    parsed = spark.read.csv(str(csv), header=True, schema=schema, mode="PERMISSIVE")
    parsed.select(F.try_to_timestamp("datetime"), F.col("volt").try_cast("double")).collect()

    by_time = Window.partitionBy("machineID").orderBy(F.col("datetime").cast("long"))
    features = telemetry.select(
        "*",
        F.avg("volt").over(by_time.rangeBetween(-86400, 0)).alias("volt_mean_24h"),
        F.stddev("volt").over(by_time.rowsBetween(-23, 0)).alias("volt_sd_24h"),
        F.lag("volt").over(by_time).alias("volt_before"),
        F.row_number().over(by_time).alias("n"),
    ).fillna(0.0)
    daily = features.groupBy("machineID", "dt").agg(F.count("*").alias("rows"), F.max("volt"))
    joined = features.join(daily, ["machineID", "dt"], "left").cache()

    table = work / "tables" / "features"
    joined.write.mode("overwrite").partitionBy("dt").parquet(str(table / "_staging"))
    jvm = spark.sparkContext._jvm
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    staging = jvm.org.apache.hadoop.fs.Path(str(table / "_staging"))
    staging.getFileSystem(hadoop).rename(staging, jvm.org.apache.hadoop.fs.Path(str(table / "v1")))
    stored = spark.read.parquet(str(table / "v1")).where(F.col("dt") >= "2015-01-02")

    assembler = VectorAssembler(
        inputCols=["volt", "volt_mean_24h", "volt_sd_24h", "volt_before"],
        outputCol="features",
        handleInvalid="keep",
    )
    pipeline = Pipeline(
        stages=[
            StringIndexer(inputCol="failure", outputCol="label"),
            assembler,
            RandomForestClassifier(numTrees=4, maxDepth=3, seed=1),
        ]
    )
    model = pipeline.fit(stored)
    model.write().overwrite().save(str(work / "model"))
    scored = PipelineModel.load(str(work / "model")).transform(stored)
    risk = scored.select("machineID", "datetime", vector_to_array("probability")[1].alias("risk"))
    risk.orderBy(F.desc("risk")).limit(5).toPandas()
    joined.unpersist()
    spark.stop()


if __name__ == "__main__":
    warm_up(Path(sys.argv[1]))
