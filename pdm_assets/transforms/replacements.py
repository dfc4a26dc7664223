"""Replacement history compacted into a daily state, so features never re-read all maintenance.

The state of day D holds, per machine and component, the last replacement up to the end of D.
State(D) follows from state(D-1) and the maintenance records of day D alone, so computing a new
day costs the same at day 30 and at day 3,000, and no record older than the partitions is lost:
the first day's state starts from the inventory's pre-partition history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pdm_assets.schemas import COMPONENTS
from pdm_assets.transforms.small_frames import small_frame


def inventory_replacements(machines: DataFrame) -> DataFrame:
    """The inventory's ``compN_last_replacement`` columns as (datetime, machineID, comp) records."""
    records = [
        machines.select(
            F.col(f"{comp}_last_replacement").alias("datetime"),
            "machineID",
            F.lit(comp).alias("comp"),
        )
        for comp in COMPONENTS
    ]
    union = records[0]
    for part in records[1:]:
        union = union.unionByName(part)
    return union.where(F.col("datetime").isNotNull())


def state_records(state: DataFrame) -> DataFrame:
    """A stored state as replacement records, to be merged with newer maintenance."""
    return state.select(F.col("last_replacement").alias("datetime"), "machineID", "comp")


def replacement_state(spark: SparkSession, records: DataFrame, days: Sequence[date]) -> DataFrame:
    """For each day D, each (machine, component)'s last replacement before D+1 00:00.

    ``records`` must hold every replacement that can be the last one by the end of the earliest
    day (typically the previous day's state plus the maintenance since), in the columns of
    ``raw_maintenance``. Rows: ``datetime`` (D 00:00, the partition), ``machineID``, ``comp``,
    ``last_replacement``.
    """
    day_starts = small_frame(
        spark,
        [(datetime.combine(d, time(), tzinfo=UTC),) for d in sorted(days)],
        "datetime timestamp",
    )
    past = records.select(F.col("datetime").alias("replaced_at"), "machineID", "comp").where(
        F.col("replaced_at").isNotNull()
    )
    day_end = day_starts["datetime"] + F.expr("INTERVAL 1 DAY")
    return (
        day_starts.join(past, past["replaced_at"] < day_end)
        .groupBy("datetime", "machineID", "comp")
        .agg(F.max("replaced_at").alias("last_replacement"))
    )
