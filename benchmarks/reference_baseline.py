"""The reference approach (the Azure predictive-maintenance notebooks' logic) as one PySpark script.

No Dagster, no partitions, no incremental work: every stage recomputes the whole history.

- ingest: the four event tables and the inventory into Spark, cached (the notebooks load CSVs; here
  the same seeded simulator the platform reads, so both sides start from identical rows);
- features: hourly rolling mean/std of the four sensors over the last 12, 24 and 36 *rows*, error
  counts over the last 24 rows, then rows rounded to the nearest 12 hours and averaged per bucket;
  days since each component's last replacement by joining every bucket with all earlier
  replacements of its machine; machine model and age;
- labels: the component of a failure in this or the next 7 twelve-hour rows (8 rows), else "none";
- training: StringIndexer + VectorAssembler + RandomForestClassifier (200 trees, depth 15 by
  default), one fit on the rows whose 8-row look-ahead ended before the scored month;
- scoring: the fitted pipeline on the scored days, written to parquet.

    from reference_baseline import run_reference
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import date, datetime, timedelta

from pyspark.ml import Pipeline
from pyspark.ml.classification import RandomForestClassifier
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

SENSORS = ("volt", "rotate", "pressure", "vibration")
ERRORS = ("error1", "error2", "error3", "error4", "error5")
COMPONENTS = ("comp1", "comp2", "comp3", "comp4")
MODELS = ("model1", "model2", "model3", "model4")
LAGS = (12, 24, 36)
LABEL_ROWS = 8  # twelve-hour rows: the row itself and the next 7
BUCKET_SECONDS = 12 * 3600


def _bucket(col: str = "datetime") -> F.Column:
    """Rounded to the nearest 12 hours (the notebooks' ``dt_truncated``)."""
    seconds = F.unix_timestamp(F.col(col)).cast("double")
    return F.timestamp_seconds(F.round(seconds / BUCKET_SECONDS) * BUCKET_SECONDS)


def load_tables(
    spark: SparkSession, machines: int, first: date, end: date, history_start: date, seed: int = 42
) -> dict[str, DataFrame]:
    """The simulator's tables for [first, end) (maintenance from history_start), cached."""
    from pdm_assets.simulator import FleetSimulator

    sim = FleetSimulator(n_machines=machines, seed=seed, history_start=history_start)
    frames = {
        "telemetry": sim.telemetry(first, end),
        "errors": sim.errors(first, end),
        "maintenance": sim.maintenance(history_start, end),
        "failures": sim.failures(first, end),
        "machines": sim.machines(),
    }
    out = {}
    for name, pdf in frames.items():
        df = spark.createDataFrame(pdf) if len(pdf) else None
        if df is None:  # an empty table still needs its columns
            df = spark.createDataFrame(pdf.astype(str))
        out[name] = df.cache()
        out[name].count()
    return out


def telemetry_features(telemetry: DataFrame) -> DataFrame:
    """Rolling mean/std over the last 12/24/36 rows per machine, averaged per 12-hour bucket."""
    aggs = []
    for lag in LAGS:
        w = Window.partitionBy("machineID").orderBy("datetime").rowsBetween(-(lag - 1), 0)
        for s in SENSORS:
            aggs.append(F.avg(s).over(w).alias(f"{s}_mean_{lag}h"))
            aggs.append(F.stddev(s).over(w).alias(f"{s}_sd_{lag}h"))
    rolled = telemetry.select("machineID", "datetime", *aggs)
    names = [c for c in rolled.columns if c not in ("machineID", "datetime")]
    return rolled.groupBy("machineID", _bucket().alias("dt")).agg(
        *[F.avg(c).alias(c) for c in names]
    )


def error_features(telemetry: DataFrame, errors: DataFrame) -> DataFrame:
    """Error counts over the last 24 hourly rows, per 12-hour bucket."""
    hourly = (
        errors.groupBy("machineID", "datetime").pivot("errorID", list(ERRORS)).count().fillna(0)
    )
    grid = telemetry.select("machineID", "datetime").join(hourly, ["machineID", "datetime"], "left")
    grid = grid.fillna(0, subset=list(ERRORS))
    w = Window.partitionBy("machineID").orderBy("datetime").rowsBetween(-23, 0)
    rolled = grid.select(
        "machineID", "datetime", *[F.sum(e).over(w).alias(f"{e}_count_24h") for e in ERRORS]
    )
    return rolled.groupBy("machineID", _bucket().alias("dt")).agg(
        *[F.avg(f"{e}_count_24h").alias(f"{e}_count_24h") for e in ERRORS]
    )


def replacement_features(grid: DataFrame, maintenance: DataFrame, history_start: date) -> DataFrame:
    """Days since each component's last replacement: every bucket joined with all replacements of
    its machine at or before it (the notebooks' join), the latest kept per component."""
    m = maintenance.select("machineID", F.col("datetime").alias("m_dt"), "comp")
    joined = grid.join(m, (grid.machineID == m.machineID) & (m.m_dt <= grid.dt), "left").drop(
        m.machineID
    )
    last = joined.groupBy("machineID", "dt").pivot("comp", list(COMPONENTS)).agg(F.max("m_dt"))
    never = F.lit(datetime.combine(history_start, datetime.min.time()))
    return last.select(
        "machineID",
        "dt",
        *[
            (
                (F.unix_timestamp("dt") - F.unix_timestamp(F.coalesce(F.col(c), never))).cast(
                    "double"
                )
                / 86400.0
            ).alias(f"{c}_days_since")
            for c in COMPONENTS
        ],
    )


def labels(features: DataFrame, failures: DataFrame) -> DataFrame:
    """The component of a failure in this or the next 7 buckets (8 rows), else "none"."""
    fails = failures.groupBy("machineID", _bucket().alias("dt")).agg(
        F.min("failure").alias("failure")
    )
    rows = features.join(fails, ["machineID", "dt"], "left")
    w = Window.partitionBy("machineID").orderBy("dt").rowsBetween(0, LABEL_ROWS - 1)
    return rows.withColumn(
        "label", F.coalesce(F.first("failure", ignorenulls=True).over(w), F.lit("none"))
    ).drop("failure")


def feature_table(tables: dict[str, DataFrame], history_start: date) -> DataFrame:
    tel = telemetry_features(tables["telemetry"])
    err = error_features(tables["telemetry"], tables["errors"])
    grid = tel.join(err, ["machineID", "dt"], "left").fillna(0)
    rep = replacement_features(grid.select("machineID", "dt"), tables["maintenance"], history_start)
    machines = tables["machines"].select(
        "machineID", "age", *[(F.col("model") == m).cast("double").alias(m) for m in MODELS]
    )
    return grid.join(rep, ["machineID", "dt"]).join(machines, "machineID")


FEATURES_EXCLUDED = ("machineID", "dt", "label")


def train(rows: DataFrame, trees: int, depth: int, seed: int = 42):
    columns = [c for c in rows.columns if c not in FEATURES_EXCLUDED]
    pipeline = Pipeline(
        stages=[
            StringIndexer(inputCol="label", outputCol="label_index", handleInvalid="keep"),
            VectorAssembler(inputCols=columns, outputCol="features", handleInvalid="keep"),
            RandomForestClassifier(
                labelCol="label_index",
                featuresCol="features",
                numTrees=trees,
                maxDepth=depth,
                seed=seed,
            ),
        ]
    )
    return pipeline.fit(rows)


def run_reference(
    spark: SparkSession,
    machines: int,
    first: date,
    last: date,
    model_month: date,
    score_first: date,
    trees: int,
    depth: int,
    history_start: date = date(2014, 1, 1),
    stage: Callable[[str], object] | None = None,
) -> dict[str, float]:
    """Run every stage; ``stage(name)`` is a context manager that times it (optional)."""
    import contextlib

    timer = stage or (lambda name: contextlib.nullcontext())
    out: dict[str, float] = {}
    end = last + timedelta(days=1)
    with timer("ingest"):
        tables = load_tables(spark, machines, first, end, history_start)
    with timer("features+labels"):
        labelled = labels(feature_table(tables, history_start), tables["failures"]).cache()
        out["feature_rows"] = labelled.count()
    with timer("training"):
        cutoff = datetime.combine(model_month, datetime.min.time())
        look_ahead = F.expr(f"INTERVAL {LABEL_ROWS * 12} HOURS")
        train_rows = labelled.where(F.col("dt") + look_ahead < F.lit(cutoff))
        model = train(train_rows, trees, depth)
        out["training_rows"] = train_rows.count()
    with timer("scoring"):
        lo = datetime.combine(score_first, datetime.min.time())
        hi = datetime.combine(end, datetime.min.time())
        day_rows = labelled.where((F.col("dt") >= F.lit(lo)) & (F.col("dt") < F.lit(hi)))
        scored = model.transform(day_rows).select("machineID", "dt", "prediction", "probability")
        with tempfile.TemporaryDirectory(prefix="pdm-reference-") as tmp:
            scored.write.parquet(f"{tmp}/scores")
            out["scored_rows"] = spark.read.parquet(f"{tmp}/scores").count()
    labelled.unpersist()
    return out
