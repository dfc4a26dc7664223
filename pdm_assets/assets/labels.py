"""Failure labels: which component fails within the horizon after each feature row."""

from datetime import date, timedelta
from typing import Any

import dagster as dg
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pdm_assets.assets.daily import (
    ROW_COUNT,
    add_partition_metadata,
    daily_table_asset,
    metadata_by_day,
    partition_days,
)
from pdm_assets.partitions import horizon_days, label_partitions
from pdm_assets.schemas import COMPONENTS
from pdm_assets.settings import load_settings
from pdm_assets.transforms.labels import label_upcoming_failures

GROUP = "features"


def missing_lookahead(days: list[date], loaded: list[str], horizon: int) -> list[str]:
    """Failure partitions a label day needs that were not loaded (Dagster trims silently)."""
    needed = {(d + timedelta(days=i)).isoformat() for d in days for i in range(horizon + 1)}
    return sorted(needed - set(loaded))


def label_metadata() -> dict[str, Column]:
    """Per-day label rates for the UI (a function: Spark columns need a running session)."""
    return {
        ROW_COUNT: F.count("*"),
        "label_rate": F.avg((F.col("label") != "none").cast("double")),
        **{f"label_rate_{c}": F.avg(F.col(f"fails_{c}").cast("double")) for c in COMPONENTS},
    }


def build_failure_labels(horizon_hours: int | None = None) -> dg.AssetsDefinition:
    horizon_hours = horizon_hours or load_settings().horizon_hours
    lookahead = horizon_days(horizon_hours)

    @daily_table_asset(
        name="failure_labels",
        partitions_def=label_partitions(horizon_hours),
        group_name=GROUP,
        ins={
            "machine_features": dg.AssetIn(),
            "raw_failures": dg.AssetIn(
                partition_mapping=dg.TimeWindowPartitionMapping(
                    start_offset=0, end_offset=lookahead
                )
            ),
        },
        metadata={"horizon_hours": horizon_hours},
        description=(
            f"For each feature row at T: whether each component fails in (T, T + "
            f"{horizon_hours} h], and one label ('none' or the component of the earliest such "
            "failure; simultaneous failures go to the lowest component number). Partition D reads "
            f"the failures of D .. D+{lookahead}, so its partitions end {lookahead} days before "
            "the raw ones."
        ),
    )
    def failure_labels(
        context: dg.AssetExecutionContext,
        pyspark_step_launcher: dg.ResourceParam[Any],
        machine_features: DataFrame,
        raw_failures: DataFrame,
    ) -> DataFrame:
        days = partition_days(context)
        loaded = list(context.asset_partition_keys_for_input("raw_failures"))
        missing = missing_lookahead(days, loaded, lookahead)
        if missing:
            raise dg.Failure(
                f"labels of {days[0]}..{days[-1]} need failures up to {missing[-1]} "
                f"({horizon_hours} h horizon), but raw_failures partitions {', '.join(missing)} "
                "do not exist yet: label a day only once its whole horizon has happened"
            )
        grid = machine_features.select("machineID", "datetime")
        # The grid is stored features: counting it reads parquet footers, not rows.
        labels = label_upcoming_failures(grid, raw_failures, horizon_hours, grid.count()).cache()
        per_day = metadata_by_day(labels, label_metadata())
        add_partition_metadata(context, per_day, empty={ROW_COUNT: 0})
        return labels

    return failure_labels
