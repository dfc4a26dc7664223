"""The partitioned table store: exact replacement, atomic swaps, recovery after a crash."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest
from pyspark.sql import functions as F

from pdm_assets.resources.storage import PartitionedTableStore, TableStoreError

DAYS = ["2015-01-01", "2015-01-02", "2015-01-03"]


def _frame(spark, rows):
    return spark.createDataFrame(rows, "datetime timestamp, machineID int, volt double")


def _rows(df):
    return sorted(tuple(r) for r in df.collect())


@pytest.fixture
def store(spark, tmp_path):
    return PartitionedTableStore(spark, str(tmp_path / "tables"))


@pytest.fixture
def three_days(spark, store):
    df = _frame(
        spark,
        [
            (datetime(2015, 1, 1, 5), 1, 170.0),
            (datetime(2015, 1, 1, 6), 2, 171.0),
            (datetime(2015, 1, 2, 23), 1, 172.5),
        ],
    )
    store.write("raw_telemetry", df, DAYS)
    return df


def test_range_write_splits_by_day_and_reads_back_as_one_frame(store, three_days):
    assert store.stored_partitions("raw_telemetry") == DAYS
    assert _rows(store.read("raw_telemetry", DAYS)) == _rows(three_days)
    assert store.read("raw_telemetry", ["2015-01-02"]).count() == 1
    # A day without rows is stored empty, with the schema: different from "never written".
    empty = store.read("raw_telemetry", ["2015-01-03"])
    assert empty.count() == 0
    assert empty.columns == ["datetime", "machineID", "volt"]


def test_partition_folders_are_plain_parquet(store, three_days, tmp_path):
    import pyarrow.parquet as pq

    folder = tmp_path / "tables" / "raw_telemetry" / "dt=2015-01-01"
    table = pq.read_table(str(folder))
    assert sorted(table.column("volt").to_pylist()) == [170.0, 171.0]


def test_rewrite_replaces_a_partition_exactly(spark, store, three_days):
    store.write("raw_telemetry", _frame(spark, [(datetime(2015, 1, 1, 9), 3, 1.5)]), ["2015-01-01"])
    assert _rows(store.read("raw_telemetry", ["2015-01-01"])) == [(datetime(2015, 1, 1, 9), 3, 1.5)]
    # Neighbouring partitions are untouched.
    assert _rows(store.read("raw_telemetry", ["2015-01-02"])) == [
        (datetime(2015, 1, 2, 23), 1, 172.5)
    ]


def test_write_failing_midway_leaves_old_partition_identical(spark, store, three_days, tmp_path):
    before = _rows(store.read("raw_telemetry", DAYS))
    bad = _frame(spark, [(datetime(2015, 1, 1, h), 1, float(h)) for h in range(24)]).repartition(4)
    exploding = bad.withColumn(
        "volt", F.when(F.col("volt") > 20, F.raise_error(F.lit("disk on fire"))).otherwise("volt")
    )
    with pytest.raises(Exception, match="disk on fire"):
        store.write("raw_telemetry", exploding, DAYS)
    assert _rows(store.read("raw_telemetry", DAYS)) == before
    staging = tmp_path / "tables" / "raw_telemetry" / "_staging"
    assert not staging.exists() or os.listdir(staging) == []


def test_rows_outside_the_partitions_are_refused(spark, store, three_days):
    before = _rows(store.read("raw_telemetry", DAYS))
    stray = _frame(spark, [(datetime(2015, 1, 5, 1), 1, 1.0), (datetime(2015, 1, 1, 1), 1, 1.0)])
    with pytest.raises(TableStoreError, match="2015-01-05"):
        store.write("raw_telemetry", stray, ["2015-01-01", "2015-01-02"])
    assert _rows(store.read("raw_telemetry", DAYS)) == before


def test_missing_partition_is_named(store, three_days):
    with pytest.raises(TableStoreError, match="2015-01-09"):
        store.read("raw_telemetry", ["2015-01-01", "2015-01-09"])


def _interrupted_swap(spark, store, tmp_path, moved_entries: int):
    """Stage a new version of two days, then stop after ``moved_entries`` renames."""
    new = _frame(spark, [(datetime(2015, 1, 1, 1), 9, 9.0), (datetime(2015, 1, 2, 1), 9, 9.0)])
    base = tmp_path / "tables" / "raw_telemetry"
    write_id = "1-crashed"
    store._stage(new, f"{base}/_staging/{write_id}", ["2015-01-01", "2015-01-02"], "datetime")
    (base / "_swaps").mkdir(exist_ok=True)
    (base / "_swaps" / f"{write_id}.json").write_text(
        json.dumps({"entries": ["dt=2015-01-01", "dt=2015-01-02"]})
    )
    renames = [
        (base / "dt=2015-01-01", base / "_trash" / write_id / "dt=2015-01-01"),
        (base / "_staging" / write_id / "dt=2015-01-01", base / "dt=2015-01-01"),
        (base / "dt=2015-01-02", base / "_trash" / write_id / "dt=2015-01-02"),
    ]
    for src, dst in renames[:moved_entries]:
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
    return new


@pytest.mark.parametrize("moved_entries", [0, 1, 2, 3])
def test_interrupted_swap_is_completed_on_next_access(spark, tmp_path, three_days, moved_entries):
    crashed = PartitionedTableStore(spark, str(tmp_path / "tables"))
    new = _interrupted_swap(spark, crashed, tmp_path, moved_entries)
    if moved_entries in (1, 3):
        # The crash left a live partition missing: exactly what the next access must repair.
        missing = "2015-01-01" if moved_entries == 1 else "2015-01-02"
        assert not (tmp_path / "tables" / "raw_telemetry" / f"dt={missing}").exists()
    reader = PartitionedTableStore(spark, str(tmp_path / "tables"))
    got = _rows(reader.read("raw_telemetry", ["2015-01-01", "2015-01-02"]))
    assert got == _rows(new)
    base = tmp_path / "tables" / "raw_telemetry"
    assert os.listdir(base / "_swaps") == []
    assert not (base / "_trash" / "1-crashed").exists()


def test_crash_before_the_journal_keeps_the_old_version(spark, store, three_days, tmp_path):
    before = _rows(store.read("raw_telemetry", DAYS))
    base = tmp_path / "tables" / "raw_telemetry"
    new = _frame(spark, [(datetime(2015, 1, 1, 1), 9, 9.0)])
    store._stage(new, f"{base}/_staging/2-crashed", ["2015-01-01"], "datetime")
    assert (
        _rows(PartitionedTableStore(spark, str(tmp_path / "tables")).read("raw_telemetry", DAYS))
        == before
    )


def test_unpartitioned_table_round_trip(spark, store):
    df = _frame(spark, [(datetime(2015, 1, 1), 1, 1.0)])
    store.write("machines", df)
    store.write("machines", _frame(spark, [(datetime(2015, 1, 1), 2, 2.0)]))
    assert _rows(store.read("machines")) == [(datetime(2015, 1, 1), 2, 2.0)]


def test_reads_take_the_schema_spark_wrote_without_a_spark_job(spark, store):
    """Nested, non-nullable and annotated columns come back exactly as Spark's own inference
    reads them, and opening a range (more than 32 folders too) starts no job."""
    days = [f"2015-01-{d:02d}" for d in range(1, 32)] + [f"2015-02-{d:02d}" for d in range(1, 6)]
    df = (
        spark.range(3)
        .select(
            F.timestamp_seconds(F.lit(1420070400) + F.col("id") * 86400).alias("datetime"),
            F.col("id").cast("int").alias("machineID"),
            F.array(F.struct(F.lit("volt").alias("feature"), F.lit(1.5).alias("z"))).alias("why"),
            F.create_map(F.lit("comp1"), F.lit(0.2)).alias("risk"),
        )
        .withMetadata("machineID", {"comment": "fleet id"})
    )
    store.write("alerts", df, days)
    stored_paths = [store.partition_path("alerts", d) for d in days]
    inferred = spark.read.parquet(*stored_paths).schema
    assert any(not f.nullable for f in df.schema.fields)  # the written schema has non-nullables

    tracker = spark.sparkContext.statusTracker()
    spark.sparkContext.setJobGroup("store-read", "opening a stored range")
    try:
        read = store.read("alerts", days)
        assert tracker.getJobIdsForGroup("store-read") == []
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert read.schema == inferred
    assert read.schema["machineID"].metadata == {"comment": "fleet id"}
    assert sorted(r["machineID"] for r in read.collect()) == [0, 1, 2]
